// Placeholder until the syslog output lands: configuring it is a clear error, not a crash.
#include <fmt/format.h>

#include <stdexcept>

#include "outputs/factory.h"

namespace trailwarden {

std::unique_ptr<Output> make_syslog_output(const OutputSettings& s, const OutputEnv&) {
  throw std::runtime_error(
      fmt::format("{}: output type 'syslog' is not available in this build yet", s.origin));
}

}  // namespace trailwarden
