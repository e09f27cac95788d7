// Helpers shared by everything that reads TOML (configuration, rule files). Stateless.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
#include <toml++/toml.h>

#include "agent/config/duration.h"
#include "agent/config/interpolate.h"

namespace trailwarden {

// "origin:line:column" of a node, key or parse error.
inline std::string toml_where(const std::string& origin, const toml::source_region& r) {
  return fmt::format("{}:{}:{}", origin, r.begin.line, r.begin.column);
}

// The secret-looking key (is_secret_name) assigned in the table around line `line` (1-based) of
// `content`: the lines from the nearest table header above it down to it, so that an error
// inside a multi-line value is covered too. "" when there is none.
inline std::string secret_key_near(std::string_view content, size_t line) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= content.size() && lines.size() < line;) {
    const size_t nl = content.find('\n', start);
    lines.push_back(content.substr(start, nl == std::string_view::npos ? std::string_view::npos
                                                                        : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  auto key_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '"' || c == '\'';
  };
  for (size_t i = lines.size(); i-- > 0;) {
    std::string_view l = lines[i];
    for (size_t eq = l.find('='); eq != std::string_view::npos; eq = l.find('=', eq + 1)) {
      size_t end = eq;
      while (end > 0 && (l[end - 1] == ' ' || l[end - 1] == '\t')) --end;
      size_t begin = end;
      while (begin > 0 && key_char(l[begin - 1])) --begin;
      std::string key;
      for (char c : l.substr(begin, end - begin))
        if (c != '"' && c != '\'') key.push_back(c);
      if (!key.empty() && is_secret_name(key)) return key;
    }
    const size_t first = l.find_first_not_of(" \t");
    if (first != std::string_view::npos && l[first] == '[') break;  // the table's header
  }
  return {};
}

// A parser message without what it quotes ('x', "xyz"): for errors inside a secret's value.
inline std::string without_quotes(std::string_view message) {
  std::string out;
  for (size_t i = 0; i < message.size(); ++i) {
    const char q = message[i];
    const size_t close = (q == '\'' || q == '"') ? message.find(q, i + 1) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out.push_back(q);
      continue;
    }
    out += "[redacted]";
    i = close;
  }
  return out;
}

// Parses a TOML document; a syntax error becomes std::runtime_error("origin:line:column: ...").
// When the error lies in the value of a secret-looking key, the parser's message loses what it
// quotes (a character or a token of the value) and names the key instead.
inline toml::table parse_toml(std::string_view content, const std::string& origin) {
  try {
    return toml::parse(content, origin);
  } catch (const toml::parse_error& e) {
    std::string description(e.description());
    const std::string key = secret_key_near(content, e.source().begin.line);
    if (!key.empty())
      description = fmt::format("{} (in the value of '{}', not shown: it is a secret)",
                                without_quotes(description), key);
    throw std::runtime_error(fmt::format("{}: {}", toml_where(origin, e.source()), description));
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
  // A duration: "15m", "1h", "500ms" (agent/config/duration.h) or an integer of seconds.
  void read(std::string_view key, ConfigDuration& out) {
    if (const toml::node* n = get(key)) {
      const std::string how = fmt::format(
          "{}.{} must be a duration: a whole number and a unit (\"500ms\", \"30s\", \"15m\", "
          "\"1h\", \"1d\") or an integer of seconds",
          section_, key);
      if (n->is_integer()) {
        const int64_t v = *n->value<int64_t>();
        if (v < 0 || !parse_duration(std::to_string(v), out)) fail(*n, how);
      } else if (!n->is_string() || !parse_duration(*n->value<std::string>(), out)) {
        fail(*n, how);
      }
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
  const std::string& section() const { return section_; }

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
