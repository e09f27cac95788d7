// The file output's [[outputs]] keys (docs/outputs.md, conf/trailwarden.toml), parsed and
// checked at start-up with file:line:column. Plain value; stateless parser.
//
//   path   the file alerts are appended to; "-" (default): stdout
#pragma once

#include <string>

#include "outputs/settings.h"

namespace trailwarden {

struct FileOutputConfig {
  std::string path = "-";
};

// Reads the file keys of settings.table (the common keys are marked known first); throws
// std::runtime_error("file:line:column: ...") on a bad or unknown key.
FileOutputConfig parse_file_config(const OutputSettings& settings);

}  // namespace trailwarden
