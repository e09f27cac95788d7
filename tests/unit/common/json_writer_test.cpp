#include "agent/common/json_writer.h"

#include <doctest/doctest.h>

using namespace trailwarden;

TEST_CASE("JSON string escaping") {
  std::string out;
  append_json_string(out, std::string_view("a\"b\\c\n\t\x01\x7f", 9));
  CHECK(out == "\"a\\\"b\\\\c\\n\\t\\u0001\x7f\"");
  out.clear();
  append_json_string(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");  // valid UTF-8 kept
  CHECK(out == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  out.clear();
  append_json_string(out, "bad\xFF\xC3(");  // invalid UTF-8 replaced
  CHECK(out == "\"bad\xEF\xBF\xBD\xEF\xBF\xBD(\"");
  out.clear();
  append_json_string(out, "\xED\xA0\x80");  // UTF-16 surrogate encoded in UTF-8: invalid
  CHECK(out == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST_CASE("writer inserts commas") {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("a", 1).key("b").begin_array().value("x").value(true).null().end_array();
  w.field("c", 1.5).key("d").begin_object().end_object().end_object();
  CHECK(out == R"({"a":1,"b":["x",true,null],"c":1.5,"d":{}})");
}
