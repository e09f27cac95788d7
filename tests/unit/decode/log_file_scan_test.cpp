// The log-file fast path (agent/decode/log_file_scan.h): which texts it takes, and that for
// every text the reader gives the same result with it as without it (the general reader,
// simdjson On-Demand), records, bad records, counts and errors alike.
#include "agent/decode/log_file_scan.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "agent/common/cpu_features.h"
#include "agent/decode/cloudtrail.h"

using namespace trailwarden;

namespace {

struct Collect : RecordVisitor {
  std::vector<std::string> seen;  // records and bad records, in order
  void on_record(std::string_view raw) override { seen.push_back("R " + std::string(raw)); }
  void on_bad_record(size_t index, std::string_view raw, const std::string& reason) override {
    seen.push_back("B " + std::to_string(index) + " " + reason + " " + std::string(raw));
  }
};

struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<std::string> seen;
  ParseStats stats;
};

Outcome read(const std::string& text, bool fast, const DecodeLimits& limits) {
  CloudTrailReader reader(limits);
  reader.set_fast_path(fast);
  Buffer b;
  b.assign(text);
  Collect c;
  Outcome o;
  o.ok = reader.read(b, c, o.stats, o.error);
  o.seen = std::move(c.seen);
  return o;
}

// The reader gives the same with and without the fast path.
void check_same(const std::string& text, const DecodeLimits& limits = {}) {
  CAPTURE(text);
  const Outcome fast = read(text, true, limits), general = read(text, false, limits);
  CHECK(fast.ok == general.ok);
  CHECK(fast.error == general.error);
  CHECK(fast.seen == general.seen);
  CHECK(fast.stats.kind == general.stats.kind);
  CHECK(fast.stats.records == general.stats.records);
  CHECK(fast.stats.bad_records == general.stats.bad_records);
  CHECK(fast.stats.skipped_non_objects == general.stats.skipped_non_objects);
  CHECK(fast.stats.elements == general.stats.elements);
  CHECK(fast.stats.shapes == general.stats.shapes);
  CHECK(fast.stats.unrecognised == general.stats.unrecognised);
}

// Whether scan_log_file() takes `text`, and its records as text.
bool scan(const std::string& text, std::vector<std::string>& out, size_t max_depth = 64,
          size_t max_records = 1000000) {
  std::string padded = text + std::string(64, 'x');  // the padding holds anything
  std::vector<RecordExtent> extents;
  out.clear();
  if (!scan_log_file(std::string_view(padded.data(), text.size()), max_depth, max_records,
                     extents))
    return false;
  for (const auto& x : extents) out.push_back(text.substr(x.begin, x.end - x.begin));
  return true;
}

const std::string kRecord =
    R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},)"
    R"("eventTime":"2024-01-01T00:00:00Z","eventName":"PutDeliveryChannel",)"
    R"("requestParameters":{"deliveryChannel":{"name":"d","s3BucketName":"b"}},)"
    R"("resources":[{"ARN":"x"},{"ARN":"y"}],"note":"a \"quoted\" {brace} and [bracket] \\"})";

}  // namespace

TEST_CASE("the fast path takes a log file in its usual form, records as On-Demand gives them") {
  if (!cpu_has_avx2()) return;  // the general reader reads everything there
  std::vector<std::string> r;
  REQUIRE(scan(R"({"Records":[{"a":1},{"b":[2,{"c":"}"}]}]})", r));
  CHECK(r == std::vector<std::string>{R"({"a":1})", R"({"b":[2,{"c":"}"}]})"});
  // Whitespace between tokens: a record keeps the whitespace after it, as raw_json() does.
  REQUIRE(scan(" \n{ \"Records\" :\t[ {\"a\":1} ,\r\n {} \n] } \n", r));
  CHECK(r == std::vector<std::string>{"{\"a\":1} ", "{} \n"});
  REQUIRE(scan(R"({"Records":[]})", r));
  CHECK(r.empty());
  REQUIRE(scan(R"({"Records":[)" + kRecord + "," + kRecord + "]}", r));
  CHECK(r == std::vector<std::string>{kRecord, kRecord});
}

TEST_CASE("the fast path leaves everything else to the general reader") {
  if (!cpu_has_avx2()) return;
  std::vector<std::string> r;
  const char* not_handled[] = {
      R"({"Records":[{"a":1},]})",                 // trailing comma
      R"({"Records":[{"a":1}{"b":2}]})",           // missing comma
      R"({"Records":[,{"a":1}]})",                 // leading comma
      R"({"Records":[{"a":1},2]})",                // not an object
      R"({"Records":[[{"a":1}]]})",                // an array element
      R"({"Records":[{"a":1},"{"]})",              // a string element
      R"({"Records":[{"a":1}],"x":1})",            // another key
      R"({"x":1,"Records":[{"a":1}]})",            // another key first
      R"({"Records":[{"a":1}]}{"Records":[]})",    // two documents
      R"({"Records":[{"a":1}]}x)",                 // trailing garbage
      R"({"Records":[{"a":1}])",                   // truncated
      R"({"Records":[{"a":"1}]})",                 // unclosed string
      R"({"Records":[{"a":1]]})",                  // a record closed by ']'
      R"({"Records":[{"a":1}}})",                  // the array closed by '}'
      R"({"Recor\u0064s":[{"a":1}]})",             // an escaped key (the general reader decides)
      // On-Demand reads a record's first member itself: these it does not skip as the scan
      // does (a value that is a separator, a closing bracket or a key), or refuses.
      R"({"Records":[{"a":1},{"eventName":}]})",
      R"({"Records":[{"a":]},{"b":2}]})",
      R"({"Records":[{"a":,"b":{}}]})",
      R"({"Records":[{"a"::1}]})",
      R"({"Records":[{"a":"b":{"c":1}}]})",
      R"({"Records":[{"a" 1}]})",
      R"({"Records":[{1:2}]})",
      R"({"Records":[{"a":)",
      R"([{"a":1}])",                              // a top-level array
      "{\"Records\":[{\"a\":\"x\ty\"}]}",          // a control character in a string
      "{\"Records\":[{\"a\":1}\x01]}",             // ... outside one
      "{\"Records\":[{\"a\":\"\xff\"}]}",          // invalid UTF-8
      "\xef\xbb\xbf{\"Records\":[]}",              // a byte order mark
  };
  for (const char* text : not_handled) {
    CAPTURE(text);
    CHECK_FALSE(scan(text, r));
    check_same(text);
  }
}

TEST_CASE("the fast path counts the nesting exactly, and hands deep records to the reader") {
  if (!cpu_has_avx2()) return;
  std::vector<std::string> r;
  auto nested = [](size_t depth) {  // a record `depth` levels deep
    std::string s = "{\"a\":";
    for (size_t i = 1; i < depth; ++i) s += "[";
    s += "1";
    for (size_t i = 1; i < depth; ++i) s += "]";
    return s + "}";
  };
  // max_depth 64: the root object and the array take two levels, a record may take 62.
  CHECK(scan(R"({"Records":[)" + nested(62) + "]}", r));
  CHECK_FALSE(scan(R"({"Records":[)" + nested(63) + "]}", r));
  // Many brackets but shallow: taken (the bound is the depth, not the count).
  std::string wide = "{\"a\":[";
  for (int i = 0; i < 500; ++i) wide += "{},[],";
  wide += "{}]}";
  CHECK(scan(R"({"Records":[)" + wide + "]}", r));
  for (size_t depth : {30, 61, 62, 63, 64, 65, 200}) {
    check_same(R"({"Records":[{"a":1},)" + nested(depth) + R"(,{"b":2}]})");
    DecodeLimits limits;
    limits.max_depth = depth;
    check_same(R"({"Records":[{"a":1},)" + nested(depth) + R"(,{"b":2}]})", limits);
  }
}

TEST_CASE("strings end where simdjson ends them, across 64-byte blocks") {
  if (!cpu_has_avx2()) return;
  // Runs of backslashes before a quote, at every offset around the block edges: an even run
  // ends the string, an odd one escapes the quote. Brackets after it count only outside.
  for (size_t pad = 0; pad < 140; ++pad) {
    for (size_t run = 0; run <= 5; ++run) {
      const std::string value = std::string(pad, 'v') + std::string(run, '\\') + "\"";
      const std::string text =
          R"({"Records":[{"k":")" + value + (run % 2 ? R"(}]"},{"x":"]"}]})" : R"(,"y":[1]}]})");
      CAPTURE(pad);
      CAPTURE(run);
      std::vector<std::string> r;
      // An even run ends the string: one record. An odd one escapes the quote, the string
      // goes on to the next quote, and the brackets inside it do not count: two records.
      REQUIRE(scan(text, r));
      CHECK(r.size() == (run % 2 ? 2u : 1u));
      check_same(text);
    }
  }
}

TEST_CASE("limits: too many records and oversized records read as the general reader does") {
  DecodeLimits limits;
  limits.max_records_per_file = 2;
  check_same(R"({"Records":[{"a":1},{"b":2}]})", limits);
  check_same(R"({"Records":[{"a":1},{"b":2},{"c":3}]})", limits);
  std::vector<std::string> r;
  if (cpu_has_avx2()) CHECK_FALSE(scan(R"({"Records":[{"a":1},{"b":2},{"c":3}]})", r, 64, 2));
  limits = {};
  limits.max_record_bytes = 20;
  check_same(R"({"Records":[{"a":1},{"b":"a string longer than twenty bytes"},{"c":3}]})",
             limits);
}

TEST_CASE("damaged log files read the same with and without the fast path") {
  // Random damage to a log file: bytes replaced, inserted or removed, with a bias to the
  // characters that decide structure. A fixed seed, so a failure is repeatable.
  const std::string base = R"({"Records":[)" + kRecord + "," + kRecord + R"(,{"x":[]},)" +
                           kRecord + "]}";
  const std::string special = "{}[]\"\\,: \t\n\x01\xff\xc3";
  std::mt19937 rng(20261204);
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      const char c = rng() % 4 ? special[rng() % special.size()] : static_cast<char>(rng());
      switch (rng() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(text.begin() + static_cast<long>(at), c); break;
        default: text.erase(at, 1); break;
      }
    }
    check_same(text);
  }
}
