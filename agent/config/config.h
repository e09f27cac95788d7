// Config: the agent's configuration, loaded from TOML (conf/trailwarden.toml documents every
// key). Loading happens once at start-up and reports errors by throwing std::runtime_error with
// "file:line:column: message"; the resulting value is immutable and shared read-only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/decode/limits.h"

namespace trailwarden {

struct OutputConfig {
  std::string name;         // for messages and metrics
  std::string type;         // "file"
  std::string path = "-";   // file: path or "-" for stdout
};

struct Config {
  std::string source = "builtin:trailwarden.toml";  // where it was loaded from
  std::string log_level = "info";
  DecodeLimits limits;
  struct Rules {
    std::vector<std::string> packs = {"cis-aws-foundations"};  // built-in packs to load
    std::vector<std::string> files;    // extra rule files (globs allowed)
    std::vector<std::string> enable = {"cis-4.9"};  // selectors
    std::vector<std::string> disable;  // selectors
  } rules;
  bool include_raw_data = true;
  size_t replay_workers = 0;  // 0: one per CPU core
  std::vector<OutputConfig> outputs;
};

// Parses a configuration document; `origin` names it in messages.
Config parse_config(std::string_view content, const std::string& origin);
// Reads and parses a configuration file.
Config load_config_file(const std::string& path);
// The built-in default configuration (conf/trailwarden.toml compiled into the binary).
Config default_config();

}  // namespace trailwarden
