// KafkaSource: CloudTrail from Kafka topics through a consumer group (librdkafka's high-level
// consumer), with the same at-least-once guarantee as the SQS source: an offset is committed
// only after its message is done, so whatever was not done when the process stopped (or died)
// is consumed again by this or another member of the group. docs/kafka-source.md.
//
// It is a Source (agent/sources/source.h) like SqsSource and FileSource; the engine knows nothing
// else about it:
//   next(max, stop, out, error)  appends up to `max` units, waiting up to `wait` for the first.
//                     Each unit is one message: a WorkUnit with Payload::kBytes (the message
//                     value as it is: a CloudTrail record, an EventBridge event or a
//                     {"Records":[...]} document, decoded by the engine), its name
//                     "kafka://topic/partition@offset", its origin and an opaque AckToken.
//                     kFatal (with `error`) once the source cannot go on; never kEnd: a topic
//                     does not end.
//   done(token, ok, why)  exactly once per unit, from any thread. ok: every alert of the unit is
//                     durable in the outputs; !ok: keep it for redelivery (logged once at WARN).
//   release(unfinished)  at shutdown: those units are never committed; a done() that still
//                     comes for one of them is ignored.
//   close()           commits what is done (the contiguous prefix per partition), leaves the
//                     group, stops the poll thread. Idempotent; the destructor calls it.
//                     Bounded (Options::close_timeout): it unsubscribes while the poll thread
//                     still serves the revocation, then closes the consumer through a queue it
//                     serves itself; past the bound the consumer is destroyed without leaving
//                     the group (WARN: what was held and not committed). It never calls
//                     rd_kafka_consumer_close(), whose rebalance callback can wait forever.
// Keeping the group membership alive (max.poll.interval.ms) is the source's own poll thread's
// work, whatever the engine does.
//
// Commits (OffsetTracker): per partition, one past the contiguous prefix of done offsets, sent
// every commit_interval, after commit_batch done units, on revocation and at close(). A unit
// that fails holds its partition's commit point for the rest of the assignment: later units of
// that partition are still processed, and after a restart or rebalance they are consumed again
// with it (duplicate alerts are suppressed by the engine's de-duplication window).
//
// Backpressure: units handed out or waiting and not done are bounded by max_in_flight; at the
// bound every assigned partition is paused (rd_kafka_pause_partitions) while the poll thread
// keeps polling, and resumed below it. A partition whose failed or slow head keeps more than
// 4 * max_in_flight later units uncommitted is paused on its own.
//
// Rebalances (eager or cooperative, whatever partition.assignment.strategy says): on revoke the
// done prefix is committed synchronously (a commit the group refuses, REBALANCE_IN_PROGRESS or
// ILLEGAL_GENERATION, is not counted as committed: it is remembered and, when the partition is
// assigned to this member again ahead of the group's committed offset, consumption starts at it
// and it is committed then; close() waits, within its bound, for the rebalance a refusal
// announced and commits again), units of revoked partitions that were not handed out
// are dropped, and units in work are forgotten (their done() is ignored; the new owner consumes
// them from the committed offset). On assign, consumption starts at the committed offset
// (auto_offset_reset when there is none).
//
// Bad input: a message over max_message_bytes is not handed out. It is logged at WARN with its
// name, counted (oversized), written to the record dead-letter file (state_dir/
// bad-records.ndjson: object = its name, reason, size, first 1 KiB) and then done, so it is
// committed and never retried (the same bytes would fail again). If it cannot be recorded it is
// left failed (redelivered after a restart), never silently dropped. Anything else is passed
// through as bytes: the engine's decoder judges them.
//
// Errors: a broker down or unreachable is logged (WARN; librdkafka reconnects by itself).
// Authentication or authorization failures and librdkafka's fatal errors make the source fatal:
// fatal() says why, next() returns nothing more, and the caller stops.
//
// Thread-safety: next() from one thread at a time; done(), release(), stats(), fatal() from any
// thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/core/clock.h"
#include "agent/core/record_origin.h"
#include "agent/sources/kafka/kafka_source_config.h"
#include "agent/sources/kafka/offset_tracker.h"
#include "agent/sources/source.h"

namespace trailwarden {
class RecordDeadLetterFile;
class MskIamAuth;
}  // namespace trailwarden

namespace trailwarden::kafka {

// What done() needs to find a unit again.
struct KafkaToken {
  TopicPartition tp;
  int64_t offset = -1;
  uint64_t generation = 0;  // the partition's assignment the unit belongs to
};

struct KafkaSourceStats {
  std::atomic<uint64_t> received{0};         // messages handed out as units
  std::atomic<uint64_t> done_ok{0};          // done(ok)
  std::atomic<uint64_t> done_failed{0};      // done(!ok)
  std::atomic<uint64_t> done_ignored{0};     // done() of revoked or unknown units
  std::atomic<uint64_t> oversized{0};        // messages over max_message_bytes, recorded
  std::atomic<uint64_t> commits{0};          // offset commits that succeeded (per partition)
  std::atomic<uint64_t> commit_failures{0};  // per partition
  std::atomic<uint64_t> rebalances{0};       // assignments and revocations
  std::atomic<uint64_t> consume_errors{0};   // error events from the consumer
  std::atomic<uint64_t> pauses{0};           // partitions paused for backpressure
};

class KafkaSource : public Source {
 public:
  struct Options {
    const Clock* clock = &system_clock();
    // How long next() waits for a first unit.
    std::chrono::milliseconds wait{500};
    // Where oversized messages are recorded; without one they are counted and logged only.
    RecordDeadLetterFile* dead_letters = nullptr;
    // Required with msk_iam.
    std::shared_ptr<aws::CredentialsSource> credentials;
    // Bounds of close(): half to leave the group (revocation served by the poll thread), half
    // to close the consumer; past it the consumer is destroyed without leaving the group.
    std::chrono::milliseconds close_timeout{10000};
    // How long a synchronous commit (revocation, close) waits for the coordinator's answer.
    std::chrono::milliseconds commit_timeout{5000};
  };

  KafkaSource(KafkaSourceConfig config, Options options);
  ~KafkaSource();  // close() if it was not called
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Creates the consumer, subscribes and starts the poll thread. false with `error` (no secret
  // in it) when librdkafka refuses the configuration.
  bool start(std::string& error);

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) override;
  void done(AckToken token, bool ok, const std::string& why) override;
  void release(const std::vector<AckToken>& unfinished) override;
  void close() override;

  // True once the source cannot go on; `why` says what an operator must fix.
  bool fatal(std::string* why = nullptr) const;
  const KafkaSourceStats& stats() const { return stats_; }
  // Units handed out (or waiting to be) and not done.
  size_t in_flight() const;
  // Units handed out by next() whose done() (or release) has not come.
  size_t handed_out() const;

 private:
  void poll_loop();
  void finish(const KafkaToken& token, bool ok, const std::string& why);
  void handle_message(rd_kafka_message_t* msg);
  // Counts, logs and records an oversized message; false when it could not be recorded.
  bool skip_oversized(const TopicPartition& tp, int64_t offset, const rd_kafka_message_t* msg);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void handle_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                        bool cooperative);
  // Sends the commit points that moved (of `only`, or of every partition); sync at revocation
  // and shutdown.
  void commit(bool sync, const std::vector<TopicPartition>& only = {});
  // Partitions of `parts` (being assigned) with an unconfirmed done prefix ahead of the group's
  // committed offset: they start there and commit it; the others are forgotten.
  std::map<TopicPartition, int64_t> resume_points(const std::vector<TopicPartition>& tps);
  void apply_flow_control();
  void set_fatal(const std::string& why);
  void scrub(std::string& text) const;

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void commit_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void log_cb(const rd_kafka_t* rk, int level, const char* facility, const char* line);
  static void token_refresh_cb(rd_kafka_t* rk, const char* config, void* opaque);

  const KafkaSourceConfig config_;
  const Options options_;
  std::vector<std::string> secrets_;
  std::unique_ptr<MskIamAuth> msk_;
  rd_kafka_t* rk_ = nullptr;
  std::thread poller_;
  std::atomic<bool> stopping_{false};  // the poll thread ends
  std::atomic<bool> leaving_{false};   // close() began: nothing more is handed out
  std::atomic<bool> closing_{false};   // the consumer is closing: no call that waits for the group
  std::atomic<int> protocol_{-1};      // rebalance protocol: -1 not known yet, 0 eager, 1 cooperative
  bool closed_ = false;

  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::deque<std::pair<WorkUnit, KafkaToken>> ready_;  // consumed, not yet handed out
  std::unordered_map<AckToken, KafkaToken> handed_;  // handed out, not yet done
  AckToken next_token_ = 1;
  OffsetTracker tracker_;                       // guarded by mu_
  size_t done_since_commit_ = 0;                // guarded by mu_
  Clock::Steady last_commit_{};                 // poll thread only
  std::set<TopicPartition> paused_;             // poll thread only
  bool fatal_ = false;                          // guarded by mu_
  bool in_rebalance_ = false;                   // guarded by mu_
  uint64_t assignments_ = 0;                    // assignments taken; guarded by mu_
  // Done prefixes whose commit the group refused (a rebalance in progress, an old generation)
  // and that no later commit confirmed: committed again when the partition is ours again, or,
  // in close(), after the rebalance the refusal announced. Guarded by mu_.
  std::map<TopicPartition, int64_t> unconfirmed_;
  bool rejoin_expected_ = false;                // a commit was refused for a rebalance; mu_
  std::condition_variable unassigned_cv_;       // a rebalance callback finished
  std::string fatal_why_;                       // guarded by mu_
  KafkaSourceStats stats_;
};

}  // namespace trailwarden::kafka

namespace trailwarden {
class MetricsRegistry;
// The Kafka source's trailwarden_kafka_source_* metrics, read from its stats at scrape time
// (kafka_source_metrics.cpp); `source` must outlive `registry`.
void register_kafka_source_metrics(MetricsRegistry& registry, const kafka::KafkaSource& source);
}  // namespace trailwarden
