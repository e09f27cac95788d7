// TomlEmitter: writes configuration values as TOML text, for the effective configuration
// (`check-config`). Values of secret-looking keys, and values holding one of the known secret
// values, are written as "<redacted>". Not thread-safe; one per rendering.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace trailwarden {

class TomlEmitter {
 public:
  // `secrets` must outlive the emitter (Config::secrets).
  explicit TomlEmitter(const std::vector<std::string>& secrets) : secrets_(secrets) {}

  // A blank line, then `header` ("[aws]", "[[outputs]]  # file:3:1").
  void section(std::string_view header);
  void str(std::string_view k, const std::string& v);
  void num(std::string_view k, uint64_t v);
  void boolean(std::string_view k, bool v);
  void list(std::string_view k, const std::vector<std::string>& v);
  // Any TOML value as written (strings, numbers, arrays, dates, inline tables).
  void node(std::string_view k, const toml::node& n);
  // The keys of `t` as written, but for those in `skip`: plain values first, then each
  // sub-table under the header "[<prefix>.<name>]" (an output's own keys and [outputs.properties]).
  void keys_as_written(const toml::table& t, std::string_view prefix,
                       const std::vector<std::string_view>& skip = {});
  // The text so far; the emitter is empty afterwards.
  std::string take() { return std::move(out_); }

 private:
  bool redacted(std::string_view k, const std::string& v) const;
  std::string scalar(std::string_view k, const toml::node& n) const;

  const std::vector<std::string>& secrets_;
  std::string out_;
};

// A key as TOML writes it: bare when it can be, quoted otherwise ("sasl.password").
std::string toml_key(std::string_view k);

}  // namespace trailwarden
