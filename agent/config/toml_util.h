// Helpers shared by everything that reads TOML (configuration, rule files). Stateless.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
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

// Reads typed values out of a TOML table, rejecting unknown keys and wrong types with the
// position of the offending node.
class TomlReader {
 public:
  TomlReader(const std::string& origin, const toml::table& table, std::string section)
      : origin_(origin), table_(table), section_(std::move(section)) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const {
    const auto& r = n.source();
    throw std::runtime_error(
        fmt::format("{}:{}:{}: {}", origin_, r.begin.line, r.begin.column, msg));
  }

  const toml::node* get(std::string_view key) {
    known_.emplace_back(key);
    return table_.get(key);
  }

  void read(std::string_view key, std::string& out) {
    if (const toml::node* n = get(key)) {
      if (!n->is_string()) fail(*n, fmt::format("{}.{} must be a string", section_, key));
      out = *n->value<std::string>();
    }
  }
  void read(std::string_view key, bool& out) {
    if (const toml::node* n = get(key)) {
      if (!n->is_boolean()) fail(*n, fmt::format("{}.{} must be true or false", section_, key));
      out = *n->value<bool>();
    }
  }
  void read(std::string_view key, int64_t& out) {
    if (const toml::node* n = get(key)) {
      if (!n->is_integer()) fail(*n, fmt::format("{}.{} must be an integer", section_, key));
      out = *n->value<int64_t>();
    }
  }
  void read(std::string_view key, size_t& out, size_t min_value) {
    if (const toml::node* n = get(key)) {
      if (!n->is_integer()) fail(*n, fmt::format("{}.{} must be an integer", section_, key));
      int64_t v = *n->value<int64_t>();
      if (v < static_cast<int64_t>(min_value))
        fail(*n, fmt::format("{}.{} must be at least {}", section_, key, min_value));
      out = static_cast<size_t>(v);
    }
  }
  void read(std::string_view key, std::vector<std::string>& out) {
    if (const toml::node* n = get(key)) {
      const toml::array* arr = n->as_array();
      if (!arr) fail(*n, fmt::format("{}.{} must be an array of strings", section_, key));
      out.clear();
      for (const auto& el : *arr) {
        if (!el.is_string()) fail(el, fmt::format("{}.{} must contain only strings", section_, key));
        out.push_back(*el.value<std::string>());
      }
    }
  }
  // Marks a key as known without reading it (it is read elsewhere).
  void known(std::string_view key) { known_.emplace_back(key); }
  const toml::table& table() const { return table_; }
  const std::string& origin() const { return origin_; }

  // Call after reading every key: anything not asked for is unknown.
  void finish() const {
    for (const auto& [k, v] : table_) {
      bool ok = false;
      for (const auto& known : known_) ok = ok || known == k.str();
      if (!ok) {
        const auto& r = k.source();
        throw std::runtime_error(fmt::format("{}:{}:{}: unknown key '{}' in [{}]", origin_,
                                             r.begin.line, r.begin.column, k.str(), section_));
      }
    }
  }

 private:
  const std::string& origin_;
  const toml::table& table_;
  std::string section_;
  std::vector<std::string> known_;
};

}  // namespace trailwarden
