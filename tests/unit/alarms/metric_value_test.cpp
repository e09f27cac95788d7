// One record's datapoint: the value (literal or selector) and the dimension values.
#include <doctest/doctest.h>

#include <simdjson.h>

#include "agent/alarms/metric_value.h"
#include "tests/unit/alarms/alarm_test_util.h"

using namespace trailwarden::alarms;
using trailwarden::alarms::test::spec_from;

namespace {

const char* kAlarm =
    "[alarm]\nstatistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\nthreshold = 1\n"
    "comparison_operator = \"GreaterThanOrEqualToThreshold\"\n";

Datapoint datapoint(const std::string& metric, const std::string& json) {
  auto spec = spec_from("[metric]\n" + metric + "\n" + kAlarm);
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(json);
  return extract_datapoint(spec->metric, &e);
}

}  // namespace

TEST_CASE("semantics: a literal value counts every matching record") {
  auto d = datapoint("value = 1", R"({"eventName":"X"})");
  CHECK(d.outcome == DatapointOutcome::kEmitted);
  CHECK(d.value == 1);
  auto spec = spec_from(std::string("[metric]\nvalue = 2\n") + kAlarm);
  CHECK(extract_datapoint(spec->metric, nullptr).value == 2);  // a text event counts too
}

TEST_CASE("semantics: a value selector takes the number at the field") {
  CHECK(datapoint("value = \"$.n\"", R"({"n":42})").value == 42);
  CHECK(datapoint("value = \"$.n\"", R"({"n":-2.5})").value == -2.5);
  CHECK(datapoint("value = \"$.a.b[1]\"", R"({"a":{"b":[1,7]}})").value == 7);
  CHECK(datapoint("value = \"$.n\"", R"({"n":18446744073709551615})").value > 1e19);
  // A string holding a plain decimal is a number, as in filter-pattern comparisons.
  auto s = datapoint("value = \"$.n\"", R"({"n":"12.5"})");
  CHECK(s.outcome == DatapointOutcome::kEmitted);
  CHECK(s.value == 12.5);
}

TEST_CASE("semantics: a value selector that is not a number emits nothing") {
  for (const char* json : {R"({"n":"slow"})", R"({"n":"1e3"})", R"({"n":true})", R"({"n":null})",
                           R"({"n":{"x":1}})", R"({"n":[1]})"}) {
    CAPTURE(json);
    auto d = datapoint("value = \"$.n\"", json);
    CHECK(d.outcome == DatapointOutcome::kValueNotNumeric);
    CHECK(d.reason == "metric value $.n: not a number");
  }
  auto missing = datapoint("value = \"$.n\"", R"({"m":1})");
  CHECK(missing.outcome == DatapointOutcome::kValueMissing);
  CHECK(outcome_name(missing.outcome) == "value_missing");
  auto spec = spec_from(std::string("[metric]\nvalue = \"$.n\"\n") + kAlarm);
  CHECK(extract_datapoint(spec->metric, nullptr).outcome == DatapointOutcome::kValueMissing);
}

TEST_CASE("semantics: dimensions: values by field, a missing one drops the datapoint") {
  const std::string metric =
      "value = 1\ndimensions = { user = \"$.userIdentity.arn\", ok = \"$.responseElements.ok\", "
      "n = \"$.n\" }";
  auto d = datapoint(metric,
                     R"({"userIdentity":{"arn":"arn:aws:iam::1:user/alice"},"responseElements":{"ok":false},"n":3})");
  REQUIRE(d.outcome == DatapointOutcome::kEmitted);
  // In the order of the dimension names: n, ok, user.
  CHECK(d.dimensions == std::vector<std::string>{"3", "false", "arn:aws:iam::1:user/alice"});
  auto missing = datapoint(metric, R"({"userIdentity":{},"responseElements":{"ok":true},"n":3})");
  CHECK(missing.outcome == DatapointOutcome::kDimensionMissing);
  CHECK(missing.dimensions.empty());
  CHECK(missing.reason.find("dimension user ($.userIdentity.arn)") == 0);
  auto object = datapoint(metric, R"({"userIdentity":{"arn":{}},"responseElements":{"ok":true},"n":3})");
  CHECK(object.outcome == DatapointOutcome::kDimensionMissing);
  auto empty = datapoint(metric, R"({"userIdentity":{"arn":""},"responseElements":{"ok":true},"n":3})");
  CHECK(empty.outcome == DatapointOutcome::kDimensionInvalid);
  auto longv = datapoint(metric, R"({"userIdentity":{"arn":")" + std::string(1025, 'a') +
                                     R"("},"responseElements":{"ok":true},"n":3})");
  CHECK(longv.outcome == DatapointOutcome::kDimensionInvalid);
}

TEST_CASE("semantics: each distinct dimension set is its own alarm instance key") {
  CHECK(dimension_key({}) == "");
  CHECK(dimension_key({"a", "bc"}) == "1:a2:bc");
  CHECK(dimension_key({"a:", "b"}) != dimension_key({"a", ":b"}));
  CHECK(dimension_key({"ab", ""}) != dimension_key({"a", "b"}));
}

TEST_CASE("fast path: a metric that reads no field gives the same datapoint without the record") {
  // The alarm stage skips parsing the record when reads_record() is false: that must never
  // change the datapoint, whatever the record (or no record: a text event).
  for (const char* metric : {"value = 1", "value = 2.5\ndefault_value = 0", "value = 0"}) {
    CAPTURE(metric);
    auto spec = spec_from(std::string("[metric]\n") + metric + "\n" + kAlarm);
    CHECK_FALSE(reads_record(spec->metric));
    for (const char* json : {R"({"eventName":"X"})", R"({})", R"({"n":5,"userIdentity":{}})"}) {
      CAPTURE(json);
      simdjson::dom::parser parser;
      simdjson::dom::element e = parser.parse(std::string(json));
      const Datapoint with = extract_datapoint(spec->metric, &e);
      const Datapoint without = extract_datapoint(spec->metric, nullptr);
      CHECK(with.outcome == without.outcome);
      CHECK(with.value == without.value);
      CHECK(with.dimensions == without.dimensions);
      CHECK(with.reason == without.reason);
    }
  }
  // A value selector or any dimension reads the record: it must be parsed.
  for (const char* metric : {"value = \"$.n\"", "value = 1\ndimensions = { user = \"$.u\" }",
                             "value = \"$.n\"\ndimensions = { user = \"$.u\" }"}) {
    CAPTURE(metric);
    auto spec = spec_from(std::string("[metric]\n") + metric + "\n" + kAlarm);
    CHECK(reads_record(spec->metric));
  }
}
