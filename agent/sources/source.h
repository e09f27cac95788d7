// Source: where the engine (agent/engine/engine.h) gets its work. A source hands out units of
// work — an SQS message, a local file, a Kafka record — and is told, exactly once per unit,
// when the unit is finished, so that it can acknowledge it in its own way. The engine knows
// nothing else about where units come from: a new input is one new Source.
//
// Contract:
// - next(max, stop, out) blocks up to the source's own wait (SQS: the long poll; files: not at
//   all) and appends at most `max` units to `out`. The engine asks only for as many units as it
//   has room for (backpressure: max in flight). It is called from one thread at a time.
//   Returns kOk (possibly with no unit: nothing yet), kEnd (the source is exhausted: a finite
//   input was read to its end) or kFatal (retrying cannot help: queue missing, access denied;
//   `error` says what, already counted by the source). Transient failures are the source's
//   business (retry with backoff inside next(), counted): they are kOk with no unit.
// - done(token, ok, why) is called exactly once per unit handed out, from any thread: ok = every
//   alert of the unit is durably in the outputs (or was a known duplicate) and every bad record
//   was recorded; !ok = the unit failed and must be kept for redelivery, `why` says what failed
//   (the engine does not log it: the source says once, at WARN, what it does with the unit).
//   The source acknowledges as it does (SQS: deletes in batches, a failed message stays on the queue;
//   Kafka: commits per partition the contiguous prefix of done offsets; files: nothing).
// - release(unfinished) on shutdown: the units handed out whose done() has not come and never
//   will as ok (the engine gave up on them at its deadline). The source gives them back
//   (SQS: visibility 0, so another agent takes them at once; Kafka: nothing is committed). A
//   done() that still comes for a released unit is ignored by the source (never acknowledged).
// - close() after the last done()/release(): finishes the acknowledgements still queued
//   (SQS: the last delete batches) and stops the source's own threads. Idempotent.
// - Keeping units alive while they are worked on (SQS: visibility heartbeats) is the source's
//   own work, on its own schedule: the engine does not drive it.
//
// Implementations must be safe for next() on one thread while done() comes from others.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/core/record_origin.h"
#include "agent/sources/notification.h"

namespace trailwarden {

// Opaque to the engine: the source's own handle on a unit (an index, an offset, a receipt).
using AckToken = uint64_t;

struct WorkUnit {
  // What the engine does with the unit.
  enum class Payload {
    kObjects,  // fetch `objects` from the object store (one task per object), match each
    kEvent,    // `bytes` is one standalone CloudTrail record as JSON (an EventBridge event)
    kBytes,    // `bytes` is a whole input in hand (a CloudTrail log file, gzip or JSON)
    kFile,     // read the local file `path` ("-": standard input)
  };
  Payload payload = Payload::kFile;
  std::string name;                // names the unit in logs ("message <id>", a path)
  std::vector<ObjectRef> objects;  // kObjects
  std::string bytes;               // kEvent, kBytes
  std::string path;                // kFile
  RecordOrigin origin;             // where the records come from (alerts say so)
  int64_t sent_ms = 0;             // when it was sent to the source (epoch ms), 0 if unknown
  AckToken token = 0;
};

class Source {
 public:
  enum class Status { kOk, kEnd, kFatal };

  virtual ~Source() = default;
  virtual Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
                      std::string& error) = 0;
  virtual void done(AckToken token, bool ok, const std::string& why) = 0;
  virtual void release(const std::vector<AckToken>& unfinished) = 0;
  virtual void close() = 0;
};

}  // namespace trailwarden
