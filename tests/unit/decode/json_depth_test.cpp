#include "agent/decode/json_depth.h"

#include <doctest/doctest.h>

#include <string>

using namespace trailwarden;

namespace {

std::string nested(size_t depth) {  // a JSON value `depth` levels deep: [[...{}...]]
  return std::string(depth - 1, '[') + "{}" + std::string(depth - 1, ']');
}

}  // namespace

TEST_CASE("json_depth_within counts containers, not brackets inside strings") {
  CHECK(json_depth_within("{}", 1));
  CHECK_FALSE(json_depth_within("{}", 0));
  CHECK(json_depth_within(nested(64), 64));
  CHECK_FALSE(json_depth_within(nested(65), 64));
  const std::string tricky = R"({"a":"[[[[{{{{\"[[[[\\","b":[{"c":"]]]]"}]})";
  CHECK(json_depth_within(tricky, 3));
  CHECK_FALSE(json_depth_within(tricky, 2));
  // Many brackets side by side are not depth.
  std::string wide = "[";
  for (int i = 0; i < 500; ++i) wide += "{},";
  wide += "{}]";
  CHECK(json_depth_within(wide, 2));
  CHECK_FALSE(json_depth_within(wide, 1));
}

TEST_CASE("json_depth_within: the bracket count does not wrap, whatever the alignment") {
  // 300 '[' 16 (SSE2) or 32 (AVX2) bytes apart all fall in one byte lane of the vector count
  // (which would wrap at 256 if it were not summed up in time) — and at every other offset too.
  for (size_t spacing : {16, 32}) {
    for (size_t shift = 0; shift < spacing; ++shift) {
      std::string v(shift, ' ');
      for (int i = 0; i < 300; ++i) v += "[" + std::string(spacing - 1, ' ');
      v += "{}";
      for (int i = 0; i < 300; ++i) v += "]";
      CAPTURE(spacing);
      CAPTURE(shift);
      CHECK(json_depth_within(v, 301));
      CHECK_FALSE(json_depth_within(v, 300));
      CHECK_FALSE(json_depth_within(v, 100));
    }
  }
  // Every length and offset around the vector widths: the count settles it exactly when all
  // brackets are nested (n '{' then n '}').
  for (size_t n = 0; n < 80; ++n) {
    for (size_t shift = 0; shift < 33; ++shift) {
      const std::string v = std::string(shift, ' ') + std::string(n, '{') + std::string(n, '}');
      CAPTURE(n);
      CAPTURE(shift);
      CHECK(json_depth_within(v, n));
      if (n > 0) CHECK_FALSE(json_depth_within(v, n - 1));
    }
  }
}
