// find_event_time_text: the vectorised and the portable search give what a plain search of the
// record for the first `"eventTime":` gives, wherever the key falls (block edges, the last bytes),
// and never read outside the record.
#include "agent/decode/event_time_field.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/unit/decode/event_time_reference.h"

using trailwarden::find_event_time_text;
using trailwarden::test::plain_event_time_text;

namespace {


// Checks both searches on `text`, copied to a buffer of exactly its size (so that reading past
// its end is caught by the sanitizers), and that the result points into it.
void check(const std::string& text) {
  std::vector<char> exact(text.begin(), text.end());
  const std::string_view raw(exact.data(), exact.size());
  const std::string_view want = plain_event_time_text(raw);
  for (bool vectorised : {true, false}) {
    CAPTURE(vectorised);
    const std::string_view got = find_event_time_text(raw, vectorised);
    REQUIRE(got == want);
    if (!want.empty()) CHECK(got.data() == want.data());
  }
}

}  // namespace

TEST_CASE("event time field: the first eventTime key's string value") {
  CHECK(find_event_time_text(R"({"eventVersion":"1.08","eventTime":"2024-11-18T09:45:39Z"})") ==
        "2024-11-18T09:45:39Z");
  CHECK(find_event_time_text(R"({"eventTime": 	"2024-11-18T09:45:39Z"})") ==
        "2024-11-18T09:45:39Z");
  CHECK(find_event_time_text(R"({"eventTime":"a","x":{"eventTime":"b"}})") == "a");
  CHECK(find_event_time_text(R"({"x":{"eventTime":"b"},"eventTime":"a"})") == "b");
  // Not the key: other names, a space before the colon, an escaped quote in a string.
  CHECK(find_event_time_text(R"({"eventType":"AwsApiCall","eventName":"X"})").empty());
  CHECK(find_event_time_text(R"({"eventTime" :"2024-11-18T09:45:39Z"})").empty());
  CHECK(find_event_time_text(R"({"eventTimes":"2024-11-18T09:45:39Z"})").empty());
  CHECK(find_event_time_text(R"({"a":"\"eventTime\":\"x\""})").empty());
  // Not a string, too long, unterminated.
  CHECK(find_event_time_text(R"({"eventTime":1700000000})").empty());
  CHECK(find_event_time_text("{\"eventTime\":\"" + std::string(65, '1') + "\"}").empty());
  CHECK(find_event_time_text("{\"eventTime\":\"" + std::string(64, '1') + "\"}").size() == 64);
  CHECK(find_event_time_text(R"({"eventTime":"2024)").empty());
  CHECK(find_event_time_text(R"({"eventTime":)").empty());
  CHECK(find_event_time_text("").empty());
}

TEST_CASE("event time field: the key at every position of records of every length") {
  const std::string key = R"("eventTime":"2024-11-18T09:45:39Z")";
  for (size_t length = 0; length <= 140; ++length) {
    std::string filler(length, 'x');
    for (size_t i = 0; i < filler.size(); i += 7) filler[i] = '"';  // quotes everywhere
    check(filler);
    for (size_t at = 0; at <= length; ++at) {
      CAPTURE(length);
      CAPTURE(at);
      check(filler.substr(0, at) + key + filler.substr(at));
      // Cut anywhere inside the key or its value: at the record's end.
      check(filler.substr(0, at) + key.substr(0, (at + length) % key.size()));
    }
  }
}

TEST_CASE("event time field: random records with near misses agree with the plain search") {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {
      R"("eventTime":)", R"("eventTime":")", R"("eventTime": ")", R"("eventType":)",
      R"("eventTim":)",  R"(i":)",          "\"",                ":",
      "i",               " ",               "\t",                "2024-11-18T09:45:39Z",
      "x",               "\\\"",            R"("eventTime")",    "eventTime\":"};
  for (int n = 0; n < 20000; ++n) {
    std::string text;
    const size_t parts = rng() % 24;
    for (size_t p = 0; p < parts; ++p) text += pieces[rng() % pieces.size()];
    CAPTURE(text);
    check(text);
  }
}
