// trailwarden: CloudTrail detections in the CloudWatch Logs filter-pattern language, as OCSF
// alerts. The command line lives in agent/cli/; this file only hands it the arguments.
#include <string>
#include <vector>

#include "agent/cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return trailwarden::cli::run_cli(args);
}
