// Daemon: the live pipeline behind `trailwarden run`. It long-polls a MessageQueue for
// notifications, fetches the CloudTrail objects they name from an ObjectStore, matches every
// record, delivers the alerts to the outputs, and deletes a message only when every record of
// every object it names was matched and every alert was written and flushed (at least once,
// never losing a record). A bad record (over a per-record limit, unparseable) cannot be matched
// on any delivery; it is written to the bad-records file instead, and counts as done.
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
#include "agent/metrics/metrics.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "agent/sources/inline_policy.h"
#include "agent/sources/queue.h"
#include "outputs/delivery/delivery_pipeline.h"

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
  // EventBridge CloudTrail events matched without S3 (off by default): what is accepted
  InlineEventPolicy inline_events;
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
  // Bad records (agent/pipeline/record_dead_letter.h) are written here ("" = logged only), in
  // a file kept under about twice this size.
  std::string bad_records_path;
  uint64_t bad_records_max_bytes = uint64_t{64} << 20;
};

// The rules a daemon matches with: the loaded rules (owned, or borrowed from the caller) and a
// matcher over the enabled ones. Immutable once built; shared by the worker threads, replaced
// as a whole by Daemon::replace_rules().
struct RuleSet {
  explicit RuleSet(std::vector<rules::Rule> all);           // owns them; matches the enabled
  explicit RuleSet(std::vector<const rules::Rule*> enabled);  // borrows; must outlive the set
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

  const std::vector<rules::Rule> owned;
  const std::vector<const rules::Rule*> enabled;
  const rules::RuleMatcher matcher;
};

struct DaemonCounters {
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_deleted{0};
  std::atomic<uint64_t> messages_failed{0};      // left for redelivery / the dead-letter queue
  std::atomic<uint64_t> messages_unknown{0};     // not understood, never deleted
  std::atomic<uint64_t> messages_test_events{0};
  std::atomic<uint64_t> notifications_refused{0};  // objects outside allowed buckets/prefixes
  std::atomic<uint64_t> inline_events_refused{0};  // inline events the inline policy refused
  std::atomic<uint64_t> objects_skipped{0};      // digest / insight / not a log object
  std::atomic<uint64_t> objects_fetched{0};
  std::atomic<uint64_t> bytes_fetched{0};
  std::atomic<uint64_t> fetch_retries{0};
  std::atomic<uint64_t> key_fallbacks{0};        // EventBridge keys read URL-decoded
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> records_failed{0};       // bad records: not matched, dead-lettered
  std::atomic<uint64_t> alerts_sent{0};
  std::atomic<uint64_t> alerts_time_unparsed{0};  // eventTime missing/unparseable: processing time
  std::atomic<uint64_t> alerts_suppressed{0};    // duplicates of already delivered alerts
  std::atomic<uint64_t> visibility_extensions{0};
  std::atomic<uint64_t> poll_errors{0};
  std::atomic<uint64_t> rule_reloads{0};
  // Gauges
  std::atomic<uint64_t> in_flight{0};              // messages received and not finished
  std::atomic<int64_t> last_poll_ok_ms{0};         // wall clock of the last successful receive
  std::atomic<int64_t> last_loop_ms{0};            // wall clock of the poll loop's last turn
  std::atomic<int64_t> newest_event_ms{0};         // newest CloudTrail eventTime processed
  std::atomic<bool> polling{false};                // the poll loop runs (after start-up)
  // Latencies, seconds: fetching and matching one object; from the notification's SentTimestamp
  // to its alert being handed to the outputs.
  Histogram object_seconds{Histogram::latency_buckets()};
  Histogram notification_to_alert_seconds{Histogram::latency_buckets()};
};

class Daemon {
 public:
  // All references must outlive the daemon. `rules` are the enabled rules.
  Daemon(DaemonOptions options, MessageQueue& queue, ObjectStore& store,
         std::vector<const rules::Rule*> rules, DeliveryPipeline& outputs);
  Daemon(DaemonOptions options, MessageQueue& queue, ObjectStore& store,
         std::shared_ptr<const RuleSet> rules, DeliveryPipeline& outputs);
  ~Daemon();

  // Crash consistency: the daemon records the uids of the alerts it hands to the outputs in
  // its de-duplication window before any output buffer may remove them (DeliveryPipeline::submit's
  // before_ack). Pass this, as DeliveryPipeline::start's `recovered`, before run(): it records
  // (durably) the uids of the alerts a previous run left in the buffers, so that a message that
  // named them and is delivered again does not alert twice. False with `error` if the window
  // cannot be opened or written.
  bool remember_buffered(const std::vector<std::string>& uids, std::string& error);

  // Runs until `stop` becomes true (then finishes in-flight work within shutdown_deadline,
  // flushes and deletes what is complete) or a fatal error. Returns the exit status: 0 after a
  // clean stop, 1 after a fatal error (queue missing, access denied, output failure).
  int run(const std::atomic<bool>& stop);

  const DaemonCounters& counters() const;

  // Matches per rule id since start (rules removed by a reload keep their counts).
  std::vector<std::pair<std::string, uint64_t>> matches_per_rule() const;

  // Replaces the rules (SIGHUP). Objects already being matched finish with the old rules;
  // every object started afterwards uses the new ones. Thread-safe.
  void replace_rules(std::shared_ptr<const RuleSet> rules);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trailwarden
