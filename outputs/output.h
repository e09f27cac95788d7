// Output: the one interface every destination implements (file, kafka, sns, splunk_hec, syslog).
// An output formats alerts for its destination, sends a batch, and classifies the outcome;
// the pipeline (outputs/delivery/delivery_pipeline.h) owns batching, buffering, retries and acknowledgement.
//
// send() is called by one thread at a time per output (its delivery thread) and may block
// until the destination has acknowledged the batch (Kafka delivery reports, Splunk indexer
// acknowledgement) or a timeout passes. Implementations never throw from send().
#pragma once

#include <string>
#include <vector>

#include "agent/core/alert_record.h"

namespace trailwarden {

struct DeliveryResult {
  enum class Status {
    kDelivered,  // every alert of the batch is acknowledged by the destination
    kRetry,      // nothing (or not everything) is known to be delivered: send again later
    kReject,     // the destination refused these alerts for good (bad data): dead-letter them
    kFatal,      // the output cannot work (bad token, bad configuration): stop the agent
  };
  Status status = Status::kDelivered;
  std::string message;  // why, for logs (never secrets)
  // With kRetry/kReject: indexes (into the batch) of the alerts concerned; empty = all of them.
  // Alerts of the batch not listed (here or in retry_items) count as delivered.
  std::vector<size_t> items;
  // With kReject only: indexes of alerts that were neither delivered nor rejected and must be
  // sent again (Splunk HEC stops at the first bad event of a request: the events after it were
  // not indexed). When it is non-empty, `items` lists the rejected alerts explicitly.
  std::vector<size_t> retry_items;
};

// "delivered", "retry", "reject" or "fatal" (for messages and test tools).
inline const char* delivery_status_name(DeliveryResult::Status s) {
  switch (s) {
    case DeliveryResult::Status::kDelivered: return "delivered";
    case DeliveryResult::Status::kRetry: return "retry";
    case DeliveryResult::Status::kReject: return "reject";
    case DeliveryResult::Status::kFatal: return "fatal";
  }
  return "?";
}

// The result of a batch whose alerts each ended delivered, rejected, or neither (to be sent
// again): `state` holds one value per alert of an enum with kDelivered and kRejected. kReject
// lists the rejected alerts and those to send again; kRetry those to send again (none listed:
// all of them); else kDelivered. `message` is kept unless everything was delivered.
template <typename ItemState>
DeliveryResult delivery_result_from(const std::vector<ItemState>& state, std::string message) {
  DeliveryResult result;
  std::vector<size_t> rejected, retry;
  for (size_t i = 0; i < state.size(); ++i) {
    if (state[i] == ItemState::kRejected)
      rejected.push_back(i);
    else if (state[i] != ItemState::kDelivered)
      retry.push_back(i);
  }
  if (!rejected.empty()) {
    result.status = DeliveryResult::Status::kReject;
    result.items = std::move(rejected);
    result.retry_items = std::move(retry);
  } else if (!retry.empty()) {
    result.status = DeliveryResult::Status::kRetry;
    if (retry.size() < state.size()) result.items = std::move(retry);
  } else {
    return result;
  }
  result.message = std::move(message);
  return result;
}

class Output {
 public:
  virtual ~Output() = default;
  virtual const std::string& name() const = 0;
  // Delivers `batch` (never empty). See DeliveryResult for the outcome.
  virtual DeliveryResult send(const std::vector<const AlertRecord*>& batch) = 0;
  // Largest batch the output wants at once.
  virtual size_t max_batch() const { return 500; }
  // SIGHUP: reopen files, reconnect. Called between sends.
  virtual void reopen() {}
  // Shutdown: makes a send() in progress (on another thread) give up as soon as it can and
  // return kRetry. Thread-safe; the output is not used afterwards.
  virtual void cancel() {}
};

}  // namespace trailwarden
