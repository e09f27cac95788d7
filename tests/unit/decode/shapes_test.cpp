// The input shapes besides CloudTrail log files (agent/decode/shapes.h), read through
// CloudTrailReader::prepare() and read() as the processor does.
#include "agent/decode/shapes.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "agent/decode/cloudtrail.h"
#include "agent/decode/input.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {

struct Collect : RecordVisitor {
  std::vector<std::string> records;
  struct Bad {
    size_t index;
    std::string raw, reason;
  };
  std::vector<Bad> bad;
  void on_record(std::string_view raw) override { records.emplace_back(raw); }
  void on_bad_record(size_t index, std::string_view raw, const std::string& reason) override {
    bad.push_back({index, std::string(raw), reason});
  }
};

struct Outcome {
  bool ok = false;
  ParseStats stats;
  std::string error;
  size_t unwrapped = 0;
  std::vector<std::string> records;
  std::vector<Collect::Bad> bad;
};

Outcome read_text(std::string_view bytes, DecodeLimits limits = {}, bool log_files_only = false) {
  CloudTrailReader reader(limits, log_files_only);
  Buffer json;
  Outcome o;
  if (!decode_to_json(bytes, limits, json, o.error)) return o;
  o.unwrapped = reader.prepare(json);
  Collect c;
  o.ok = reader.read(json, c, o.stats, o.error);
  o.records = std::move(c.records);
  o.bad = std::move(c.bad);
  return o;
}

const std::string kA = R"({"eventVersion":"1.08","eventID":"a-1","eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"})";
const std::string kB = R"({"eventVersion":"1.08","eventID":"b-2","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","additionalEventData":{"MFAUsed":"No"}})";
const std::string kC = R"({"eventVersion":"1.08","eventID":"c-3","eventName":"DeleteTrail","eventSource":"cloudtrail.amazonaws.com","requestParameters":{"name":"t \"q\" \u00e9"}})";

// A JSON string literal holding `s` (as the AWS CLI writes CloudTrailEvent).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string lookup_event(const std::string& record, const std::string& id) {
  return R"({"EventId": ")" + id + R"(", "EventName": "X", "ReadOnly": "false", "EventTime": "2024-01-01T00:00:00+00:00", "Resources": [], "CloudTrailEvent": )" +
         quoted(record) + "}";
}

// `aws cloudtrail lookup-events` as the CLI prints it (json.dump, indent=4).
std::string lookup_page(const std::vector<std::string>& records, bool next_token) {
  std::string out = "{\n    \"Events\": [\n";
  for (size_t i = 0; i < records.size(); ++i)
    out += "        " + lookup_event(records[i], std::to_string(i)) + (i + 1 < records.size() ? ",\n" : "\n");
  out += "    ]";
  if (next_token) out += ",\n    \"NextToken\": \"eyJOZXh0VG9rZW4iOiBudWxsfQ==\"";
  return out + "\n}\n";
}

std::string eventbridge(const std::string& record, const std::string& type = "AWS API Call via CloudTrail") {
  return R"({"version":"0","id":"6a7e8feb","detail-type":")" + type +
         R"(","source":"aws.cloudtrail","account":"111122223333","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":)" +
         record + "}";
}

}  // namespace

TEST_CASE("NDJSON of CloudTrail records: one record per line, in order") {
  auto o = read_text(kA + "\n" + kB + "\n\n" + kC + "\n");
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.stats.kind == FileKind::kRecords);
  CHECK(o.stats.line_delimited);
  CHECK(o.stats.shapes == kShapeRecord);
  CHECK(o.records == std::vector<std::string>{kA, kB, kC});
  CHECK(o.stats.records == 3);
  CHECK(o.bad.empty());
  CHECK(describe_shapes(o.stats.shapes, o.stats.line_delimited) == "NDJSON of CloudTrail records");
  // CRLF line ends, a byte order mark, gzip: the same records.
  auto crlf = read_text("\xEF\xBB\xBF" + kA + "\r\n" + kB + "\r\n" + kC + "\r\n");
  REQUIRE_MESSAGE(crlf.ok, crlf.error);
  CHECK(crlf.records == o.records);
  auto gz = read_text(test::gzip(kA + "\n" + kB + "\n" + kC));
  REQUIRE_MESSAGE(gz.ok, gz.error);
  CHECK(gz.records == o.records);
  CHECK(gz.stats.line_delimited);
}

TEST_CASE("NDJSON: a bad line is a bad record named by its line number; the others are read") {
  auto o = read_text(kA + "\n" + R"({"eventVersion":"1.08","eventName":)" + "\n" + kB + "\nnot json\n" + kC + "\n");
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.records == std::vector<std::string>{kA, kB, kC});
  REQUIRE(o.bad.size() == 2);
  CHECK(o.bad[0].index == 1);
  CHECK(o.bad[0].reason.starts_with("line 2: "));
  CHECK(o.bad[1].index == 3);
  CHECK(o.bad[1].reason.starts_with("line 4: "));
  CHECK(o.bad[1].raw == "not json");
  // A broken first line is still NDJSON: the next line starts an object at column 0.
  auto first = read_text(R"({"eventVersion":"1.08","use)" + std::string("\n") + kA + "\n" + kB);
  REQUIRE_MESSAGE(first.ok, first.error);
  CHECK(first.records == std::vector<std::string>{kA, kB});
  REQUIRE(first.bad.size() == 1);
  CHECK(first.bad[0].reason.starts_with("line 1: "));
  // Every line bad: nothing to evaluate (FileKind::kOther), each line reported.
  auto all_bad = read_text("{\"a\":\n{\"b\":\n");
  CHECK(all_bad.ok);
  CHECK(all_bad.stats.kind == FileKind::kOther);
  CHECK(all_bad.stats.bad_records == 2);
  // Two values on one line, or a value followed by text: the line is bad.
  auto two = read_text(kA + " " + kB + "\n" + kC + "\n");
  REQUIRE(two.ok);
  CHECK(two.records == std::vector<std::string>{kC});
  REQUIRE(two.bad.size() == 1);
  CHECK(two.bad[0].reason.find("line 1: unexpected content") == 0);
}

TEST_CASE("NDJSON: hostile lines (huge, deeply nested, invalid UTF-8) cost only themselves") {
  DecodeLimits limits;
  limits.max_record_bytes = 10000;
  limits.max_depth = 16;
  const std::string huge = R"({"eventVersion":"1.08","eventName":")" + std::string(50000, 'x') + R"("})";
  std::string deep = R"({"eventVersion":"1.08","x":)";
  for (int i = 0; i < 2000; ++i) deep += "[";
  for (int i = 0; i < 2000; ++i) deep += "]";
  deep += "}";
  const std::string bad_utf8 = "{\"eventVersion\":\"1.08\",\"userAgent\":\"x\xC3\x28y\"}";
  auto o = read_text(kA + "\n" + huge + "\n" + deep + "\n" + bad_utf8 + "\n" + kB + "\n", limits);
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.records == std::vector<std::string>{kA, kB});
  REQUIRE(o.bad.size() == 3);
  CHECK(o.bad[0].reason.find("line 2: ") == 0);
  CHECK(o.bad[0].reason.find("max_record_bytes") != std::string::npos);
  CHECK(o.bad[1].reason.find("line 3: ") == 0);
  CHECK_MESSAGE(o.bad[1].reason.find("max_depth") != std::string::npos, o.bad[1].reason);
  CHECK(o.bad[2].reason == "line 4: invalid UTF-8 at byte 37 of the record");
}

TEST_CASE("lookup-events output: each CloudTrailEvent string is read as its record") {
  auto o = read_text(lookup_page({kA, kB, kC}, true));
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.unwrapped == 3);
  CHECK(o.stats.kind == FileKind::kRecords);
  CHECK(o.stats.shapes == kShapeLookupEvents);
  CHECK_FALSE(o.stats.line_delimited);
  CHECK(o.records == std::vector<std::string>{kA, kB, kC});  // byte for byte as CloudTrail wrote it
  CHECK(o.stats.unrecognised == 0);
  CHECK(describe_shapes(o.stats.shapes, false) == "lookup-events output");
  // Several pages one after the other (the CLI run again with --starting-token >> file), an
  // NDJSON of compact pages, the Events alone (--query Events), NDJSON of events (jq -c).
  const std::vector<std::string> variants = {
      lookup_page({kA}, true) + lookup_page({kB, kC}, false),
      R"({"Events":[)" + lookup_event(kA, "1") + "],\"NextToken\":\"x\"}\n" + R"({"Events":[)" +
          lookup_event(kB, "2") + "," + lookup_event(kC, "3") + "]}\n",
      "[\n  " + lookup_event(kA, "1") + ",\n  " + lookup_event(kB, "2") + ",\n  " + lookup_event(kC, "3") + "\n]\n",
      lookup_event(kA, "1") + "\n" + lookup_event(kB, "2") + "\n" + lookup_event(kC, "3") + "\n",
  };
  for (const auto& v : variants) {
    CAPTURE(v);
    auto r = read_text(v);
    REQUIRE_MESSAGE(r.ok, r.error);
    CHECK(r.records == o.records);
    CHECK(r.stats.shapes == kShapeLookupEvents);
    CHECK(r.bad.empty());
    CHECK(r.stats.unrecognised == 0);
  }
}

TEST_CASE("lookup-events: escapes, surrogate pairs and strings that are not records") {
  // \u escapes of the outer string (the CLI writes ASCII only) become UTF-8 in the record.
  const std::string page = R"({"Events":[{"CloudTrailEvent":"{\"eventName\":\"caf\u00e9 \ud83d\ude00\",\"eventSource\":\"x\"}"}]})";
  auto o = read_text(page);
  REQUIRE_MESSAGE(o.ok, o.error);
  REQUIRE(o.records.size() == 1);
  CHECK(o.records[0] == "{\"eventName\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\",\"eventSource\":\"x\"}");
  // Not JSON, not an object, a lone surrogate, no CloudTrailEvent, a number: bad records,
  // each saying why; the good event between them is read.
  const std::string mixed = std::string(R"({"Events":[)") +
                            R"({"EventId":"1","CloudTrailEvent":"this is not JSON"},)" +
                            R"({"EventId":"2","CloudTrailEvent":"[1,2]"},)" +
                            R"({"EventId":"3","CloudTrailEvent":"{\"a\":\"\ud800\"}"},)" +
                            lookup_event(kA, "4") + "," + R"({"EventId":"5"},)" +
                            R"({"EventId":"6","CloudTrailEvent":5},)" + R"(7]})";
  auto m = read_text(mixed);
  REQUIRE_MESSAGE(m.ok, m.error);
  CHECK(m.records == std::vector<std::string>{kA});
  REQUIRE(m.bad.size() == 5);
  CHECK(m.bad[0].index == 0);
  CHECK(m.bad[0].reason.find("not valid JSON") != std::string::npos);
  CHECK(m.bad[0].raw == R"({"EventId":"1","CloudTrailEvent":"this is not JSON"})");
  CHECK(m.bad[1].reason == "the CloudTrailEvent string is not a JSON object");
  CHECK(m.bad[2].reason.find("not a valid JSON string") != std::string::npos);
  CHECK(m.bad[3].index == 4);
  CHECK(m.bad[3].reason == "an element of \"Events\" without a CloudTrailEvent member");
  CHECK(m.bad[4].reason == "CloudTrailEvent is neither a JSON string nor an object");
  CHECK(m.stats.skipped_non_objects == 1);
  // A CloudTrailEvent over the record limit stays a string and is a bad record.
  DecodeLimits limits;
  limits.max_record_bytes = 50;
  auto big = read_text(lookup_page({kB}, false), limits);
  REQUIRE(big.ok);
  REQUIRE(big.bad.size() == 1);
  CHECK(big.bad[0].reason.find("max_record_bytes") != std::string::npos);
}

TEST_CASE("lookup-events NDJSON: a record string with line breaks keeps the lines") {
  const std::string pretty_record = "{\n  \"eventVersion\": \"1.08\",\n  \"eventName\": \"X\"\n}";
  const std::string text = R"({"Events":[{"CloudTrailEvent":)" + quoted(pretty_record) + "}]}\n" +
                           R"({"Events":[)" + lookup_event(kA, "2") + "]}\n";
  // quoted() leaves the newlines raw: escape them as JSON does.
  std::string escaped;
  for (char c : text.substr(0, text.find("]}\n") + 3)) {
    if (c == '\n' && escaped.size() + 1 < text.find("]}\n") + 3) escaped += "\\n";
    else escaped += c;
  }
  escaped += text.substr(text.find("]}\n") + 3);
  auto o = read_text(escaped);
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.stats.line_delimited);
  REQUIRE(o.records.size() == 2);
  CHECK(o.records[0] == "{   \"eventVersion\": \"1.08\",   \"eventName\": \"X\" }");
  CHECK(o.records[1] == kA);
  CHECK(o.bad.empty());
}

TEST_CASE("lookup-events: an empty page is read (nothing to match); NextToken alone is none") {
  auto empty = read_text("{\n    \"Events\": []\n}\n");
  REQUIRE(empty.ok);
  CHECK(empty.stats.kind == FileKind::kRecords);
  CHECK(empty.stats.shapes == kShapeLookupEvents);
  CHECK(empty.stats.records == 0);
  CHECK(empty.stats.unrecognised == 0);
  auto token = read_text(R"({"NextToken": "abc"})");
  REQUIRE(token.ok);
  CHECK(token.stats.kind == FileKind::kOther);
  CHECK(token.stats.unrecognised == 1);
  CHECK(token.stats.first_unrecognised.find("NextToken") != std::string::npos);
}

TEST_CASE("a CloudTrailEvent key inside a record is data, not an event to unwrap") {
  const std::string inner = R"({"eventVersion":"1.08","eventName":"PutThing","eventSource":"x","requestParameters":{"CloudTrailEvent":"{\"a\":1}"}})";
  Buffer json;
  json.assign(inner + "\n" + kA + "\n");
  LookupEventsUnwrapper unwrapper(DecodeLimits{});
  CHECK(unwrapper.unwrap(json) == 0);
  CHECK(json.view() == inner + "\n" + kA + "\n");
  auto o = read_text(inner + "\n" + kA + "\n");
  REQUIRE(o.ok);
  CHECK(o.records == std::vector<std::string>{inner, kA});
  // A log file is never scanned for CloudTrailEvent at all.
  json.assign(R"({"Records":[)" + lookup_event(kA, "1") + "]}");
  CHECK(unwrapper.unwrap(json) == 0);
}

TEST_CASE("EventBridge events: one, an array, NDJSON; the record is the detail") {
  const std::string pretty = "{\n  \"version\": \"0\",\n  \"detail-type\": \"AWS API Call via CloudTrail\",\n  \"source\": \"aws.cloudtrail\",\n  \"detail\": " + kA + "\n}\n";
  auto one = read_text(pretty);
  REQUIRE_MESSAGE(one.ok, one.error);
  CHECK_MESSAGE(one.records == std::vector<std::string>{kA}, (one.records.empty() ? one.error : one.records[0]));
  CHECK(one.stats.shapes == kShapeEventBridge);
  CHECK_FALSE(one.stats.line_delimited);
  auto array = read_text("[\n" + eventbridge(kA) + ",\n" + eventbridge(kB) + "\n]");
  REQUIRE_MESSAGE(array.ok, array.error);
  CHECK(array.records == std::vector<std::string>{kA, kB});
  auto nd = read_text(eventbridge(kA) + "\n" + eventbridge(kB) + "\n");
  REQUIRE_MESSAGE(nd.ok, nd.error);
  CHECK(nd.records == std::vector<std::string>{kA, kB});
  CHECK(nd.stats.line_delimited);
  // An EventBridge event that is not CloudTrail's (S3 Object Created) is named, not matched.
  auto s3 = read_text(eventbridge(R"({"bucket":{"name":"b"},"object":{"key":"k"}})", "Object Created") +
                      "\n" + eventbridge(kC) + "\n");
  REQUIRE(s3.ok);
  CHECK(s3.records == std::vector<std::string>{kC});
  CHECK(s3.stats.unrecognised == 1);
  CHECK(s3.stats.first_unrecognised.find("line 1: an EventBridge event of type \"Object Created\"") == 0);
}

TEST_CASE("mixed shapes in one NDJSON file are each read as what they are") {
  const std::string text = kA + "\n" + eventbridge(kB) + "\n" + R"({"Events":[)" +
                           lookup_event(kC, "1") + "]}\n" + R"({"Records":[)" + kB + "]}\n" +
                           R"({"unrelated":true})" + "\n42\n";
  auto o = read_text(text);
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.records == std::vector<std::string>{kA, kB, kC, kB});
  CHECK(o.stats.shapes ==
        (kShapeRecord | kShapeEventBridge | kShapeLookupEvents | kShapeLogFile));
  CHECK(o.stats.unrecognised == 2);
  CHECK(o.stats.first_unrecognised.find("line 5: ") == 0);
  CHECK(describe_shapes(o.stats.shapes, true) ==
        "NDJSON of CloudTrail log files, lookup-events output, EventBridge events and CloudTrail records");
}

TEST_CASE("bare records: one pretty-printed record, an array of them") {
  auto one = read_text("{\n  \"eventVersion\": \"1.08\",\n  \"eventName\": \"StopLogging\"\n}\n");
  REQUIRE(one.ok);
  CHECK(one.stats.shapes == kShapeRecord);
  REQUIRE(one.records.size() == 1);
  CHECK(one.records[0].find("StopLogging") != std::string::npos);
  auto arr = read_text("[" + kA + "," + kB + "]");
  REQUIRE(arr.ok);
  CHECK(arr.records == std::vector<std::string>{kA, kB});
  // JSON that is none of the shapes: nothing to evaluate, and said so.
  auto other = read_text(R"({"something":"else"})");
  CHECK(other.stats.kind == FileKind::kOther);
  CHECK(other.stats.unrecognised == 1);
}

TEST_CASE("log files only (test-pattern): the other shapes are left to the caller") {
  auto o = read_text(kA + "\n" + kB + "\n", {}, /*log_files_only=*/true);
  CHECK(o.ok);
  CHECK(o.stats.kind == FileKind::kOther);
  CHECK(o.records.empty());
  auto l = read_text(lookup_page({kA}, false), {}, true);
  CHECK(l.unwrapped == 0);
  CHECK(l.stats.kind == FileKind::kOther);
}

TEST_CASE("is_line_delimited tells NDJSON from pretty-printed and single-line JSON") {
  CHECK(is_line_delimited(kA + "\n" + kB));
  CHECK(is_line_delimited("[1]\n[2]\n"));
  CHECK_FALSE(is_line_delimited(kA + "\n"));
  CHECK_FALSE(is_line_delimited("{\n  \"a\": 1\n}\n{\n  \"b\": 2\n}\n"));
  CHECK_FALSE(is_line_delimited("[\n{\"a\":1},\n{\"b\":2}\n]"));
  CHECK_FALSE(is_line_delimited("{\"Records\":[]}\n{\"Records\":[]}\n"));
}

TEST_CASE("arbitrary bytes in the new shapes never crash prepare() or read()") {
  const std::string bases[] = {
      lookup_page({kA, kC}, true),
      kA + "\n" + eventbridge(kB) + "\n" + kC + "\n",
      "[" + eventbridge(kA) + "," + lookup_event(kB, "1") + "]",
  };
  uint32_t seed = 7;
  for (const std::string& base : bases) {
    for (int round = 0; round < 1500; ++round) {
      std::string m = base;
      for (int k = 0; k < 1 + round % 4; ++k) {
        seed = seed * 1103515245 + 12345;
        m[seed % m.size()] = static_cast<char>(seed >> 16);
      }
      auto o = read_text(m);
      for (const auto& b : o.bad) CHECK_FALSE(b.reason.empty());
      (void)read_text(m.substr(0, seed % m.size()));
    }
  }
}

TEST_CASE("pretty-printed documents one after the other (jq . of NDJSON) are each read") {
  std::string text, expected_last;
  for (int i = 0; i < 2000; ++i)
    text += "{\n  \"eventVersion\": \"1.08\",\n  \"eventName\": \"E" + std::to_string(i) + "\"\n}\n";
  auto o = read_text(text);
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK_FALSE(o.stats.line_delimited);
  CHECK(o.stats.records == 2000);
  REQUIRE(o.records.size() == 2000);
  CHECK(o.records[1999].find("\"E1999\"") != std::string::npos);
  // A broken later document is still a broken file, after the records before it.
  auto broken = read_text(text.substr(0, 200) + "{\n  \"eventName\": \n}\n");
  CHECK_FALSE(broken.ok);
  CHECK(broken.stats.records >= 1);
  // Concatenated log files, as before.
  auto logs = read_text(R"({"Records":[)" + kA + "]}\n" + R"({"Records":[)" + kB + "]}");
  REQUIRE(logs.ok);
  CHECK(logs.records == std::vector<std::string>{kA, kB});
}

TEST_CASE("NDJSON: a log-file line that breaks") {
  // Truncated: the parse of the line finds it before any record of it is handed out, so it is
  // one bad line.
  auto o = read_text(kA + "\n" + R"({"Records":[)" + kB + ",{\"eventName\":\n" + kC + "\n");
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.records == std::vector<std::string>{kA, kC});
  REQUIRE(o.bad.size() == 1);
  CHECK(o.bad[0].reason.find("line 2: ") == 0);
  // Broken after some of its records were handed out: as for a whole log file that breaks
  // part-way, the input is a bad file (kept for redelivery by `run`), not one bad line.
  auto late = read_text(kA + "\n" + R"({"Records":[)" + kB + ",{\"eventName\" 1}]}\n" + kC + "\n");
  CHECK_FALSE(late.ok);
  CHECK(late.error.find("line 2: ") == 0);
  CHECK(late.records == std::vector<std::string>{kA, kB});
  // Too many records ends the file whatever the shape.
  DecodeLimits limits;
  limits.max_records_per_file = 2;
  auto many = read_text(kA + "\n" + kB + "\n" + kC + "\n", limits);
  CHECK_FALSE(many.ok);
  CHECK(many.error.find("max_records_per_file") != std::string::npos);
  CHECK(many.records.size() == 2);
}

TEST_CASE("a log file with other members: Events after Records, digest keys, EventBridge keys") {
  // Read by the log-file path (the first member is "Records") exactly as by the general walk.
  const std::string events = R"("Events":[)" + lookup_event(kC, "3") + "]";
  auto o = read_text(R"({"Records":[)" + kA + "," + kB + "]," + events +
                     R"(,"detail-type":"x","detail":{"a":1},"logFiles":[],"Records":[)" + kC + "]}");
  REQUIRE_MESSAGE(o.ok, o.error);
  CHECK(o.records == std::vector<std::string>{kA, kB});  // the second "Records" is skipped
  // The events of lookup-events output after a log file are not unwrapped: each is a bad record.
  CHECK(o.unwrapped == 0);
  REQUIRE(o.bad.size() == 1);
  CHECK(o.bad[0].index == 2);
  CHECK(o.bad[0].reason.find("after a CloudTrail log file") != std::string::npos);
  CHECK(o.stats.shapes == (kShapeLogFile | kShapeLookupEvents));
  CHECK(o.stats.kind == FileKind::kRecords);
  CHECK(o.stats.elements == 3);
  // Log files only: "Events" is not read.
  auto logs = read_text(R"({"Records":[)" + kA + "]," + events + "}", {}, true);
  REQUIRE_MESSAGE(logs.ok, logs.error);
  CHECK(logs.records == std::vector<std::string>{kA});
  CHECK(logs.bad.empty());
  // "Records" second: the events come first, unwrapped.
  auto second = read_text("{" + events + R"(,"Records":[)" + kA + "]}");
  REQUIRE_MESSAGE(second.ok, second.error);
  CHECK(second.records == std::vector<std::string>{kC, kA});
  // Failures in the members after the records, and in the records, name where.
  auto not_array = read_text(R"({"Records":[)" + kA + R"(],"Events":{}})");
  CHECK_FALSE(not_array.ok);
  CHECK(not_array.error == "\"Events\" is not an array");
  CHECK(not_array.records == std::vector<std::string>{kA});
  auto records_not_array = read_text(R"( { "Records" : 5 })");
  CHECK_FALSE(records_not_array.ok);
  CHECK(records_not_array.error == "\"Records\" is not an array");
  auto broken = read_text(R"({"Records":[)" + kA + R"(,{"eventName":}]})");
  CHECK_FALSE(broken.ok);
  CHECK(broken.error == "malformed or truncated JSON after record 2");
  CHECK(broken.records.front() == kA);
  auto event_not_object =
      read_text(R"({"Records":[)" + kA + R"(],"Events":[1,)" + lookup_event(kB, "2") + "]}");
  REQUIRE_MESSAGE(event_not_object.ok, event_not_object.error);
  CHECK(event_not_object.records == std::vector<std::string>{kA});
  CHECK(event_not_object.bad.size() == 1);
  CHECK(event_not_object.stats.skipped_non_objects == 1);
  auto digest = read_text(R"({"Records":[],"digestStartTime":"x"})");
  REQUIRE_MESSAGE(digest.ok, digest.error);
  CHECK(digest.stats.kind == FileKind::kRecords);
  CHECK(digest.stats.shapes == kShapeLogFile);
}

TEST_CASE("a bare record On-Demand cannot delimit is handed out whole, never as empty text") {
  // The fuzzer's case: an object whose members read as a record (eventVersion) although a
  // value inside it never closes, so On-Demand's second walk over it fails. The record used to
  // be handed out as an empty string outside the text; now it is the line, which the matcher
  // then reports as a record that cannot be parsed.
  const std::string broken = R"({"eventVersion":"1.08","userIdentity":{x,"eventName":"A"})";
  for (const std::string& text :
       {std::string(R"({"eventName":"B"})") + "\n" + broken + "\n" + R"({"eventName":"C"})" + "\n",
        broken}) {
    CAPTURE(text);
    auto o = read_text(text);
    for (const auto& r : o.records) {
      CHECK_FALSE(r.empty());
      CHECK(r.front() == '{');
    }
    CHECK(std::find(o.records.begin(), o.records.end(), broken) != o.records.end());
  }
}
