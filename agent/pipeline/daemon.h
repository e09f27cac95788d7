// Daemon: the live pipeline behind `trailwarden run`. It long-polls a MessageQueue for
// notifications, fetches the CloudTrail objects they name from an ObjectStore, matches every
// record, delivers the alerts to the outputs, and deletes a message only when every record of
// every object it names was matched and every alert was written and flushed (at least once,
// never losing a record).
//
// Threads: run() polls on the caller's thread; `workers` threads fetch and process objects; one
// acknowledgement thread deletes finished messages in batches and extends the visibility
// timeout of those still in work (heartbeat). Backpressure: no more than max_in_flight
// messages are received and unfinished at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/decode/limits.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/rule.h"
#include "agent/sources/queue.h"
#include "outputs/pipeline/pipeline.h"

namespace trailwarden {

struct DaemonOptions {
  // SQS
  size_t max_messages = 10;                     // per ReceiveMessage, 1..10
  std::chrono::seconds wait_time{20};           // long-poll wait, 0..20
  std::chrono::seconds visibility_timeout{300};  // hidden this long after receive / heartbeat
  std::chrono::seconds heartbeat_interval{0};   // 0: visibility_timeout / 3
  size_t max_in_flight = 32;                    // messages received and not yet finished
  size_t workers = 2;                           // object fetch + processing threads
  std::chrono::seconds shutdown_deadline{30};   // on stop, time allowed for in-flight work
  // What may be fetched
  std::vector<std::string> allowed_buckets;     // required: anything else is refused
  std::vector<std::string> key_prefixes;        // empty: any key
  bool include_digest = false;                  // CloudTrail-Digest objects
  bool include_insights = false;                // CloudTrail-Insight objects
  size_t max_object_bytes = size_t{128} << 20;
  int fetch_attempts = 4;                       // tries for retryable fetch errors
  std::chrono::milliseconds retry_base{200};    // backoff: base * 2^n with full jitter
  std::chrono::milliseconds retry_max{20000};
  // Processing
  DecodeLimits limits;
  OcsfOptions ocsf;
  // De-duplication of redelivered alerts: file in the state directory ("" = memory only).
  std::string dedup_path;
  size_t dedup_capacity = 200000;
};

struct DaemonCounters {
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_deleted{0};
  std::atomic<uint64_t> messages_failed{0};      // left for redelivery / the dead-letter queue
  std::atomic<uint64_t> messages_unknown{0};     // not understood, never deleted
  std::atomic<uint64_t> messages_test_events{0};
  std::atomic<uint64_t> notifications_refused{0};  // objects outside allowed buckets/prefixes
  std::atomic<uint64_t> objects_skipped{0};      // digest / insight / not a log object
  std::atomic<uint64_t> objects_fetched{0};
  std::atomic<uint64_t> bytes_fetched{0};
  std::atomic<uint64_t> fetch_retries{0};
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> alerts_sent{0};
  std::atomic<uint64_t> alerts_suppressed{0};    // duplicates of already delivered alerts
  std::atomic<uint64_t> visibility_extensions{0};
  std::atomic<uint64_t> poll_errors{0};
};

class Daemon {
 public:
  // All references must outlive the daemon. `rules` are the enabled rules.
  Daemon(DaemonOptions options, MessageQueue& queue, ObjectStore& store,
         std::vector<const rules::Rule*> rules, OutputPipeline& outputs);
  ~Daemon();

  // Runs until `stop` becomes true (then finishes in-flight work within shutdown_deadline,
  // flushes and deletes what is complete) or a fatal error. Returns the exit status: 0 after a
  // clean stop, 1 after a fatal error (queue missing, access denied, output failure).
  int run(const std::atomic<bool>& stop);

  const DaemonCounters& counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trailwarden
