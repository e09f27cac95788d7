// The documented CloudWatch Logs filter-pattern cases (tests/data/cwl-filter) as a test suite.
#include <doctest/doctest.h>
#include <simdjson.h>

#include "agent/rules/pattern.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::rules;

TEST_CASE("documented CloudWatch Logs filter-pattern cases") {
  simdjson::dom::parser parser;
  const std::string text = test::read_data("cwl-filter/conformance_cases.json");
  simdjson::dom::element root = parser.parse(text);
  int checked = 0;
  for (simdjson::dom::element c : root["cases"].get_array()) {
    const int64_t id = c["id"].get_int64();
    const std::string kind(c["kind"].get_string().value());
    const std::string pattern_text(c["pattern"].get_string().value());
    CAPTURE(id);
    CAPTURE(pattern_text);
    ParseError err;
    auto pattern = Pattern::parse(pattern_text, &err);
    REQUIRE_MESSAGE(pattern.has_value(), err.to_string());
    if (kind == "json") CHECK(pattern->kind() == Pattern::Kind::kJson);
    if (kind == "text") CHECK(pattern->kind() == Pattern::Kind::kText);
    if (kind == "space_delimited") CHECK(pattern->kind() == Pattern::Kind::kSpaceDelimited);
    if (c["expected_match"].is_null()) continue;  // undocumented result: parse only
    const bool expected = c["expected_match"].get_bool();
    bool got;
    if (kind == "json") {
      // Evaluate on the event as the agent sees it: JSON text, parsed by simdjson.
      std::string event_text = simdjson::to_string(c["event"]);
      simdjson::dom::parser event_parser;
      simdjson::dom::element event = event_parser.parse(event_text);
      got = pattern->matches(event_text, &event);
    } else {
      std::string event(c["event"].get_string().value());
      got = pattern->matches(event, nullptr);
    }
    CHECK(got == expected);
    ++checked;
  }
  CHECK(checked >= 54);  // every case with a documented result
}
