// KafkaOutput: alerts as Kafka messages (librdkafka C API), one message per alert, value
// formatted with format_alert(), key per KafkaOutputConfig::key, through an idempotent
// producer (enable.idempotence=true, acks=all) so that librdkafka's own retries never write a
// message twice.
//
// send(batch) produces every alert of the batch, then serves delivery reports until each of the
// batch's messages has one or delivery_timeout_ms has passed, and classifies:
//   every report OK                                  kDelivered
//   still unacknowledged when the wait ends,
//   or a transient error (queue full, timeout, ...)  kRetry, items = those alerts
//   message refused for its content (too large,
//   invalid or corrupt record)                       kReject, items = those alerts
//   authentication/authorization failure, unknown
//   topic, broker too old for the configuration      kFatal: an operator must act
// With both retriable and rejected alerts in one batch the answer is kRetry for both (the
// rejected ones fail again, alone, on the retry and are then rejected).
//
// No duplicates across retries: librdkafka's message.timeout.ms is 0 (infinite) unless the
// properties set it, so a message that is not acknowledged when send() gives up stays queued in
// the producer, which keeps retrying it idempotently. The output remembers such messages by the
// alert's uid; when the pipeline sends the same alert again, send() waits for that message's
// report instead of producing it a second time. An outage of any length therefore writes each
// alert once, as long as the process lives (after a restart, alerts that were in flight are
// produced again: at least once). Remembered messages are bounded by librdkafka's
// queue.buffering.max.messages; reports nobody asked for are forgotten beyond kMaxRemembered.
//
// If librdkafka raises a fatal error (idempotence state lost), the producer is destroyed and a
// new one created on the next send(); alerts that were not acknowledged are reported kRetry.
//
// Logging: librdkafka's log lines go to spdlog (syslog levels 0-4 warn, 5-6 info, 7 debug);
// error events (brokers down, authentication) at WARN. Secret property values and the MSK IAM
// token are scrubbed from every logged line and message.
//
// Thread-safety: like every Output, send() is called by one thread at a time. librdkafka calls
// the log callback from its own threads and the MSK IAM refresh on its background thread; both
// touch only immutable members and MskIamAuth (thread-safe).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/aws/credentials.h"
#include "outputs/format.h"
#include "outputs/kafka/kafka_config.h"
#include "agent/kafka/msk_iam.h"
#include "outputs/output.h"

namespace trailwarden {

// How a delivery error is handled (see the class comment).
enum class KafkaErrorClass { kRetry, kReject, kFatal };
KafkaErrorClass classify_kafka_error(rd_kafka_resp_err_t err);

class KafkaOutput final : public Output {
 public:
  // Reports nobody claimed, forgotten past this many remembered messages.
  static constexpr size_t kMaxRemembered = 200000;

  // Creates the producer (it connects in the background). `credentials` is required with
  // config.msk_iam. Throws std::runtime_error on configuration errors librdkafka finds only
  // now (e.g. conflicting properties); the message holds no secret.
  KafkaOutput(std::string name, KafkaOutputConfig config, AlertFormat format,
              std::shared_ptr<aws::CredentialsSource> credentials);
  ~KafkaOutput() override;
  KafkaOutput(const KafkaOutput&) = delete;
  KafkaOutput& operator=(const KafkaOutput&) = delete;

  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override;

  // Messages produced and not yet reported (for tests and metrics).
  size_t in_flight() const { return in_flight_; }

 private:
  // What is known about one produced message, keyed by alert uid in tracked_. Its address is
  // the message's opaque, so an entry is never erased while its message is in flight.
  struct Tracked {
    bool done = false;     // a delivery report arrived
    bool awaited = false;  // the current send() waits for it
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  };

  bool create_producer(std::string& error);
  void destroy_producer();
  // Removes secrets (secret properties, the MSK IAM token) from text about to be logged.
  void scrub(std::string& text) const;
  std::string error_text(rd_kafka_resp_err_t err) const;
  // The error the cluster reports in the topic's metadata (asked synchronously, at most 2 s),
  // or NO_ERROR when there is none or no answer.
  rd_kafka_resp_err_t topic_metadata_error();

  // One send(): per alert of the batch, its tracked message (nullptr when producing failed:
  // produce_err), and the uid it is tracked by.
  struct InFlightBatch {
    std::vector<Tracked*> slot;
    std::vector<std::string> uids;
    std::vector<rd_kafka_resp_err_t> produce_err;
  };
  // The batch's alerts by outcome (indexes into the batch), with the first error of each kind.
  struct BatchVerdicts {
    std::vector<size_t> retry, reject, fatal;
    rd_kafka_resp_err_t first_retry = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t first_reject = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t first_fatal = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t unacknowledged = 0;  // produced, no report before the deadline (in retry)
  };
  using SteadyTime = std::chrono::steady_clock::time_point;

  // The steps of send(), in order.
  // A new producer after a fatal error (or none yet); false with `error` if it cannot be made.
  bool ensure_producer(std::string& error);
  // Produces each alert, or attaches it to the message already in flight for its uid.
  void produce_batch(const std::vector<const AlertRecord*>& batch, SteadyTime deadline,
                     InFlightBatch& b);
  // Produces one alert, waiting (until `deadline`) while librdkafka's queue is full.
  rd_kafka_resp_err_t produce_one(const AlertRecord& a, Tracked* t, SteadyTime deadline);
  // Polls for delivery reports until every awaited one came, `deadline`, or an error that
  // ends the wait (authentication, fatal producer error).
  void await_reports(SteadyTime deadline);
  BatchVerdicts classify_batch(const InFlightBatch& b) const;
  // Stops awaiting what is still in flight and forgets the reported messages.
  void release_batch(InFlightBatch& b);
  // Whether authentication (or the topic's metadata, when messages went unacknowledged)
  // failed in a way that retrying cannot fix; sets auth_error_/auth_reason_ for the message.
  bool authentication_failed(const BatchVerdicts& v);
  // A fatal producer error: true (with `result` fatal) when it cannot be recovered; otherwise
  // schedules a new producer for the next send().
  bool producer_fatal_error(DeliveryResult& result);
  // The DeliveryResult of a batch of `n` alerts from its verdicts.
  DeliveryResult verdict(BatchVerdicts& v, size_t n, bool auth_failed) const;

  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* line);
  static void on_token_refresh(rd_kafka_t* rk, const char* oauthbearer_config, void* opaque);

  const std::string name_;
  const KafkaOutputConfig config_;
  const AlertFormat format_;
  std::vector<std::string> secrets_;  // secret property values, for scrub()
  std::unique_ptr<MskIamAuth> msk_;   // with msk_iam

  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  bool recreate_ = false;  // a fatal error happened: new producer at the next send()

  std::unordered_map<std::string, Tracked> tracked_;  // by alert uid
  size_t in_flight_ = 0;                              // entries of tracked_ not done
  size_t awaited_ = 0;                                // entries the current send() still waits for
  uint64_t anonymous_ = 0;                            // names alerts without uid
  // Error events seen during the current send(), by on_error.
  rd_kafka_resp_err_t auth_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string auth_reason_;
  bool fatal_seen_ = false;
  std::string value_;  // scratch for the formatted alert
};

}  // namespace trailwarden
