// Deliver stage: what the engine does with a matched unit before it may be acknowledged.
//
// - record_bad(): a unit's bad records (they can never be matched, so they are recorded instead
//   of retried) go to the bad-records file (agent/core/record_dead_letter.h), or are only
//   counted when there is none;
// - deliver(): the alerts go to every output's buffer (DeliveryPipeline::submit), and with the
//   de-duplication window on (run), those the window knows are dropped first and the uids of
//   the others are remembered — durably, before any buffer may remove them (before_ack). After
//   a crash anywhere a buffer still holds each alert or the window knows it (or both), so a
//   unit delivered again never alerts twice. The window is keyed by the finding uid, which
//   carries the record's trust domain: an inline event only ever suppresses an inline event.
//
// Crash points (agent/common/failpoint.h): before-dedup-sync, after-dedup-sync. Deliveries are
// serialised (one lock: check, write, remember). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/engine/dedup.h"
#include "agent/engine/processor.h"
#include "agent/core/record_dead_letter.h"
#include "agent/metrics/metrics.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden {

struct DeliveryOptions {
  bool dedup = true;           // the de-duplication window (run); replay delivers everything
  std::string dedup_path;      // "" = memory only
  size_t dedup_capacity = 200000;
  std::string bad_records_path;  // "" = bad records are logged and counted only
  uint64_t bad_records_max_bytes = uint64_t{64} << 20;
};

struct DeliveryCounters {
  std::atomic<uint64_t> records_failed{0};     // bad records: not matched, dead-lettered
  std::atomic<uint64_t> alerts_sent{0};
  std::atomic<uint64_t> alerts_suppressed{0};  // duplicates of already delivered alerts
  // From the notification's SentTimestamp to its alert being handed to the outputs, seconds.
  Histogram notification_to_alert_seconds{Histogram::latency_buckets()};
};

// Registers the delivery metrics (alerts handed over and suppressed, bad records, latency).
// `counters` must outlive `registry`.
void register_delivery_metrics(MetricsRegistry& registry, const DeliveryCounters& counters);

class DeliveryStage {
 public:
  DeliveryStage(DeliveryOptions options, DeliveryPipeline& outputs, const Clock& clock);

  // Opens the window (once). False with `error` if it cannot be opened.
  bool open(std::string& error);
  // The uids of alerts a previous run left in the output buffers: remembered (durably) before
  // any of them is delivered and before any unit is received.
  bool remember_buffered(const std::vector<std::string>& uids, std::string& error);

  // Records the result's bad records. Returns an error (the unit is then kept) or "".
  std::string record_bad(const std::string& name, const std::string& message_id,
                         const ObjectResult& result);
  // Delivers the alerts. Returns an error (the unit is then kept) or "". `sent_ms`: when the
  // unit was sent to its source (0: unknown), for the latency histogram.
  std::string deliver(const std::vector<AlertRecord>& alerts, int64_t sent_ms);

  const DeliveryCounters& counters() const { return counters_; }

 private:
  DeliveryOptions options_;
  DeliveryPipeline& outputs_;
  const Clock& clock_;
  DedupWindow dedup_;
  RecordDeadLetterFile bad_records_;
  DeliveryCounters counters_;
  std::mutex mu_;  // serialises delivery: check duplicate, write, flush, remember
  bool open_ = false;  // start-up only (remember_buffered, the engine's run)
};

}  // namespace trailwarden
