// JsonWriter: appends compact JSON to a std::string. Callers are responsible for emitting a
// well-formed sequence (keys inside objects, commas are inserted automatically). Strings are
// escaped per RFC 8259; invalid UTF-8 is replaced by U+FFFD so output is always valid JSON.
// Not thread-safe; cheap to create.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trailwarden {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(int64_t n);
  JsonWriter& value(int n) { return value(static_cast<int64_t>(n)); }
  JsonWriter& value(uint64_t n);
  JsonWriter& value(double d);
  JsonWriter& value(bool b);
  JsonWriter& null();
  // Inserts already-serialized JSON as a value (the caller guarantees it is valid).
  JsonWriter& raw(std::string_view json);

  // Shorthand for key(k).value(v).
  template <typename T>
  JsonWriter& field(std::string_view k, T v) {
    key(k);
    return value(v);
  }

 private:
  void separator();
  template <typename Int>
  JsonWriter& integer(Int n);
  std::string& out_;
  bool need_comma_ = false;
};

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if it is invalid there
// (overlong forms, surrogates and code points past U+10FFFF are invalid). i < s.size().
size_t utf8_sequence_length(std::string_view s, size_t i);

// Appends `s` to `out` as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace trailwarden
