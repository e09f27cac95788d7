// BackfillSource: log files that a valid digest lists and that no notification brought
// (docs/integrity.md, "Completeness"). The integrity stage add()s them; the engine reads them
// through this Source like notified objects (fetch → match → stages → deliver), so their
// alerts go out as if their notification had come and the stage checks their hash.
//
// Each added object becomes one unit: WorkUnit::Payload::kObjects naming that one object (as
// given: bucket, key, and whatever else the caller set), name "backfill s3://bucket/key",
// origin route kS3Object with the bucket and key and notification "backfill", sent_ms 0 (no
// notification was sent: notification_to_alert_seconds is not observed for it).
//
// Lifecycle of an object:
// - add() queues it, due at once. next() hands out due objects, oldest due first, each under a
//   fresh token (a done() for an earlier hand-out is never taken for the current one).
// - done(ok): finished, forgotten; on_finished(object, true, "").
// - done(!ok) (not found, access denied, not gzip, outputs down): one failed try. Before
//   `attempts` failed tries it is queued again, due retry_after later (WARN); at `attempts` it is
//   given up and forgotten: on_finished(object, false, why) (ERROR: its records are not
//   matched).
// - release() at shutdown: queued again with its place (due as before), not counted as a try.
// - done() or release() for a token not in flight (unknown, already done, released) is ignored.
//
// Counters: backfilled counts objects at their first hand-out, retried each hand-out after a
// failed try (a hand-out after a release counts nothing), failed the objects given up, dropped
// the add()s refused because max_pending objects were queued or in flight (or the object named
// no bucket or key), pending is queued + in flight.
//
// Never ends (kEnd), never fails (kFatal) and never waits in next(): it is a side queue of
// `run`, merged with the main source (agent/sources/merged_source.h). Its tokens never have the
// top bit set. The same object (bucket and key) is not queued twice while queued or in flight.
// The queue is in memory: a restart forgets it (the integrity stage finds the files again).
// on_finished is called without the source's lock held (it may add()), from the thread that
// called done(). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/core/clock.h"
#include "agent/metrics/metrics.h"
#include "agent/sources/source.h"

namespace trailwarden {

struct BackfillOptions {
  int attempts = 3;  // tries per object (values under 1 are taken as 1)
  std::chrono::milliseconds retry_after{std::chrono::minutes(5)};
  size_t max_pending = 100000;  // objects queued or in flight
};

struct BackfillCounters {
  std::atomic<uint64_t> backfilled{0};  // objects handed out the first time
  std::atomic<uint64_t> retried{0};     // handed out again after a failure
  std::atomic<uint64_t> failed{0};      // given up after `attempts`
  std::atomic<uint64_t> dropped{0};     // refused by add(): max_pending reached
  std::atomic<int64_t> pending{0};      // queued or in flight (gauge)
};

// trailwarden_integrity_backfilled_total, _backfill_retries_total, _backfill_failed_total,
// _backfill_dropped_total and the gauge _backfill_pending (docs/monitoring.md). `counters`
// must outlive `registry`.
void register_backfill_metrics(MetricsRegistry& registry, const BackfillCounters& counters);

class BackfillSource final : public Source {
 public:
  // Called once per added object when it is finished: ok, or given up with why.
  using Finished = std::function<void(const ObjectRef& object, bool ok, const std::string& why)>;

  explicit BackfillSource(BackfillOptions options = {}, const Clock& clock = system_clock());

  // Before the engine runs.
  void on_finished(Finished finished);

  // Queues `object` (reason: why, for the log: "listed in <digest key>"). false if it is
  // already queued or in flight (nothing done), if the queue is full or the object names no
  // bucket or key (both counted in dropped, logged at WARN).
  bool add(const ObjectRef& object, const std::string& reason);

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) override;
  void done(AckToken token, bool ok, const std::string& why) override;
  void release(const std::vector<AckToken>& unfinished) override;
  void close() override {}

  const BackfillCounters& counters() const { return counters_; }

 private:
  struct Item {
    ObjectRef object;
    std::string reason;
    int failures = 0;        // failed tries so far
    Clock::Steady due{};     // while queued: not handed out before
    AckToken token = 0;      // while in flight: its current hand-out, else 0
    bool counted = false;    // the current try was counted (backfilled or retried)
  };
  void set_pending_locked();

  BackfillOptions options_;
  const Clock& clock_;
  Finished finished_;
  std::mutex mu_;
  std::map<std::string, Item> items_;                    // queued and in flight, by s3://b/k
  std::multimap<Clock::Steady, std::string> queue_;      // queued: due time -> s3://b/k
  std::unordered_map<AckToken, std::string> in_flight_;  // hand-out token -> s3://b/k
  AckToken next_token_ = 1;
  bool full_logged_ = false;  // the "queue full" WARN was said since it last had room
  BackfillCounters counters_;
};

}  // namespace trailwarden
