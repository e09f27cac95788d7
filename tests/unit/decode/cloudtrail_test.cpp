#include "agent/decode/cloudtrail.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace trailwarden;

namespace {

struct Collect : RecordVisitor {
  std::vector<std::string> records;
  void on_record(std::string_view raw) override { records.emplace_back(raw); }
};

struct Outcome {
  bool ok;
  ParseStats stats;
  std::string error;
  std::vector<std::string> records;
};

Outcome read(const std::string& text, DecodeLimits limits = {}) {
  CloudTrailReader reader(limits);
  Buffer b;
  b.assign(text);
  Collect c;
  Outcome o;
  o.ok = reader.read(b, c, o.stats, o.error);
  o.records = c.records;
  return o;
}

}  // namespace

TEST_CASE("records are handed out as raw JSON, in order") {
  auto o = read(R"({"Records":[{"eventName":"A"}, {"eventName":"B","x":[1,{"y":2}]}]})");
  REQUIRE(o.ok);
  CHECK(o.stats.kind == FileKind::kRecords);
  CHECK(o.stats.records == 2);
  REQUIRE(o.records.size() == 2);
  CHECK(o.records[0] == R"({"eventName":"A"})");
  CHECK(o.records[1] == R"({"eventName":"B","x":[1,{"y":2}]})");
}

TEST_CASE("empty, digest and other JSON files") {
  auto o = read(R"({"Records":[]})");
  CHECK(o.ok);
  CHECK(o.stats.kind == FileKind::kRecords);
  CHECK(o.stats.records == 0);
  o = read(R"({"awsAccountId":"111122223333","digestStartTime":"2024-01-01T00:00:00Z","digestEndTime":"2024-01-01T01:00:00Z","logFiles":[{"s3Object":"x"}]})");
  CHECK(o.ok);
  CHECK(o.stats.kind == FileKind::kDigest);
  o = read(R"({"something":"else"})");
  CHECK(o.ok);
  CHECK(o.stats.kind == FileKind::kOther);
  o = read(R"([1,2,3])");
  CHECK(o.ok);
  CHECK(o.stats.kind == FileKind::kOther);
  // keys after Records are fine
  o = read(R"({"Records":[{"a":1}],"extra":{"k":[1,2]}})");
  CHECK(o.ok);
  CHECK(o.stats.records == 1);
}

TEST_CASE("non-object records are counted and skipped") {
  auto o = read(R"({"Records":[{"a":1}, 5, "x", null, [1,[2]], {"b":2}]})");
  REQUIRE(o.ok);
  CHECK(o.stats.records == 2);
  CHECK(o.stats.skipped_non_objects == 4);
  CHECK(o.records[1] == R"({"b":2})");
}

TEST_CASE("malformed JSON is an error that says what is wrong") {
  for (const std::string& bad : {
           std::string(R"({"Records":[{"a":1}, {"b":)"),  // truncated
           std::string(R"({"Records":[{"a":"unclosed)"),
           std::string(R"({"Records":[{"a":1}]} trailing)"),
           std::string(R"({"Records":[{"a":1},]})"),
           std::string(R"({"Records": 5})"),
           std::string("{\"Records\":[{\"a\":\"\xff\xfe\"}]}"),
       }) {
    CAPTURE(bad);
    auto o = read(bad);
    CHECK_FALSE(o.ok);
    CHECK_FALSE(o.error.empty());
  }
  auto o = read(R"({"Records": 5})");
  CHECK(o.error.find("not an array") != std::string::npos);
}

TEST_CASE("limits: records per file; deep nesting is walked without recursion") {
  // Depth is enforced where records are parsed for evaluation (see matcher tests); walking
  // over a deep record is iterative and safe.
  std::string deep = R"({"Records":[{"a":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  deep += "}]}";
  auto o = read(deep);
  CHECK(o.ok);
  CHECK(o.stats.records == 1);
  DecodeLimits limits;
  limits.max_records_per_file = 2;
  o = read(R"({"Records":[{},{},{}]})", limits);
  CHECK_FALSE(o.ok);
  CHECK(o.records.size() == 2);
  CHECK(o.error.find("max_records_per_file") != std::string::npos);
}

TEST_CASE("arbitrary bytes never crash the reader") {
  const std::string base = R"({"Records":[{"eventName":"A","n":[1,2,{"x":"y\"z"}]},{"b":null}],"k":true})";
  uint32_t seed = 99;
  for (int round = 0; round < 2000; ++round) {
    std::string m = base;
    for (int k = 0; k < 1 + round % 4; ++k) {
      seed = seed * 1103515245 + 12345;
      m[seed % m.size()] = static_cast<char>(seed >> 16);
    }
    (void)read(m);
    (void)read(m.substr(0, seed % m.size()));
  }
}
