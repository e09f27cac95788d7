// OutputTable: one [[outputs]] table of the configuration, kept as written. config/ knows no
// output's keys (not even the common ones): each output parses its own table (outputs/settings.h
// for the keys every output has, outputs/<type>/ for the rest). Plain value.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <toml++/toml.h>

namespace trailwarden {

struct OutputTable {
  size_t index = 0;         // among the [[outputs]] tables, from 0 (default names: "<type>-<n>")
  std::string config_file;  // the configuration file, for messages
  std::string origin;       // "file:line:column" of the table
  // The table, sharing its parsed document: a toml++ copy keeps the positions of keys but not
  // of values, and errors found later (by an output's parser) must point at the value.
  std::shared_ptr<const toml::table> table;
};

}  // namespace trailwarden
