#include "agent/decode/input.h"

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

using namespace trailwarden;

TEST_CASE("format detection by content, not name") {
  CHECK(detect_format("\x1f\x8b\x08") == InputFormat::kGzip);
  CHECK(detect_format("{\"Records\":[]}") == InputFormat::kJson);
  CHECK(detect_format("  \n[1]") == InputFormat::kJson);
  CHECK(detect_format("\xEF\xBB\xBF{}") == InputFormat::kJson);
  CHECK(detect_format("PK\x03\x04") == InputFormat::kUnknown);
  CHECK(detect_format("hello") == InputFormat::kUnknown);
  CHECK(detect_format("") == InputFormat::kUnknown);
}

TEST_CASE("decode_to_json: gzip, plain, BOM, limits, garbage") {
  DecodeLimits limits;
  Buffer json;
  std::string err;
  REQUIRE(decode_to_json(test::gzip("{\"Records\":[]}"), limits, json, err));
  CHECK(json.view() == "{\"Records\":[]}");
  REQUIRE(decode_to_json("\xEF\xBB\xBF {\"a\":1}", limits, json, err));
  CHECK(json.view() == "{\"a\":1}");
  CHECK_FALSE(decode_to_json("not json", limits, json, err));
  CHECK(err.find("not gzip or JSON") != std::string::npos);
  CHECK_FALSE(decode_to_json("", limits, json, err));
  CHECK(err == "empty input");
  CHECK_FALSE(decode_to_json(test::gzip("plain text inside gzip"), limits, json, err));
  CHECK(err.find("does not contain JSON") != std::string::npos);
  limits.max_decompressed_bytes = 10;
  CHECK_FALSE(decode_to_json("{\"Records\":[1,2,3,4]}", limits, json, err));
  CHECK(err.find("limit") != std::string::npos);
}

TEST_CASE("read_input enforces the compressed-size limit") {
  Buffer b;
  std::string err;
  const std::string path = test::data_path("cloudtrail/awsdocs_config.json");
  REQUIRE(read_input(path, 1 << 20, b, err));
  CHECK(b.view() == test::read_file(path));
  CHECK_FALSE(read_input(path, 100, b, err));
  CHECK(err.find("limit") != std::string::npos);
  CHECK_FALSE(read_input("/nonexistent/x.json", 100, b, err));
  CHECK(err.find("No such file") != std::string::npos);
}
