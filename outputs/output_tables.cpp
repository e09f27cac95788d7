#include "outputs/output_tables.h"

#include <stdexcept>

#include "agent/config/toml_emitter.h"

namespace trailwarden {

std::vector<OutputSettings> parse_outputs(const Config& config) {
  std::vector<OutputSettings> out;
  out.reserve(config.outputs.size());
  try {
    for (const OutputTable& t : config.outputs) out.push_back(parse_output_settings(t));
  } catch (const std::runtime_error& e) {
    // As parse_config does: an unknown format or name may quote a secret that reached it
    // through ${VAR}.
    std::string message = e.what();
    scrub_secrets(message, config.secrets);
    throw std::runtime_error(message);
  }
  return out;
}

std::string render_effective_config(const Config& config) {
  return render_effective_config(config, [](const OutputTable& t, TomlEmitter& e) {
    render_output_settings(parse_output_settings(t), e);
  });
}

}  // namespace trailwarden
