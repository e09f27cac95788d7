// The syslog output's constructor for the factory table (outputs/factory.cpp).
#include <fmt/format.h>

#include <stdexcept>

#include "outputs/factory.h"
#include "outputs/syslog/syslog_config.h"
#include "outputs/syslog/syslog_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_syslog_output(const OutputSettings& s, const OutputEnv& env) {
  SyslogOptions options = parse_syslog_options(s);
  std::unique_ptr<SyslogTransport> transport;
  try {
    transport = make_syslog_transport(options.transport);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: output '{}': {}", s.origin, s.name, e.what()));
  }
  if (env.validate_only) return nullptr;
  return std::make_unique<SyslogOutput>(s.name, std::move(options), std::move(transport));
}

}  // namespace trailwarden
