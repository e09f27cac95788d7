#include "agent/decode/surrogates.h"

#include <doctest/doctest.h>

#include <string>

using namespace trailwarden;

namespace {

std::string fixed(std::string s, size_t expected_count) {
  CHECK(replace_lone_surrogate_escapes(s.data(), s.size()) == expected_count);
  return s;
}

}  // namespace

TEST_CASE("lone surrogate escapes become \\ufffd; pairs and other escapes stay") {
  CHECK(fixed(R"("\ud800")", 1) == R"("\ufffd")");
  CHECK(fixed(R"("\uDC00x")", 1) == R"("\ufffdx")");
  CHECK(fixed(R"("\ud83d\ude00")", 0) == R"("\ud83d\ude00")");  // a valid pair
  CHECK(fixed(R"("\ud83d\ud83d\ude00")", 1) == R"("\ufffd\ud83d\ude00")");
  CHECK(fixed(R"("\ude00\ud83d")", 2) == R"("\ufffd\ufffd")");
  CHECK(fixed(R"("\\ud800")", 0) == R"("\\ud800")");  // an escaped backslash, then text
  CHECK(fixed(R"("\"\u0041\n")", 0) == R"("\"\u0041\n")");
  CHECK(fixed(R"("\ud80")", 0) == R"("\ud80")");  // too short: the parser reports it
  CHECK(fixed(R"(\ud800)", 1) == R"(\ufffd)");    // at the very end
  CHECK(fixed("", 0).empty());
  CHECK(fixed("\\", 0) == "\\");
}
