// Helpers shared by everything that reads TOML (configuration, rule files). Stateless.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <toml++/toml.h>

namespace trailwarden {

// "origin:line:column" of a node, key or parse error.
inline std::string toml_where(const std::string& origin, const toml::source_region& r) {
  return fmt::format("{}:{}:{}", origin, r.begin.line, r.begin.column);
}

// Parses a TOML document; a syntax error becomes std::runtime_error("origin:line:column: ...").
inline toml::table parse_toml(std::string_view content, const std::string& origin) {
  try {
    return toml::parse(content, origin);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", toml_where(origin, e.source()), e.description()));
  }
}

}  // namespace trailwarden
