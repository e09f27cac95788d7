// ObjectProcessor: one bad record never costs the good ones, the per-record limits apply to
// every record, and memory sized for a large object is given back afterwards.
#include "agent/engine/processor.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "agent/rules/rule.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {

std::string nested(size_t depth) {  // a JSON value `depth` levels deep
  return std::string(depth - 1, '[') + "{}" + std::string(depth - 1, ']');
}

// The AWS documentation's Config sample (10 records, 4 of them cis-4.9 matches) with `extra`
// records inserted before its first record.
std::string config_file_with(const std::string& extra) {
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  const size_t at = text.find('[') + 1;
  return text.insert(at, extra);
}

struct Fixture {
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> enabled;
  std::unique_ptr<rules::RuleMatcher> matcher;
  DecodeLimits limits;
  Fixture() {
    for (const auto& r : rules)
      if (r.enabled) enabled.push_back(&r);  // cis-4.9
    matcher = std::make_unique<rules::RuleMatcher>(enabled);
  }
  ObjectResult process(const std::string& bytes, MemoryPolicy memory = {}) {
    ObjectProcessor p(*matcher, limits, OcsfOptions{}, memory);
    p.raw_buffer().assign(bytes);
    ObjectResult r;
    p.process_raw("test-object", r);
    return r;
  }
};

// A cis-4.9 record (StopConfigurationRecorder) with extra members.
std::string cis49_record(const std::string& members, const std::string& event_id = "bad") {
  return R"({"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder",)"
         R"("eventID":")" + event_id + "\"," + members + "}";
}

}  // namespace

TEST_CASE("one bad record never holds the object's good records hostage") {
  Fixture f;
  // 0: a \u escape (every JSON rule becomes a candidate) and nesting past max_depth;
  // 1: a lone surrogate escape in userAgent: matched, with it replaced by \ufffd;
  // 2: nesting past max_depth and nothing any rule looks for (never a candidate);
  // 3: an invalid escape (unparseable where the matcher parses it).
  const std::string bad = cis49_record(R"("userAgent":"\u0041","x":)" + nested(80)) + "," +
                          cis49_record(R"("userAgent":"\ud800")", "lone") + "," +
                          R"({"eventName":"Nothing","x":)" + nested(80) + "}," +
                          cis49_record(R"("userAgent":"\q")") + ",";
  ObjectResult r = f.process(test::gzip(config_file_with(bad)));
  CHECK_FALSE(r.failed);
  CHECK(r.error.empty());
  CHECK(r.alerts.size() == 5);  // every good match of the file, and the lone surrogate's
  CHECK(r.stats.records == 11);
  CHECK(r.repaired_records == 1);
  CHECK(r.stats.bad_records == 3);
  CHECK(r.bad_record_count == 3);
  REQUIRE(r.bad_records.size() == 3);
  CHECK(r.bad_records[0].index == 0);
  CHECK(r.bad_records[0].reason.find("limits.max_depth (64)") != std::string::npos);
  CHECK(r.bad_records[1].index == 2);
  CHECK(r.bad_records[1].reason.find("limits.max_depth (64)") != std::string::npos);
  CHECK(r.bad_records[2].index == 3);
  CHECK(r.bad_records[2].reason.find("invalid escape") != std::string::npos);
  CHECK(r.bad_records[2].excerpt.find(R"(\q)") != std::string::npos);
  int lone = 0;
  for (const auto& a : r.alerts) {
    CHECK(a.ocsf.find(R"("bad")") == std::string::npos);
    if (a.ocsf.find(R"("lone")") != std::string::npos) ++lone;
  }
  CHECK(lone == 1);
}

TEST_CASE("a record at exactly max_depth is evaluated, one level deeper is bad") {
  Fixture f;
  f.limits.max_depth = 8;
  // The record is level 1 and "x" holds nested(7): 8 levels, a candidate that must match.
  const std::string at_limit = cis49_record(R"("x":)" + nested(7));
  const std::string over = cis49_record(R"("x":)" + nested(8));
  ObjectResult r = f.process(R"({"Records":[)" + at_limit + "," + over + "]}");
  CHECK_FALSE(r.failed);
  CHECK(r.alerts.size() == 1);
  REQUIRE(r.bad_records.size() == 1);
  CHECK(r.bad_records[0].index == 1);
  CHECK(r.bad_records[0].reason.find("max_depth") != std::string::npos);
}

TEST_CASE("hostile records: defined outcomes, the good records still alert") {
  Fixture f;
  f.limits.max_record_bytes = 4096;
  const std::string huge = cis49_record(R"("pad":")" + std::string(5000, 'a') + "\"");
  const std::string dup_keys = R"({"eventSource":"config.amazonaws.com","eventName":"Nothing",)"
                               R"("eventName":"StopConfigurationRecorder","eventID":"dup"})";
  const std::string nul = cis49_record(R"("userAgent":"a\u0000b","eventID2":"nul")");
  const std::string bad_utf8 = cis49_record("\"userAgent\":\"\xC3\x28\"");
  const std::string raw_nul = cis49_record(std::string("\"userAgent\":\"a\0b\"", 17), "rawnul");
  ObjectResult r = f.process(config_file_with(huge + ",5,null,[1,[2]]," + dup_keys + "," + nul +
                                              "," + bad_utf8 + "," + raw_nul + ","));
  CHECK_FALSE(r.failed);
  // The 4 good matches, and the record with an escaped NUL (a valid string) matches too. A raw
  // NUL byte in a string is not JSON: that record is bad (and only that record).
  CHECK(r.alerts.size() == 5);
  for (const auto& a : r.alerts) CHECK(a.ocsf.find(R"("rawnul")") == std::string::npos);
  CHECK(r.stats.skipped_non_objects == 3);  // 5, null, [1,[2]]: skipped with a warning
  REQUIRE(r.bad_records.size() == 3);
  CHECK(r.bad_records[0].index == 0);
  CHECK(r.bad_records[0].reason.find("max_record_bytes") != std::string::npos);
  CHECK(r.bad_records[0].bytes == huge.size());
  CHECK(r.bad_records[0].excerpt.size() == BadRecord::kExcerptBytes);
  CHECK(r.bad_records[1].index == 6);
  CHECK(r.bad_records[1].reason.find("invalid UTF-8") != std::string::npos);
  CHECK(r.bad_records[2].index == 7);
  CHECK(r.bad_records[2].reason ==
        "an unescaped control character in a string at byte 111 of the record");
  // Duplicate keys: the first occurrence is the value (simdjson), so "dup" did not match.
  for (const auto& a : r.alerts) CHECK(a.ocsf.find(R"("dup")") == std::string::npos);
}

TEST_CASE("a structurally broken file is still a bad file, not bad records") {
  Fixture f;
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  text.resize(text.size() * 3 / 4);  // truncated
  ObjectResult r = f.process(text);
  CHECK(r.failed);
  CHECK(r.bad_records.empty());
  // Broken between records: the records before the break are matched, the file fails.
  r = f.process(config_file_with(cis49_record(R"("a":1)") + ",} {,"));
  CHECK(r.failed);
  CHECK(r.bad_records.empty());
}

TEST_CASE("an EventBridge event over a limit is a bad record, not a failure") {
  Fixture f;
  f.limits.max_depth = 8;
  ObjectProcessor p(*f.matcher, f.limits, OcsfOptions{});
  ObjectResult r;
  p.process_event("event", cis49_record(R"("x":)" + nested(20)), r);
  CHECK_FALSE(r.failed);
  CHECK(r.alerts.empty());
  REQUIRE(r.bad_records.size() == 1);
  CHECK(r.bad_records[0].index == 0);
  p.process_event("event", cis49_record(R"("userAgent":"\x")"), r);
  CHECK_FALSE(r.failed);
  CHECK(r.bad_record_count == 1);
  p.process_event("event", cis49_record(R"("userAgent":"\udc00")"), r);  // repaired: matched
  CHECK(r.bad_record_count == 0);
  CHECK(r.alerts.size() == 1);
  p.process_event("event", cis49_record(R"("userAgent":"fine")"), r);
  CHECK(r.alerts.size() == 1);
  CHECK(r.bad_record_count == 0);
}

TEST_CASE("bad records beyond the kept number are counted, not kept") {
  Fixture f;
  f.limits.max_depth = 4;
  std::string many;
  for (size_t i = 0; i < ObjectResult::kMaxBadRecordsKept + 5; ++i)
    many += R"({"x":)" + nested(10) + "},";
  ObjectResult r = f.process(config_file_with(many));
  CHECK(r.bad_record_count == ObjectResult::kMaxBadRecordsKept + 5);
  CHECK(r.bad_records.size() == ObjectResult::kMaxBadRecordsKept);
  CHECK(r.alerts.size() == 4);
}

TEST_CASE("buffers are reused for normal objects and freed after a large one") {
  Fixture f;
  MemoryPolicy policy;
  policy.retain_object_bytes = 1 << 20;
  policy.retain_record_bytes = 64 << 10;
  ObjectProcessor p(*f.matcher, f.limits, OcsfOptions{}, policy);
  const std::string small = test::gzip(test::read_data("cloudtrail/awsdocs_config.json"));
  ObjectResult r;
  p.raw_buffer().assign(small);
  p.process_raw("small", r);
  REQUIRE(r.alerts.size() == 4);
  const size_t kept = p.buffer_capacity();
  CHECK(kept > 0);
  const char* raw_storage = p.raw_buffer().data();
  p.raw_buffer().assign(small);
  p.process_raw("small again", r);
  CHECK(p.buffer_capacity() == kept);  // nothing freed or grown: reused
  CHECK(p.raw_buffer().data() == raw_storage);
  CHECK_FALSE(p.release_memory());

  // 3 MiB of records, one of them a 200 KiB candidate (it grows the record parser too).
  std::string big = R"({"Records":[)";
  big += cis49_record(R"("pad":")" + std::string(200 << 10, 'p') + "\"");
  while (big.size() < (3u << 20)) big += R"(,{"eventName":"Filler","eventSource":"x.amazonaws.com"})";
  big += "]}";
  p.raw_buffer().assign(test::gzip(big));
  p.process_raw("big", r);
  CHECK(r.alerts.size() == 1);
  CHECK(p.buffer_capacity() <= policy.retain_object_bytes);  // the 3 MiB text is gone
  CHECK_FALSE(p.release_memory());                           // and so was everything else
  p.raw_buffer().assign(small);
  p.process_raw("small after big", r);
  CHECK(r.alerts.size() == 4);
}

TEST_CASE("MatchSession gives back a record parser grown for one large record") {
  Fixture f;
  rules::MatchSession session(*f.matcher, f.limits);
  std::string rec = cis49_record(R"("pad":")" + std::string(300 << 10, 'p') + "\"");
  std::string text = rec + std::string(Buffer::kPadding, '\0');
  std::string_view raw(text.data(), rec.size());
  session.begin(raw);
  int n = 0;
  CHECK(session.match(raw, [&](size_t, std::string_view, const simdjson::dom::element*) { ++n; }));
  CHECK(n == 1);
  CHECK(session.release_memory(64 << 10, 1 << 20));
  CHECK_FALSE(session.release_memory(64 << 10, 1 << 20));
  session.begin(raw);
  CHECK(session.match(raw, [&](size_t, std::string_view, const simdjson::dom::element*) { ++n; }));
  CHECK(n == 2);  // and it still parses large records afterwards
}

TEST_CASE("MatchSession gives back the prefilter hits of a text with very many candidates") {
  Fixture f;
  rules::MatchSession session(*f.matcher, f.limits);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += R"({"eventName":"StopConfigurationRecorder"})";
  const size_t size = text.size();
  text += std::string(Buffer::kPadding, '\0');
  session.begin(std::string_view(text.data(), size));
  CHECK(session.release_memory(64 << 10, 4 << 10));  // the hits are over 4 KiB: freed
  CHECK_FALSE(session.release_memory(64 << 10, 4 << 10));  // freed, not just emptied
}

TEST_CASE("alerts without a usable eventTime are counted; local files are the alerts' log_name") {
  Fixture f;
  ObjectResult r = f.process(config_file_with(
      cis49_record(R"("eventTime":"2024-02-30T00:00:00Z")", "t1") + "," +
      cis49_record(R"("eventTime":"2024-02-03T00:00:00+01:00")", "t2") + "," + cis49_record(R"("x":1)", "t3") + ","));
  CHECK_FALSE(r.failed);
  CHECK(r.alerts.size() == 7);           // the file's four and the three above
  CHECK(r.alerts_time_unparsed == 2);    // February 30 and no eventTime; the offset parses
  for (const AlertRecord& a : r.alerts)
    CHECK(a.ocsf.find(R"("log_name":"test-object")") != std::string::npos);
}
