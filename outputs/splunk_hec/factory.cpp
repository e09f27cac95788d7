// Placeholder until the splunk_hec output lands: configuring it is a clear error, not a crash.
#include <fmt/format.h>

#include <stdexcept>

#include "outputs/factory.h"

namespace trailwarden {

std::unique_ptr<Output> make_splunk_hec_output(const OutputSettings& s, const OutputEnv&) {
  throw std::runtime_error(
      fmt::format("{}: output type 'splunk_hec' is not available in this build yet", s.origin));
}

}  // namespace trailwarden
