#include "agent/engine/processor.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include "agent/aws/sigv4.h"
#include "agent/common/memory.h"
#include "agent/decode/event_time_field.h"
#include "agent/decode/input.h"
#include "agent/decode/shapes.h"

namespace trailwarden {

namespace {

// Bad records logged one by one per object; the rest are summed up in one line (they are all
// in the result, and in `run`'s dead-letter file).
constexpr uint64_t kBadRecordsLogged = 10;

// Keeps in `newest` the larger of it and the record's eventTime `t` (YYYY-MM-DDTHH:MM:SSZ
// compares as text).
void note_event_time(std::string_view t, std::string_view not_after, std::string& newest) {
  if (t.size() != 20 || t[4] != '-' || t[10] != 'T' || t[19] != 'Z') return;
  if (!not_after.empty() && t > not_after) return;  // same fixed format: compares as text
  if (newest.empty() || t > std::string_view(newest)) newest.assign(t);
}

// SHA-256 (lowercase hex) of `dropped` followed by `text`: the inflated bytes as read. Nothing
// is dropped from what CloudTrail writes, so the copy is for other files only.
std::string inflated_sha256(std::string_view dropped, std::string_view text) {
  if (dropped.empty()) return aws::sha256_hex(text);
  std::string whole;
  whole.reserve(dropped.size() + text.size());
  whole.append(dropped).append(text);
  return aws::sha256_hex(whole);
}

}  // namespace

ObjectProcessor::ObjectProcessor(const rules::RuleMatcher& matcher, const DecodeLimits& limits,
                                 const OcsfOptions& ocsf, MemoryPolicy memory)
    : matcher_(matcher),
      limits_(limits),
      ocsf_(ocsf),
      memory_(memory),
      reader_(limits),
      session_(matcher, limits) {
  on_match_ = [this](size_t slot, std::string_view raw, const simdjson::dom::element* record) {
    NormalizeNotes notes;
    result_->alerts.push_back(make_alert(*matcher_.rules()[slot], raw, record, ocsf_, origin_, &notes));
    if (notes.time_unparsed) ++result_->alerts_time_unparsed;
    ++result_->per_rule[slot];
  };
}

void ObjectProcessor::start(const std::string& name, ObjectResult& result) {
  result_ = &result;
  name_ = &name;
  if (origin_.route == RecordOrigin::Route::kLocalFile) origin_.path = name;  // metadata.log_name
  result = ObjectResult{};
  event_slots_.reset(event_slots_not_after_ms_);
  result.per_rule.assign(matcher_.rules().size(), 0);
}

void ObjectProcessor::fail(const std::string& error, ObjectResult& result) {
  result.failed = true;
  result.error = error;
}

void ObjectProcessor::process_raw(const std::string& name, ObjectResult& result) {
  start(name, result);
  decode_and_match(name, result);
  finish_slots(result);
  log_bad_records();
  release_memory();
}

void ObjectProcessor::finish_slots(ObjectResult& result) { event_slots_.take(result.event_slots); }

void ObjectProcessor::decode_and_match(const std::string& name, ObjectResult& result) {
  std::string error;
  result.bytes_read = raw_.size();
  if (!decode_to_json(raw_.view(), limits_, json_, error, describe_objects_ ? &dropped_ : nullptr))
    return fail(error, result);
  // Hashed now: prepare() and read() may change the text (lookup-events unwrapped, invalid
  // UTF-8 replaced by '?'), and the hash is of the bytes as read.
  if (describe_objects_) result.content_sha256 = inflated_sha256(dropped_, json_.view());
  reader_.prepare(json_);  // lookup-events: CloudTrailEvent strings into records (decode/shapes.h)
  result.bytes_decoded = json_.size();
  const uint64_t evaluated_before = session_.counters().evaluated;
  session_.begin(json_.view());
  bool ok = reader_.read(json_, *this, result.stats, error);
  result.evaluated = session_.counters().evaluated - evaluated_before;
  if (!ok)
    return fail(fmt::format("{} ({} records read before the error)", error, result.stats.records),
                result);
  switch (result.stats.kind) {
    case FileKind::kDigest:
      if (!describe_objects_) {
        spdlog::info("{}: CloudTrail digest file, skipped", name);
        break;
      }
      keep_digest_text(result);
      spdlog::debug("{}: CloudTrail digest file, handed to the integrity check", name);
      break;
    case FileKind::kOther:
      if (result.stats.bad_records == 0)  // (bad records were named one by one)
        spdlog::warn("{}: nothing could be evaluated: {} (docs/configuration.md, \"What replay "
                     "reads\")",
                     name, result.stats.first_unrecognised.empty()
                               ? "JSON that is none of the input shapes"
                               : result.stats.first_unrecognised);
      break;
    case FileKind::kRecords:
      if (result.stats.shapes != kShapeLogFile || result.stats.line_delimited)
        spdlog::info("{}: {}, {} records", name,
                     describe_shapes(result.stats.shapes, result.stats.line_delimited),
                     result.stats.records);
      if (result.stats.unrecognised)
        spdlog::warn("{}: {} parts are none of the input shapes and were not matched (the first: "
                     "{})",
                     name, result.stats.unrecognised, result.stats.first_unrecognised);
      if (result.stats.skipped_non_objects)
        spdlog::warn("{}: {} elements of \"Records\" are not objects and were skipped", name,
                     result.stats.skipped_non_objects);
      break;
  }
}

void ObjectProcessor::keep_digest_text(ObjectResult& result) {
  // The text as read: read() may have replaced bytes in json_, so the (small) digest is
  // decoded again from raw_, which nothing changed.
  Buffer text;
  std::string error;
  if (!decode_to_json(raw_.view(), limits_, text, error, &dropped_)) return;  // decoded before
  result.digest_text.reserve(dropped_.size() + text.size());
  result.digest_text.assign(dropped_).append(text.view());
}

void ObjectProcessor::process_event(const std::string& name, std::string_view json,
                                    ObjectResult& result) {
  start(name, result);
  result.bytes_read = result.bytes_decoded = json.size();
  json_.assign(json);
  session_.begin(json_.view());
  result.stats.kind = FileKind::kRecords;
  result.stats.elements = 1;
  const uint64_t evaluated_before = session_.counters().evaluated;
  const std::string why = record_limit_error(json_.view(), limits_);
  if (!why.empty()) {
    on_bad_record(0, json_.view(), why);
  } else {
    result.stats.records = 1;
    on_record(json_.view());
  }
  result.evaluated = session_.counters().evaluated - evaluated_before;
  finish_slots(result);
  log_bad_records();
  release_memory();
}

void ObjectProcessor::on_record(std::string_view raw) {
  if (track_event_time_ || track_event_slots_) {
    const std::string_view t = find_event_time_text(raw);
    if (track_event_time_) note_event_time(t, event_time_not_after_, result_->newest_event_time);
    if (track_event_slots_) event_slots_.add(t);
  }
  const uint64_t repaired_before = session_.counters().repaired;
  const bool parsed = session_.match(raw, on_match_);
  if (session_.counters().repaired != repaired_before &&
      ++result_->repaired_records <= kBadRecordsLogged)
    spdlog::warn("{}: record {} holds a lone UTF-16 surrogate escape; matched with it replaced "
                 "by \\ufffd",
                 *name_, result_->stats.elements - 1);
  if (!parsed) {
    // Found bad only now, by the matcher's parse: not a record after all.
    --result_->stats.records;
    ++result_->stats.bad_records;
    on_bad_record(result_->stats.elements - 1, raw,
                  fmt::format("the record could not be parsed: {}", session_.last_error()));
  }
}

void ObjectProcessor::on_bad_record(size_t index, std::string_view raw, const std::string& reason) {
  ObjectResult& r = *result_;
  ++r.bad_record_count;
  if (r.bad_record_count <= kBadRecordsLogged)
    spdlog::error("{}: record {} is bad and was not matched: {}", *name_, index, reason);
  if (r.bad_records.size() < ObjectResult::kMaxBadRecordsKept) {
    BadRecord b;
    b.index = index;
    b.reason = reason;
    b.bytes = raw.size();
    b.excerpt.assign(raw.substr(0, BadRecord::kExcerptBytes));
    r.bad_records.push_back(std::move(b));
  }
}

void ObjectProcessor::log_bad_records() {
  const ObjectResult& r = *result_;
  if (r.bad_record_count > kBadRecordsLogged)
    spdlog::error("{}: {} bad records in all ({} more than logged above); the other {} records "
                  "were matched",
                  *name_, r.bad_record_count, r.bad_record_count - kBadRecordsLogged,
                  r.stats.records);
}

bool ObjectProcessor::release_memory() {
  bool released = raw_.release_above(memory_.retain_object_bytes);
  released |= json_.release_above(memory_.retain_object_bytes);
  released |= reader_.release_memory(memory_.retain_object_bytes);
  released |= session_.release_memory(memory_.retain_record_bytes, memory_.retain_object_bytes / 8);
  if (released) return_free_memory();
  return released;
}

}  // namespace trailwarden
