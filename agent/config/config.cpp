#include "agent/config/config.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "agent/config/embedded.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

// Reads typed values out of a TOML table, rejecting unknown keys and wrong types with the
// position of the offending node.
class Reader {
 public:
  Reader(const std::string& origin, const toml::table& table, std::string section)
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

const toml::table* section(const std::string& origin, const toml::table& doc, std::string_view name) {
  const toml::node* n = doc.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) {
    const auto& r = n->source();
    throw std::runtime_error(fmt::format("{}:{}:{}: [{}] must be a table", origin, r.begin.line,
                                         r.begin.column, name));
  }
  return n->as_table();
}

}  // namespace

Config parse_config(std::string_view content, const std::string& origin) {
  toml::table doc = parse_toml(content, origin);
  Config c;
  c.source = origin;
  Reader top(origin, doc, "top level");
  for (auto name : {"general", "limits", "rules", "alerts", "replay", "outputs"}) top.get(name);
  top.finish();

  if (const auto* t = section(origin, doc, "general")) {
    Reader r(origin, *t, "general");
    r.read("log_level", c.log_level);
    r.finish();
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    bool ok = false;
    for (auto l : kLevels) ok = ok || c.log_level == l;
    if (!ok) r.fail(*t->get("log_level"), fmt::format("unknown log level '{}'", c.log_level));
  }
  if (const auto* t = section(origin, doc, "limits")) {
    Reader r(origin, *t, "limits");
    r.read("max_compressed_bytes", c.limits.max_compressed_bytes, 1024);
    r.read("max_decompressed_bytes", c.limits.max_decompressed_bytes, 1024);
    r.read("max_records_per_file", c.limits.max_records_per_file, 1);
    r.read("max_depth", c.limits.max_depth, 4);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "rules")) {
    Reader r(origin, *t, "rules");
    r.read("packs", c.rules.packs);
    r.read("files", c.rules.files);
    r.read("enable", c.rules.enable);
    r.read("disable", c.rules.disable);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "alerts")) {
    Reader r(origin, *t, "alerts");
    r.read("include_raw_data", c.include_raw_data);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "replay")) {
    Reader r(origin, *t, "replay");
    r.read("workers", c.replay_workers, 0);
    r.finish();
  }
  if (const toml::node* n = doc.get("outputs")) {
    const toml::array* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      const auto& src = n->source();
      throw std::runtime_error(fmt::format("{}:{}:{}: 'outputs' must be written as [[outputs]] tables",
                                           origin, src.begin.line, src.begin.column));
    }
    for (const auto& el : *arr) {
      Reader r(origin, *el.as_table(), "outputs");
      OutputConfig o;
      r.read("name", o.name);
      r.read("type", o.type);
      r.read("path", o.path);
      r.finish();
      if (o.type != "file")
        r.fail(el, fmt::format("unknown output type '{}' (supported: file)", o.type));
      if (o.name.empty()) o.name = fmt::format("{}-{}", o.type, c.outputs.size());
      c.outputs.push_back(std::move(o));
    }
  }
  return c;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open configuration file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

Config default_config() {
  return parse_config(embedded::find("trailwarden.toml"), "builtin:trailwarden.toml");
}

}  // namespace trailwarden
