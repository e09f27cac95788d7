// ObjectProcessor: the per-object work shared by `replay` (local files) and `run` (S3 objects
// and EventBridge events): decode the bytes (gzip or JSON), walk the CloudTrail records, match
// them against the rules and render one OCSF finding per match. One processor per thread: it
// owns its buffers, parsers and prefilter scratch and reuses them from object to object.
//
// Outcomes for one object (ObjectResult):
// - bad file (decode failure, broken JSON structure, too many records): `failed`, with the
//   alerts of the records before the break;
// - bad records (agent/decode/cloudtrail.h: over a per-record limit, invalid UTF-8 or control
//   characters, or not parseable where the matcher parses it): listed in `bad_records`, logged
//   at ERROR with the object's name and the record's index; every other record is matched as
//   usual and the object is not `failed` because of them.
//
// Memory: buffers and parser capacity sized for objects up to MemoryPolicy::retain_object_bytes
// (and records up to retain_record_bytes) are kept for the next object — no allocation in
// steady state. After a larger one they are freed and the heap is trimmed, so a worker's
// memory returns to its steady-state size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/decode/cloudtrail.h"
#include "agent/decode/limits.h"
#include "agent/engine/event_slots.h"
#include "agent/normalize/ocsf.h"
#include "agent/core/record_dead_letter.h"
#include "agent/rules/matcher.h"

namespace trailwarden {

struct ObjectResult {
  std::vector<AlertRecord> alerts;
  std::vector<uint64_t> per_rule;  // matches per rule slot
  ParseStats stats;
  uint64_t evaluated = 0;  // records parsed for evaluation
  uint64_t bytes_read = 0;
  uint64_t bytes_decoded = 0;
  std::string newest_event_time;  // largest "eventTime" seen (ISO 8601), if tracked
  // Every record's eventTime as the start of its kEventSlotMs slot (agent/engine/stage.h),
  // sorted and unique, when track_event_slots() is on (the alarm stage's watermark).
  std::vector<int64_t> event_slots;
  bool failed = false;
  std::string error;  // why it failed (already logged at ERROR with the object's name)
  // Bad records, in order: the first kMaxBadRecordsKept of them with an excerpt each;
  // bad_record_count counts them all.
  std::vector<BadRecord> bad_records;
  uint64_t bad_record_count = 0;
  // Records matched after their lone surrogate escapes were replaced by \ufffd (logged at WARN;
  // agent/decode/surrogates.h says why they are not bad records).
  uint64_t repaired_records = 0;
  // Alerts whose record had no usable eventTime: their time is the processing time
  // (NormalizeNotes; trailwarden_alert_time_unparsed_total).
  uint64_t alerts_time_unparsed = 0;
  // When describe_objects() is on and the object could be decoded: the lowercase hex SHA-256
  // of its inflated bytes exactly as read (before any repair of invalid UTF-8; what a CloudTrail
  // digest lists as hashValue). Empty otherwise.
  std::string content_sha256;
  // When describe_objects() is on and the object is a CloudTrail digest file (stats.kind ==
  // FileKind::kDigest): its inflated text exactly as read (its hash is content_sha256).
  std::string digest_text;

  static constexpr size_t kMaxBadRecordsKept = 1000;
};

struct MemoryPolicy {
  // Decompressed object size up to which buffers and the file parser are kept between objects.
  size_t retain_object_bytes = size_t{64} << 20;
  // Record size up to which the record (DOM) parser's capacity is kept between objects.
  size_t retain_record_bytes = size_t{1} << 20;
};

class ObjectProcessor : private RecordVisitor {
 public:
  ObjectProcessor(const rules::RuleMatcher& matcher, const DecodeLimits& limits,
                  const OcsfOptions& ocsf, MemoryPolicy memory = {});

  // Also find each record's "eventTime" and keep the newest in ObjectResult (for the daemon's
  // event-age metric; a short scan of the record's text, no parsing: find_event_time_text). Times later than
  // `not_after` ("2025-01-01T00:00:00Z"; "": no limit) are left out: one record with a clock far
  // ahead must not stand for the newest event for the rest of the run.
  void track_event_time(bool on, std::string not_after = {}) {
    track_event_time_ = on;
    event_time_not_after_ = std::move(not_after);
  }

  // Also report every record's eventTime in ObjectResult::event_slots (the alarm stage's
  // watermark: records that match no rule move event time too). Times after `not_after_ms`
  // (0: no limit) are left out, as for track_event_time.
  void track_event_slots(bool on, int64_t not_after_ms = 0) {
    track_event_slots_ = on;
    event_slots_not_after_ms_ = not_after_ms;
  }

  // Also describe each object of the next process_raw() calls for a stage that checks objects
  // (agent/engine/stage.h, Stage::wants_objects): ObjectResult::content_sha256 (one SHA-256
  // pass over the inflated bytes) and, for a digest file, ObjectResult::digest_text (digests
  // are small: decode limits bound them). A digest is then logged at DEBUG as handed to the
  // integrity check instead of at INFO as skipped. Off (the default): no hashing, no copy.
  void describe_objects(bool on) { describe_objects_ = on; }

  // The rules, by the slots of ObjectResult::per_rule.
  const std::vector<const rules::Rule*>& rules() const { return matcher_.rules(); }

  // Where the records of the next process_raw() / process_event() calls come from (default:
  // a local file). Their alerts say so, and inline events get uids of their own trust domain.
  void set_origin(RecordOrigin origin) { origin_ = std::move(origin); }

  // Read only CloudTrail log files ({"Records":[...]}) in the next process_raw() calls, as
  // CloudTrail writes them to S3; off (the default): every input shape of agent/decode/shapes.h.
  void set_log_files_only(bool on) { reader_.set_log_files_only(on); }

  // The buffer to read an object's raw bytes into before calling process_raw().
  Buffer& raw_buffer() { return raw_; }

  // Decodes raw_buffer() and matches its records. `name` names the object in messages.
  void process_raw(const std::string& name, ObjectResult& result);
  // Matches one standalone CloudTrail record given as JSON text (an EventBridge event). An
  // event over a per-record limit or that cannot be parsed is a bad record (index 0).
  void process_event(const std::string& name, std::string_view json, ObjectResult& result);
  // Records a failure (the input could not be read or decoded) in `result`. Not logged: the
  // component that decides what becomes of the input says so once (in `run` the source, at
  // WARN, since the message is kept for redelivery; `replay`, at ERROR, since the file is not
  // evaluated).
  void fail(const std::string& error, ObjectResult& result);

  // Frees what the last object grew past the MemoryPolicy (then trims the heap). Called at the
  // end of process_raw() and process_event(); returns true if anything was freed.
  bool release_memory();
  // Bytes of buffer capacity held between objects (raw and decoded text).
  size_t buffer_capacity() const { return raw_.capacity() + json_.capacity(); }

 private:
  void on_record(std::string_view raw) override;
  void on_bad_record(size_t index, std::string_view raw, const std::string& reason) override;
  void start(const std::string& name, ObjectResult& result);
  void decode_and_match(const std::string& name, ObjectResult& result);
  void log_bad_records();
  void finish_slots(ObjectResult& result);
  void keep_digest_text(ObjectResult& result);

  const rules::RuleMatcher& matcher_;
  DecodeLimits limits_;
  OcsfOptions ocsf_;
  MemoryPolicy memory_;
  Buffer raw_;
  Buffer json_;
  CloudTrailReader reader_;
  rules::MatchSession session_;
  rules::MatchSession::OnMatch on_match_;
  ObjectResult* result_ = nullptr;
  const std::string* name_ = nullptr;
  bool track_event_time_ = false;
  std::string event_time_not_after_;
  bool describe_objects_ = false;
  std::string dropped_;  // what decode_to_json dropped before the JSON (a BOM, white space)
  bool track_event_slots_ = false;
  int64_t event_slots_not_after_ms_ = 0;
  EventSlotSet event_slots_;  // the current object's, when track_event_slots_
  RecordOrigin origin_;
};

}  // namespace trailwarden
