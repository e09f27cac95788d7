#include "agent/common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace trailwarden {

bool setup_logging(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") return false;
  static bool configured = false;
  if (!configured) {
    auto logger = spdlog::stderr_color_mt("trailwarden");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
    spdlog::set_default_logger(logger);
    configured = true;
  }
  spdlog::set_level(lvl);
  return true;
}

}  // namespace trailwarden
