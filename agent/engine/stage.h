// Stage: a step between matching and delivery that sees every alert of a unit and decides what
// goes on. The engine calls its stage from the worker that matched the unit (several workers at
// once: a stage is thread-safe). PassThrough (the default) lets alerts go on as they are; the
// alarm stage (agent/alarms/alarm_stage.h) counts matches over event time, may drop per-record
// alerts and adds one alert per alarm transition.
//
// Time: a stage that keeps state over event time learns how far the stream has gone from every
// unit, matching or not (StageUnit::event_slots), from the engine's wall-clock tick while the
// stream is idle (run), and from finish() at the end of a finite input (replay). The engine owns
// the threads: tick() and finish() are called from its receiving loop, and what they return is
// delivered like a unit's alerts.
//
// Exactly once: a unit may come again (an SQS message redelivered, a second notification for
// the same object, a Kafka offset not committed). The engine gives each unit an identity
// (StageUnit::identity) so that a stage with durable state counts it once; and it reports
// which alerts reached every output's buffer (delivered()), so that a stage can send again what
// a failed delivery or a crash kept from them.
//
// Several stages: StageChain (agent/engine/stage_chain.h) puts them in the one slot, in order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"
#include "agent/core/clock.h"
#include "agent/sources/queue.h"

namespace trailwarden {

// The width of the event-time slots a unit reports: every alarm period (10 s, 30 s or a
// multiple of 60 s) is a whole number of slots.
inline constexpr int64_t kEventSlotMs = 10'000;

// One S3 object of a unit as read, for a stage that checks objects (Stage::wants_objects; the
// integrity stage, agent/integrity/integrity_stage.h). The views live as long as the StageUnit.
struct StageObject {
  enum class Kind {
    kLogFile,  // a CloudTrail log file ({"Records":[...]}), decoded (failed objects never get here)
    kDigest,   // a CloudTrail digest file (agent/decode/cloudtrail.h FileKind::kDigest)
    kOther,    // anything else the processor skipped
  };
  Kind kind = Kind::kOther;
  std::string_view bucket;  // as read (the key may be the URL-decoded one: FetchOutcome::read)
  std::string_view key;
  // kLogFile: lowercase hex SHA-256 of the object's inflated bytes exactly as read, before any
  // repair of invalid UTF-8 (what CloudTrail's digest lists as hashValue).
  std::string_view sha256;
  // kDigest: the inflated digest JSON, exactly as read (its SHA-256 and signature are checked).
  std::string_view content;
  // GetObject's response metadata (kDigest: x-amz-meta-signature, -signature-algorithm).
  const ObjectMetadata* metadata = nullptr;
  int64_t sent_ms = 0;  // when its notification was sent (epoch ms), 0 if unknown
};

struct StageUnit {
  std::vector<AlertRecord>& alerts;  // the unit's, in record order: keep, drop, add
  // The eventTime of every record of the unit (matching or not), each as the start of its
  // kEventSlotMs slot (ms since the epoch), sorted and unique; empty when the unit had no
  // record with a usable eventTime or the engine was not asked to track them
  // (Stage::wants_event_times). Times further ahead than the clock skew allows are left out.
  const std::vector<int64_t>& event_slots;
  // What the unit is, the same each time it comes again: "s3://bucket/key",
  // "kafka://topic/partition@offset#<digest of its bytes>", "eventbridge:<event id>#<digest of
  // its bytes>"; empty when it has none (a replayed file: each run reads its input once) or the
  // stage does not want it (Stage::wants_unit_identity).
  std::string_view identity = {};
  // The object this task read, when the stage wants objects (Stage::wants_objects) and the unit
  // named S3 objects (WorkUnit::Payload::kObjects); nullptr otherwise.
  const StageObject* object = nullptr;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Whether the processor must report every record's event time (StageUnit::event_slots); a
  // short scan of each record's text, so false unless the stage needs it.
  virtual bool wants_event_times() const { return false; }
  // Whether the engine must give each unit its identity (StageUnit::identity): a digest of an
  // event's or message's bytes, so false unless the stage counts units once.
  virtual bool wants_unit_identity() const { return false; }
  // Whether the engine must describe each S3 object read (StageUnit::object): it then reads
  // objects with their metadata, hashes every log file's inflated bytes (one SHA-256 pass) and
  // keeps digest files' text for the stage instead of skipping them. false unless needed.
  virtual bool wants_objects() const { return false; }
  // Returns "" or why the unit cannot go on (its state could not be saved): then the engine
  // delivers none of its alerts and fails the unit, which its source retries.
  virtual std::string process(StageUnit& unit) = 0;
  // `run`, about every half second: the wall clock went on (an idle stream still closes
  // periods); appends alerts to deliver now.
  virtual void tick(Clock::Wall /*now*/, std::vector<AlertRecord>& /*out*/) {}
  // The input ended (replay): appends the alerts what was read still allows.
  virtual void finish(std::vector<AlertRecord>& /*out*/) {}
  // These alerts (of a unit, a tick or finish) are in every output's buffer, or were dropped as
  // already there (the de-duplication window).
  virtual void delivered(const std::vector<AlertRecord>& /*alerts*/) {}
};

// Alerts go on unchanged.
class PassThroughStage final : public Stage {
 public:
  std::string process(StageUnit&) override { return {}; }
};

}  // namespace trailwarden
