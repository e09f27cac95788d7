// SqsSource: the Source (agent/sources/source.h) behind `trailwarden run`. It long-polls a
// MessageQueue (SQS) for notifications and hands out one unit per message that names CloudTrail
// objects to read (or carries an inline EventBridge event the inline policy accepts):
//
// - receive: at most the room the engine has and at most max_messages per ReceiveMessage;
//   transient receive errors are retried with jittered backoff inside next() (counted in
//   poll_errors), anything else is fatal;
// - what a message may name: objects of allowed_buckets only (others are refused, counted, never
//   fetched), keys under key_prefixes, digest and insight objects only when asked for, the other
//   reading of an EventBridge key checked like the key; inline events as the inline policy says
//   (agent/sources/inline_policy.h; refused ones are deleted, the first refusal of an off route
//   at ERROR);
// - messages with nothing to read (s3:TestEvent, nothing wanted) are deleted at once; messages
//   not understood are counted, logged once per message id, never deleted (the queue's redrive
//   policy decides);
// - acknowledgement: done(ok) deletes in batches of 10 (retried with backoff, up to 8 times);
//   done(!ok) leaves the message for redelivery and the dead-letter queue, with one WARN line;
// - heartbeat: the acknowledgement thread extends the visibility of the messages still in work
//   every heartbeat interval; release() makes the unfinished visible again at once (visibility 0).
//
// Threads: next() on the engine's receiving thread; done() from any thread; one acknowledgement
// thread of its own, started by the first next() and ended by close().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/clock.h"
#include "agent/metrics/metrics.h"
#include "agent/sources/queue.h"
#include "agent/sources/source.h"

namespace trailwarden {

struct SqsSourceCounters {
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_deleted{0};
  std::atomic<uint64_t> messages_failed{0};        // left for redelivery / the dead-letter queue
  std::atomic<uint64_t> messages_unknown{0};       // not understood, never deleted
  std::atomic<uint64_t> messages_test_events{0};
  std::atomic<uint64_t> notifications_refused{0};  // objects outside allowed buckets
  std::atomic<uint64_t> inline_events_refused{0};  // inline events the inline policy refused
  std::atomic<uint64_t> objects_skipped{0};        // digest / insight / not a log object
  std::atomic<uint64_t> visibility_extensions{0};
  std::atomic<uint64_t> poll_errors{0};
  // Gauges
  std::atomic<uint64_t> in_flight{0};       // messages handed out and not finished
  std::atomic<int64_t> last_poll_ok_ms{0};  // wall clock of the last successful receive
};

// Backoff of the source's own retries (receive, delete). Tests shorten it.
struct SqsSourceTiming {
  std::chrono::milliseconds retry_base{200};
  std::chrono::milliseconds retry_max{20000};
};

class SqsSource final : public Source {
 public:
  // `queue` and `clock` must outlive the source; `config` is copied.
  SqsSource(const SqsSourceConfig& config, MessageQueue& queue, const Clock& clock = system_clock(),
            SqsSourceTiming timing = {});
  ~SqsSource() override;

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) override;
  void done(AckToken token, bool ok, const std::string& why) override;
  void release(const std::vector<AckToken>& unfinished) override;
  void close() override;

  const SqsSourceCounters& counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Registers the source's metrics (trailwarden_sqs_*, notifications and inline events refused,
// objects skipped; docs/monitoring.md). `source` must outlive `registry`.
void register_sqs_source_metrics(MetricsRegistry& registry, const SqsSource& source);

}  // namespace trailwarden
