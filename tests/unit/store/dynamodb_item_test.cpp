// DynamoDB items: binary values (B, BS) go out as base64 and come back as the same raw bytes,
// malformed base64 is refused rather than misread, and item_size() bills as DynamoDB does.
#include "agent/store/dynamodb_item.h"

#include <doctest/doctest.h>

#include <string>

using namespace trailwarden;
using namespace trailwarden::store;

namespace {

std::string encoded(const Item& item) {
  std::string out;
  JsonWriter w(out);
  write_item(w, item);
  return out;
}

bool decode(const std::string& json, Item& out) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(json).get(e) != simdjson::SUCCESS) return false;
  return read_item(e, out);
}

}  // namespace

TEST_CASE("DynamoDB binary values: base64 on the wire, raw bytes in the item, both ways") {
  const std::string zeros("\0\0\xff\x10", 4);
  Item item = {{"d", AttributeValue::bin("ab")},
               {"u", AttributeValue::bs({zeros, "abc", "a"})}};
  const std::string json = encoded(item);
  CHECK(json == R"({"d":{"B":"YWI="},"u":{"BS":["AAD/EA==","YWJj","YQ=="]}})");
  Item back;
  REQUIRE(decode(json, back));
  CHECK(back == item);
  CHECK(back.at("u").set[0] == zeros);
}

TEST_CASE("DynamoDB binary values: malformed base64 is refused, the attribute skipped") {
  for (const char* bad : {R"({"d":{"B":"YWI"}})", R"({"d":{"B":"Y*I="}})",
                          R"({"d":{"BS":["YWI=","!!!!"]}})", R"({"d":{"BS":[1]}})"}) {
    CAPTURE(bad);
    Item back;
    REQUIRE(decode(bad, back));
    CHECK(back.count("d") == 0);
  }
  Item empty;
  REQUIRE(decode(R"({"d":{"B":""}})", empty));
  CHECK(empty.at("d") == AttributeValue::bin(""));
}

TEST_CASE("DynamoDB item size: names plus values, as DynamoDB bills a write") {
  CHECK(item_size({}) == 0);
  CHECK(item_size({{"pk", AttributeValue::s("abc")}}) == 5);
  CHECK(item_size({{"un", AttributeValue::bs({std::string(16, 'x'), std::string(16, 'y')})}}) ==
        2 + 32);
  CHECK(item_size({{"d", AttributeValue::bin(std::string(16, '\0'))}}) == 17);
  CHECK(item_size({{"ids", AttributeValue::ss({"e-1", "e-22"})}}) == 3 + 7);
  CHECK(item_size({{"b", AttributeValue::b(true)}}) == 2);
  // Numbers: 1 byte plus one per two significant digits, one more if negative.
  CHECK(item_size({{"n", AttributeValue::n(int64_t{0})}}) == 2);
  CHECK(item_size({{"n", AttributeValue::n(int64_t{7})}}) == 3);
  CHECK(item_size({{"n", AttributeValue::n(int64_t{1000})}}) == 3);    // one significant digit
  CHECK(item_size({{"n", AttributeValue::n(int64_t{1234})}}) == 4);
  CHECK(item_size({{"n", AttributeValue::n(int64_t{-12345})}}) == 6);
  CHECK(item_size({{"n", AttributeValue::n(0.0015)}}) == 3);
}
