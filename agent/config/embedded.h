// Files compiled into the binary: the default configuration and the built-in rule packs.
// The table is generated at build time by cmake/embed.cmake; the data is static and immutable,
// so every function here is thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace trailwarden::embedded {

struct File {
  std::string_view name;     // file name without directory, e.g. "trailwarden.toml"
  std::string_view content;  // the file's bytes
};

// All embedded files, in the order CMake listed them.
const std::vector<File>& files();

// The content of the named embedded file, or an empty view if there is none.
inline std::string_view find(std::string_view name) {
  for (const auto& f : files())
    if (f.name == name) return f.content;
  return {};
}

}  // namespace trailwarden::embedded
