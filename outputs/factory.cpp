#include "outputs/factory.h"

#include <fmt/format.h>
#include <stdexcept>

namespace trailwarden {

namespace {

struct Entry {
  const char* type;
  std::unique_ptr<Output> (*make)(const OutputSettings&, const OutputEnv&);
};

constexpr Entry kOutputs[] = {
    {"file", make_file_output},
    {"kafka", make_kafka_output},
    {"sns", make_sns_output},
    {"splunk_hec", make_splunk_hec_output},
    {"syslog", make_syslog_output},
};

}  // namespace

std::unique_ptr<Output> make_output(const OutputSettings& settings, const OutputEnv& env) {
  for (const auto& e : kOutputs)
    if (settings.type == e.type) return e.make(settings, env);
  throw std::runtime_error(fmt::format("{}: unknown output type '{}'", settings.origin, settings.type));
}

}  // namespace trailwarden
