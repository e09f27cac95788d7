// Reading fields of a parsed CloudTrail record (simdjson DOM) by a path of object keys. A
// missing step, or a value of another type, reads as absent. Header-only; thread-safe.
#pragma once

#include <simdjson.h>

#include <initializer_list>
#include <string_view>

namespace trailwarden::normalize {

// The element at `path` below `root`; false if a step is missing or not an object.
inline bool lookup(const simdjson::dom::element& root, std::initializer_list<std::string_view> path,
                   simdjson::dom::element& out) {
  simdjson::dom::element cur = root;
  for (auto key : path) {
    simdjson::dom::object obj;
    if (cur.get_object().get(obj) != simdjson::SUCCESS) return false;
    if (obj.at_key(key).get(cur) != simdjson::SUCCESS) return false;
  }
  out = cur;
  return true;
}

// The string at `path`, or empty if `root` is null, the path is missing or not a string.
inline std::string_view str(const simdjson::dom::element* root,
                            std::initializer_list<std::string_view> path) {
  if (!root) return {};
  simdjson::dom::element e;
  std::string_view s;
  if (!lookup(*root, path, e) || e.get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

}  // namespace trailwarden::normalize
