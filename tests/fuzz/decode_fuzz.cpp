// libFuzzer target: any bytes as an input object, through the whole replay path (format
// detection, gzip, the input shapes (NDJSON, lookup-events output unwrapped, EventBridge events),
// CloudTrail reader, prefilter, evaluation of every built-in rule, OCSF). The reader's
// invariants are checked: every record it hands out lies inside the scanned text, is within the
// per-record limits and is counted; every bad record says why. And the log-file fast path
// (agent/decode/log_file_scan.h) changes nothing: the same text read without it gives the same
// records, bad records, counts and error. The engine's per-record time helpers are checked on
// each line of the raw input against their plain definitions: find_event_time_text (vectorised
// and portable) against a string search, EventSlotSet against parse_event_time and a sort.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/decode/cloudtrail.h"
#include "agent/decode/event_time_field.h"
#include "agent/decode/input.h"
#include "agent/engine/event_slots.h"
#include "agent/engine/stage.h"
#include "agent/normalize/event_time.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "tests/unit/decode/event_time_reference.h"

using namespace trailwarden;

namespace {
struct Fixture {
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> ptrs;
  std::unique_ptr<rules::RuleMatcher> matcher;
  Fixture() {
    for (const auto& r : rules) ptrs.push_back(&r);
    matcher = std::make_unique<rules::RuleMatcher>(ptrs);
  }
};

// What a read gave, for comparing the reader with and without its fast path.
struct Trace : RecordVisitor {
  std::vector<std::string> seen;
  void on_record(std::string_view raw) override { seen.push_back("R" + std::string(raw)); }
  void on_bad_record(size_t index, std::string_view raw, const std::string& reason) override {
    seen.push_back("B" + std::to_string(index) + reason + std::string(raw));
  }
};

bool same_stats(const ParseStats& a, const ParseStats& b) {
  return a.kind == b.kind && a.records == b.records && a.bad_records == b.bad_records &&
         a.skipped_non_objects == b.skipped_non_objects && a.elements == b.elements &&
         a.shapes == b.shapes && a.line_delimited == b.line_delimited &&
         a.unrecognised == b.unrecognised && a.first_unrecognised == b.first_unrecognised;
}

struct Visitor : RecordVisitor {
  rules::MatchSession* session;
  std::string_view text;
  size_t max_record_bytes = 0;
  size_t records = 0, bad = 0;
  std::string out;
  void on_bad_record(size_t, std::string_view raw, const std::string& reason) override {
    ++bad;
    if (reason.empty() || raw.empty()) __builtin_trap();  // a bad record always says why
  }
  void on_record(std::string_view raw) override {
    ++records;
    // A record is a piece of the scanned text (the prefilter's hits are found by offset).
    if (raw.data() < text.data() || raw.data() + raw.size() > text.data() + text.size() ||
        raw.size() > max_record_bytes || raw.empty() || raw.front() != '{')
      __builtin_trap();
    session->match(raw, [&](size_t slot, std::string_view r, const simdjson::dom::element* e) {
      (void)slot;
      out.clear();
      rules::Rule rule;
      rule.id = "fuzz";
      append_detection_finding(out, rule, r, e, OcsfOptions{});
    });
  }
};
}  // namespace

namespace {

void check_time_helpers(std::string_view in) {
  static EventSlotSet set;
  set.reset(0);
  std::vector<int64_t> expected;
  for (size_t at = 0; at <= in.size();) {
    size_t nl = in.find('\n', at);
    if (nl == std::string_view::npos) nl = in.size();
    const std::string_view line = in.substr(at, nl - at);
    at = nl + 1;
    // A copy of exactly the line's size: a read past its end is an ASan report.
    const std::string copy(line);
    const std::string_view text = find_event_time_text(copy, true);
    if (text != find_event_time_text(copy, false) || text != test::plain_event_time_text(copy))
      std::abort();
    set.add(text);
    int64_t ms = 0;
    if (parse_event_time(text, ms)) expected.push_back(ms - ms % kEventSlotMs);
  }
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  std::vector<int64_t> got;
  set.take(got);
  if (got != expected) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  check_time_helpers(std::string_view(reinterpret_cast<const char*>(data), size));
  DecodeLimits limits;
  limits.max_decompressed_bytes = 1 << 20;
  limits.max_records_per_file = 1000;
  // The depth limit from the last byte (4 to 67), so records near and over it are common.
  if (size > 0) limits.max_depth = 4 + data[size - 1] % 64;
  static Buffer json;
  std::string error;
  if (!decode_to_json(std::string_view(reinterpret_cast<const char*>(data), size), limits, json, error))
    return 0;
  rules::MatchSession session(*fixture.matcher, limits);
  CloudTrailReader reader(limits);
  reader.prepare(json);
  {
    static Buffer copy;
    copy.assign(json.view());
    CloudTrailReader general(limits), fast(limits);
    general.set_fast_path(false);
    Trace a, b;
    ParseStats sa, sb;
    std::string ea, eb;
    const bool oa = general.read(copy, a, sa, ea);
    copy.assign(json.view());
    const bool ob = fast.read(copy, b, sb, eb);
    if (oa != ob || ea != eb || a.seen != b.seen || !same_stats(sa, sb)) __builtin_trap();
  }
  Visitor v;
  v.session = &session;
  v.text = json.view();
  v.max_record_bytes = limits.max_record_bytes;
  session.begin(json.view());
  ParseStats stats;
  (void)reader.read(json, v, stats, error);
  if (v.records != stats.records || v.bad != stats.bad_records) __builtin_trap();
  return 0;
}
