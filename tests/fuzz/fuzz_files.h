// Files for the fuzz targets that read the agent's own files back (alarm_journal_fuzz,
// integrity_journal_fuzz): a scratch directory under /dev/shm (tmpfs: the fdatasync calls cost
// nothing), made once per process, and whole-file reads and writes. Any failure aborts: a fuzz
// run that cannot set up its files must stop, not pass.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace trailwarden::fuzz {

// "/dev/shm/<prefix>-XXXXXX", created at the first call; the same path afterwards.
inline const std::string& scratch_dir(const char* prefix) {
  static const std::string d = [prefix] {
    std::string tmpl = std::string("/dev/shm/") + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return d;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace trailwarden::fuzz
