// BackfillSource: log files that a valid digest lists and that no notification brought
// (docs/integrity.md, "Completeness"). The integrity stage add()s them; the engine reads them
// through this Source like notified objects (fetch → match → stages → deliver), so their
// alerts go out as if their notification had come and the stage checks their hash.
//
// Each added object becomes one unit (WorkUnit::Payload::kObjects, one object, route
// kS3Object, name "backfill s3://bucket/key", notification "backfill"). A unit that fails
// (done(!ok): not found, access denied, not gzip, outputs down) is tried again after
// retry_after, up to `attempts` times; then on_finished(object, false, why) says it is given
// up. A unit done ok gives on_finished(object, true, ""). Units released at shutdown are
// kept for the next next() (not counted as attempts).
//
// Never ends (kEnd) and never fails (kFatal): it is a side queue of `run`, merged with the
// main source (agent/sources/merged_source.h). Bounded: at most max_pending objects queued or
// in flight; add() beyond refuses (counted in dropped, and the caller reports the file as not
// checked). The same object is not queued twice while queued or in flight. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/metrics/metrics.h"
#include "agent/sources/source.h"

namespace trailwarden {

struct BackfillOptions {
  int attempts = 3;
  std::chrono::milliseconds retry_after{std::chrono::minutes(5)};
  size_t max_pending = 100000;
};

struct BackfillCounters {
  std::atomic<uint64_t> backfilled{0};  // objects handed out the first time
  std::atomic<uint64_t> retried{0};     // handed out again after a failure
  std::atomic<uint64_t> failed{0};      // given up after `attempts`
  std::atomic<uint64_t> dropped{0};     // refused by add(): max_pending reached
  std::atomic<int64_t> pending{0};      // queued or in flight (gauge)
};

// trailwarden_integrity_backfilled_total and the others (docs/monitoring.md).
void register_backfill_metrics(MetricsRegistry& registry, const BackfillCounters& counters);

class BackfillSource final : public Source {
 public:
  // Called once per added object when it is finished: ok, or given up with why.
  using Finished = std::function<void(const ObjectRef& object, bool ok, const std::string& why)>;

  explicit BackfillSource(BackfillOptions options = {}, const Clock& clock = system_clock());

  // Before the engine runs.
  void on_finished(Finished finished);

  // Queues `object` (reason: why, for the log: "listed in <digest key>"). false if it is
  // already queued or in flight (nothing done) or the queue is full (counted in dropped).
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
    int attempts = 0;           // failed tries so far
    Clock::Steady not_before{};  // retry time
    bool in_flight = false;
  };
  BackfillOptions options_;
  const Clock& clock_;
  Finished finished_;
  mutable std::mutex mu_;
  std::map<AckToken, Item> items_;             // queued and in flight, by token
  std::map<std::string, AckToken> by_object_;  // "s3://bucket/key" -> token
  AckToken next_token_ = 1;
  BackfillCounters counters_;
};

}  // namespace trailwarden
