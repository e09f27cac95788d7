// Process-wide logging set-up on top of spdlog. Logs go to stderr (journald-friendly: no
// timestamps of our own when stderr is the journal is a later concern). Call setup_logging()
// once at start-up, before any thread starts; the spdlog calls themselves are thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace trailwarden {

// level: trace|debug|info|warn|error|off. Returns false (and changes nothing) on a bad level.
bool setup_logging(std::string_view level);

}  // namespace trailwarden
