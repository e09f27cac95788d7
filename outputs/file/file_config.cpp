#include "outputs/file/file_config.h"

#include <fmt/format.h>

#include <stdexcept>

#include "agent/config/toml_util.h"

namespace trailwarden {

FileOutputConfig parse_file_config(const OutputSettings& s) {
  TomlReader r(s.config_file, *s.table, "outputs");
  mark_common_output_keys(r);
  FileOutputConfig c;
  r.read("path", c.path);
  r.finish();
  if (s.format == AlertFormat::kCef)
    throw std::runtime_error(fmt::format("{}: format \"cef\" is for syslog outputs", s.origin));
  return c;
}

}  // namespace trailwarden
