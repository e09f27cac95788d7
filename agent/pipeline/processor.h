// ObjectProcessor: the per-object work shared by `replay` (local files) and `run` (S3 objects
// and EventBridge events): decode the bytes (gzip or JSON), walk the CloudTrail records, match
// them against the rules and render one OCSF finding per match. One processor per thread: it
// owns its buffers, parsers and prefilter scratch and reuses them from object to object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/decode/cloudtrail.h"
#include "agent/decode/limits.h"
#include "agent/normalize/ocsf.h"
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
  bool failed = false;
  std::string error;  // why it failed (already logged at ERROR with the object's name)
};

class ObjectProcessor : private RecordVisitor {
 public:
  ObjectProcessor(const rules::RuleMatcher& matcher, const DecodeLimits& limits,
                  const OcsfOptions& ocsf);

  // Also find each record's "eventTime" and keep the newest in ObjectResult (for the daemon's
  // event-age metric; a short scan of the record's text, no parsing). Times later than
  // `not_after` ("2025-01-01T00:00:00Z"; "": no limit) are left out: one record with a clock far
  // ahead must not stand for the newest event for the rest of the run.
  void track_event_time(bool on, std::string not_after = {}) {
    track_event_time_ = on;
    event_time_not_after_ = std::move(not_after);
  }

  // The rules, by the slots of ObjectResult::per_rule.
  const std::vector<const rules::Rule*>& rules() const { return matcher_.rules(); }

  // Where the records of the next process_raw() / process_event() calls come from (default:
  // a local file). Their alerts say so, and inline events get uids of their own trust domain.
  void set_origin(RecordOrigin origin) { origin_ = std::move(origin); }

  // The buffer to read an object's raw bytes into before calling process_raw().
  Buffer& raw_buffer() { return raw_; }

  // Decodes raw_buffer() and matches its records. `name` names the object in messages.
  void process_raw(const std::string& name, ObjectResult& result);
  // Matches one standalone CloudTrail record given as JSON text (an EventBridge event).
  void process_event(const std::string& name, std::string_view json, ObjectResult& result);
  // Records a failure that happened before processing (e.g. the object could not be read).
  void fail(const std::string& name, const std::string& error, ObjectResult& result);

 private:
  void on_record(std::string_view raw) override;
  void start(ObjectResult& result);

  const rules::RuleMatcher& matcher_;
  DecodeLimits limits_;
  OcsfOptions ocsf_;
  Buffer raw_;
  Buffer json_;
  CloudTrailReader reader_;
  rules::MatchSession session_;
  rules::MatchSession::OnMatch on_match_;
  ObjectResult* result_ = nullptr;
  bool track_event_time_ = false;
  std::string event_time_not_after_;
  RecordOrigin origin_;
  uint64_t first_bad_record_ = 0;
  std::string first_bad_error_;
};

}  // namespace trailwarden
