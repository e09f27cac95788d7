// The command-line interface: argument parsing and the sub-commands. main() only calls
// run_cli(). Each command returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace trailwarden::cli {

// Exit statuses shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInputFailed = 1;  // some input failed (replay); no match (test-pattern)
inline constexpr int kExitUsage = 2;        // bad arguments, configuration or pattern
inline constexpr int kExitOutputFailed = 3;  // replay: an output failed or was given up on
inline constexpr int kExitCannotCheck = 4;   // verify: a check could not be made (S3, CloudTrail)

int run_cli(const std::vector<std::string>& args);

}  // namespace trailwarden::cli
