#include "agent/decode/surrogates.h"

#include <cstring>

namespace trailwarden {

namespace {

// The code unit of the escape "\uXXXX" at data[i] (data[i] == '\\'), or -1 if it is not one.
long escape_at(const char* data, size_t size, size_t i) {
  if (i + 6 > size || data[i] != '\\' || data[i + 1] != 'u') return -1;
  long v = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    const char c = data[k];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

bool is_high(long u) { return u >= 0xD800 && u <= 0xDBFF; }
bool is_low(long u) { return u >= 0xDC00 && u <= 0xDFFF; }

}  // namespace

size_t replace_lone_surrogate_escapes(char* data, size_t size) {
  size_t replaced = 0;
  for (size_t i = 0; i + 1 < size; ++i) {
    if (data[i] != '\\') continue;
    const long u = escape_at(data, size, i);
    if (u < 0) {
      ++i;  // some other escape (\\, \", \n ...): skip the escaped character
      continue;
    }
    if (is_high(u) && is_low(escape_at(data, size, i + 6))) {
      i += 11;  // a valid pair
    } else if (is_high(u) || is_low(u)) {
      std::memcpy(data + i + 2, "fffd", 4);
      ++replaced;
      i += 5;
    } else {
      i += 5;
    }
  }
  return replaced;
}

}  // namespace trailwarden
