// SnsOutput: alerts to an Amazon SNS topic over SNS's query protocol (form-encoded POST of
// Action=Publish / PublishBatch, Version=2010-03-31, XML answers), SigV4-signed (service "sns")
// with the agent's credential chain; each request is sent by aws::signed_call
// (agent/aws/signed_call.h: credentials, signing, the token refresh and clock correction; no
// retry with backoff there, the delivery pipeline retries). Each alert is one message
// (sns_message.h: Subject, the alert in the output's format, String message attributes, FIFO
// group and deduplication ids); with batch = true up to 10 messages and 256 KiB go in one
// PublishBatch, a single message in a Publish.
//
// Outcomes (the pipeline, outputs/delivery, acts on them):
//   2xx                                       delivered (PublishBatch: the Successful entries)
//   no answer, 408, 429, 5xx, Throttled / Throttling, InternalError, KMSThrottling ...  kRetry
//   ExpiredToken                              credentials refreshed, sent again once
//   clock skew (SignatureDoesNotMatch "expired" ...)  signing clock corrected, sent again once
//   NotFound (no such topic), AuthorizationError, AccessDenied, InvalidClientTokenId,
//   KMSAccessDenied / KMSDisabled / KMSNotFound / KMSInvalidState / KMSOptInRequired,
//   InvalidSecurity                           kFatal: the configuration or IAM must change; the
//                                             alerts stay in the buffer (disk: kept for the next
//                                             start)
//   InvalidParameter, InvalidParameterValue, other 4xx    kReject: dead-lettered with the reason
//   PublishBatch entries in Failed            SenderFault true: rejected (or fatal for the codes
//                                             above); false or a throttling code: only those
//                                             entries are retried. Entries the answer does not
//                                             mention are retried.
//   BatchRequestTooLong, TooManyEntriesInBatchRequest    batching is turned off for the rest of
//                                             the run and the batch retried (one Publish each)
// Publishing is at-least-once: after a timeout a message may arrive twice (FIFO topics
// deduplicate it by the finding uid within 5 minutes).
//
// Thread-safety: send() is called by one thread at a time (see Output); cancel() from any.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/aws/signed_call.h"
#include "agent/http/http.h"
#include "outputs/output.h"
#include "outputs/sns/sns_config.h"
#include "outputs/sns/sns_message.h"

namespace trailwarden {

class SnsOutput final : public Output {
 public:
  SnsOutput(std::string name, SnsOptions options, std::shared_ptr<http::HttpClient> http,
            std::shared_ptr<aws::CredentialsSource> credentials);

  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override;
  size_t max_batch() const override { return 10; }
  void cancel() override { cancelled_ = true; }

  // Publishes entries made elsewhere (CloudWatch alarm notifications: make_sns_alarm_entry())
  // with the same batching, limits and classification as send(); the result's items index
  // `entries`. Same threading rules as send().
  DeliveryResult send_entries(std::vector<SnsEntry> entries);

  bool batching() const { return batch_; }
  const SnsOptions& options() const { return options_; }

 private:
  enum class ItemState : uint8_t { kPending, kDelivered, kRejected };
  // One request for entries [begin, end) of entries_; updates state_. false: stop the batch
  // (fatal or nothing more to do now).
  bool publish(size_t begin, size_t end, std::string& messages, bool& fatal);

  std::string name_;
  SnsOptions options_;
  std::shared_ptr<http::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
  aws::SignedCallOptions call_options_;  // SNS's signing and error reading (aws/signed_call.h)
  bool batch_;
  std::atomic<bool> cancelled_{false};
  std::vector<SnsEntry> entries_;
  std::vector<ItemState> state_;
};

// The form parameters of a Publish of `e` (exposed for tests).
http::QueryList sns_publish_params(const std::string& topic_arn, const SnsEntry& e);
// The form parameters of a PublishBatch of `entries` with ids "0", "1" ... (their indexes).
http::QueryList sns_publish_batch_params(const std::string& topic_arn,
                                         const std::vector<const SnsEntry*>& entries);

// What a PublishBatch answer says about each entry.
struct SnsBatchFailure {
  std::string id, code, message;
  bool sender_fault = false;
};
// Parses a PublishBatchResponse: ids of Successful entries and the Failed ones. false with
// `error` when the body is not such a document.
bool parse_sns_publish_batch_response(std::string_view xml, std::vector<std::string>& successful,
                                      std::vector<SnsBatchFailure>& failed, std::string& error);
// The Code and Message of an SNS ErrorResponse; "" when none.
void parse_sns_error(std::string_view xml, std::string& code, std::string& message);

// How an SNS error code is handled (see the class comment).
enum class SnsErrorClass { kRetry, kFatal, kReject, kBatchTooLarge };
SnsErrorClass classify_sns_error(int http_status, std::string_view code);

}  // namespace trailwarden
