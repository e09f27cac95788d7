#include "agent/config/toml_emitter.h"

#include <fmt/format.h>

#include <sstream>

#include "agent/config/interpolate.h"

namespace trailwarden {

namespace {

constexpr const char* kRedacted = "<redacted>";

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", c);
        else out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

}  // namespace

std::string toml_key(std::string_view k) {
  bool bare = !k.empty();
  for (char c : k)
    bare = bare && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-');
  return bare ? std::string(k) : quote(k);
}

void TomlEmitter::section(std::string_view header) { out_ += fmt::format("\n{}\n", header); }

void TomlEmitter::str(std::string_view k, const std::string& v) {
  out_ += fmt::format("{} = {}\n", toml_key(k), redacted(k, v) ? quote(kRedacted) : quote(v));
}

void TomlEmitter::num(std::string_view k, uint64_t v) {
  out_ += fmt::format("{} = {}\n", toml_key(k), v);
}

void TomlEmitter::boolean(std::string_view k, bool v) {
  out_ += fmt::format("{} = {}\n", toml_key(k), v);
}

void TomlEmitter::list(std::string_view k, const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back(redacted(k, s) ? quote(kRedacted) : quote(s));
  out_ += fmt::format("{} = [{}]\n", toml_key(k), fmt::join(q, ", "));
}

void TomlEmitter::node(std::string_view k, const toml::node& n) {
  if (const auto* s = n.as_string()) return str(k, s->get());
  if (const auto* a = n.as_array()) {
    std::vector<std::string> items;
    for (const auto& el : *a) items.push_back(scalar(k, el));
    out_ += fmt::format("{} = [{}]\n", toml_key(k), fmt::join(items, ", "));
    return;
  }
  out_ += fmt::format("{} = {}\n", toml_key(k), scalar(k, n));
}

void TomlEmitter::keys_as_written(const toml::table& t, std::string_view prefix,
                                  const std::vector<std::string_view>& skip) {
  std::vector<std::pair<std::string, const toml::table*>> subtables;
  for (auto&& [k, v] : t) {
    bool skipped = false;
    for (std::string_view s : skip) skipped = skipped || k.str() == s;
    if (skipped) continue;
    if (const auto* sub = v.as_table()) subtables.emplace_back(std::string(k.str()), sub);
    else node(k.str(), v);
  }
  for (const auto& [name, sub] : subtables) {
    section(fmt::format("[{}.{}]", prefix, toml_key(name)));
    for (auto&& [k, v] : *sub) node(k.str(), v);
  }
}

bool TomlEmitter::redacted(std::string_view k, const std::string& v) const {
  if (v.empty()) return false;
  if (is_secret_name(k) && !v.starts_with("@file:")) return true;
  for (const auto& s : secrets_)
    if (!s.empty() && v.find(s) != std::string::npos) return true;
  return false;
}

std::string TomlEmitter::scalar(std::string_view k, const toml::node& n) const {
  if (const auto* s = n.as_string())
    return redacted(k, s->get()) ? quote(kRedacted) : quote(s->get());
  if (const auto* i = n.as_integer()) return fmt::format("{}", i->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* f = n.as_floating_point()) return fmt::format("{}", f->get());
  std::ostringstream os;  // dates and times, inline tables: as toml++ prints them
  os << toml::toml_formatter(n);
  return os.str();
}

}  // namespace trailwarden
