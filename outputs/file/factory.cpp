#include <fmt/format.h>

#include "agent/config/toml_util.h"
#include "outputs/factory.h"
#include "outputs/file/file_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_file_output(const OutputSettings& s, const OutputEnv& env) {
  TomlReader r(s.config_file, *s.table, "outputs");
  mark_common_output_keys(r);
  std::string path = "-";
  r.read("path", path);
  r.finish();
  if (s.format == AlertFormat::kCef)
    throw std::runtime_error(fmt::format("{}: format \"cef\" is for syslog outputs", s.origin));
  if (env.validate_only) return nullptr;
  return std::make_unique<FileOutput>(s.name, path, s.format);
}

}  // namespace trailwarden
