#include "agent/config/secret_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "agent/config/interpolate.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A key whose value is the path of a file holding a secret.
bool is_secret_path_key(std::string_view key) {
  if (key == "token_file" || key == "key_file" || ends_with(key, "key.location")) return true;
  return ends_with(key, "_file") && is_secret_name(key.substr(0, key.size() - 5));
}

// True when the value is written out, not an indirection the agent resolves ("${NAME}" for the
// whole value, "@file:PATH").
bool is_inline(std::string_view value) {
  if (value.empty() || value.starts_with("@file:")) return false;
  const bool whole_reference = value.starts_with("${") && value.ends_with("}") &&
                               value.find('}') == value.size() - 1;
  return !whole_reference;
}

struct Walker {
  std::string origin;
  std::filesystem::path dir;
  std::vector<SecretFile> out;

  void add(std::string path, std::string why) {
    if (path.empty()) return;
    for (const auto& f : out)
      if (f.path == path) return;
    out.push_back({std::move(path), std::move(why)});
  }

  void walk(const toml::node& node, const std::string& where, std::string_view key) {
    if (const auto* t = node.as_table()) {
      for (auto&& [k, v] : *t)
        walk(v, where.empty() ? std::string(k.str()) : where + "." + std::string(k.str()), k.str());
    } else if (const auto* a = node.as_array()) {
      for (size_t i = 0; i < a->size(); ++i)
        walk(*a->get(i), fmt::format("{}[{}]", where, i), key);
    } else if (const auto* s = node.as_string()) {
      const std::string& value = s->get();
      if (is_secret_path_key(key)) {
        add(value, where);
      } else if (is_secret_name(key)) {
        if (value.starts_with("@file:")) {
          std::filesystem::path p = value.substr(6);
          if (p.is_relative() && !dir.empty()) p = dir / p;
          add(p.string(), where);
        } else if (is_inline(value)) {
          add(origin, "inline secret at " + where);
        }
      }
    }
  }
};

}  // namespace

std::vector<SecretFile> files_holding_secrets(std::string_view content, const std::string& origin) {
  const toml::table doc = parse_toml(content, origin);
  Walker w;
  w.origin = origin;
  w.dir = std::filesystem::path(origin).parent_path();
  for (auto&& [k, v] : doc) {
    if (const auto* outputs = k.str() == "outputs" ? v.as_array() : nullptr) {
      for (size_t i = 0; i < outputs->size(); ++i)
        w.walk(*outputs->get(i), fmt::format("outputs[{}]", i), "");
    } else {
      w.walk(v, std::string(k.str()), k.str());
    }
  }
  return w.out;
}

std::string secret_file_warning(const SecretFile& file, unsigned mode, bool group_is_ours,
                                const std::string& group_name) {
  const bool others = mode & 0004u;
  const bool group = (mode & 0040u) && !group_is_ours;
  if (!others && !group) return {};
  return fmt::format(
      "{} holds a secret ({}) and is readable by {} (mode {:04o}): chmod {} {}", file.path,
      file.why,
      others ? "every user" : fmt::format("group {}", group_name), mode & 07777u,
      others ? "o-rwx" : "g-rwx", file.path);
}

}  // namespace trailwarden
