#include "agent/decode/cloudtrail.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace trailwarden;

namespace {

struct Collect : RecordVisitor {
  std::vector<std::string> records;
  void on_record(std::string_view raw) override { records.emplace_back(raw); }
  void on_bad_record(size_t index, std::string_view raw, const std::string& reason) override {
    bad.push_back({index, std::string(raw), reason});
  }
  struct Bad {
    size_t index;
    std::string raw, reason;
  };
  std::vector<Bad> bad;
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
           // (Invalid UTF-8 inside a record's string is a bad record, not a bad file: below.)
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
  // Walking over a deep record is iterative and safe; the record is then a bad record (depth
  // is checked on every record, see below).
  std::string deep = R"({"Records":[{"a":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  deep += "}]}";
  auto o = read(deep);
  CHECK(o.ok);
  CHECK(o.stats.records == 0);
  CHECK(o.stats.bad_records == 1);
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

namespace {

std::string nested(size_t depth) {  // a JSON value `depth` levels deep: [[...{}...]]
  return std::string(depth - 1, '[') + "{}" + std::string(depth - 1, ']');
}

}  // namespace

TEST_CASE("per-record limits apply to every record, whatever its content") {
  DecodeLimits limits;
  limits.max_depth = 8;
  // The record is level 1, "x" opens level 2: nested(7) makes the record 8 deep (allowed),
  // nested(8) makes it 9. No \u escape anywhere: the limit must not depend on the content.
  const std::string ok = R"({"eventName":"A","x":)" + nested(7) + "}";
  const std::string deep = R"({"eventName":"B","x":)" + nested(8) + "}";
  auto o = read(R"({"Records":[{"a":1},)" + deep + "," + ok + R"(,{"b":2}]})", limits);
  REQUIRE(o.ok);
  CHECK(o.stats.records == 3);
  CHECK(o.stats.bad_records == 1);
  CHECK(o.stats.elements == 4);
  REQUIRE(o.records.size() == 3);
  CHECK(o.records[1] == ok);
  CHECK(o.records[2] == R"({"b":2})");
  // (The visitor's `bad` list is checked through a fresh reader below.)
  CloudTrailReader reader(limits);
  Buffer b;
  b.assign(R"({"Records":[1,)" + deep + "]}");
  Collect c;
  ParseStats stats;
  std::string error;
  REQUIRE(reader.read(b, c, stats, error));
  REQUIRE(c.bad.size() == 1);
  CHECK(c.bad[0].index == 1);  // the element's position in Records (the 1 before it counts)
  CHECK(c.bad[0].raw == deep);
  CHECK(c.bad[0].reason.find("limits.max_depth (8)") != std::string::npos);
  CHECK(c.records.empty());
}

TEST_CASE("a record over max_record_bytes is a bad record; the others are read") {
  DecodeLimits limits;
  limits.max_record_bytes = 100;
  const std::string big = R"({"eventName":")" + std::string(200, 'x') + R"("})";
  CloudTrailReader reader(limits);
  Buffer b;
  b.assign(R"({"Records":[{"a":1},)" + big + R"(,{"b":2}]})");
  Collect c;
  ParseStats stats;
  std::string error;
  REQUIRE(reader.read(b, c, stats, error));
  CHECK(c.records == std::vector<std::string>{R"({"a":1})", R"({"b":2})"});
  REQUIRE(c.bad.size() == 1);
  CHECK(c.bad[0].index == 1);
  CHECK(c.bad[0].reason.find("max_record_bytes") != std::string::npos);
}

TEST_CASE("invalid UTF-8 makes its record bad, not the file") {
  CloudTrailReader reader(DecodeLimits{});
  Buffer b;
  // \xC3\x28 (bad continuation), \xED\xA0\x80 (a UTF-8-encoded surrogate), a lone \xFF.
  b.assign("{\"Records\":[{\"a\":1},{\"userAgent\":\"x\xC3\x28y\"},{\"b\":\"\xED\xA0\x80\"},"
           "{\"c\":\"ok \xC3\xA9\"},{\"d\":\"\xFF\"}]}");
  Collect c;
  ParseStats stats;
  std::string error;
  REQUIRE_MESSAGE(reader.read(b, c, stats, error), error);
  CHECK(c.records == std::vector<std::string>{R"({"a":1})", "{\"c\":\"ok \xC3\xA9\"}"});
  REQUIRE(c.bad.size() == 3);
  CHECK(c.bad[0].index == 1);
  CHECK(c.bad[0].reason == "invalid UTF-8 at byte 15 of the record");
  CHECK(c.bad[1].index == 2);
  CHECK(c.bad[2].index == 4);
  // Invalid bytes outside any string leave the file malformed: a bad file, as before.
  b.assign("{\"Records\":[{\"a\":1}\xFF]}");
  Collect d;
  CHECK_FALSE(reader.read(b, d, stats, error));
  CHECK(d.records == std::vector<std::string>{R"({"a":1})"});
}

TEST_CASE("an unescaped control character in a string makes its record bad, not the file") {
  CloudTrailReader reader(DecodeLimits{});
  Buffer b;
  // A raw NUL, a raw newline and (after an escaped quote) a raw tab inside strings; the
  // newlines between records are whitespace and fine.
  b.assign(std::string("{\"Records\":[\n{\"a\":1},\n{\"ua\":\"x\0y\"},\n{\"b\":\"line\nbreak\"},\n"
                       "{\"c\":\"q\\\"\t\"},\n{\"d\":\"ok\"}]}",
                       82));
  Collect c;
  ParseStats stats;
  std::string error;
  REQUIRE_MESSAGE(reader.read(b, c, stats, error), error);
  CHECK(c.records == std::vector<std::string>{R"({"a":1})", R"({"d":"ok"})"});
  REQUIRE(c.bad.size() == 3);
  CHECK(c.bad[0].index == 1);
  CHECK(c.bad[0].reason == "an unescaped control character in a string at byte 8 of the record");
  CHECK(c.bad[1].index == 2);
  CHECK(c.bad[2].index == 3);
}
