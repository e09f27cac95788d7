// SplunkHecOutput: alerts to a Splunk HTTP Event Collector (/services/collector/event), as
// batches of concatenated JSON event objects, gzip-compressed by default, with optional indexer
// acknowledgement (a channel GUID per output, ackIds polled on /services/collector/ack).
//
// Each alert becomes one event:
//   {"time":<event time, seconds with millisecond fraction>,"host":..,"source":..,
//    "sourcetype":..,"index":..,"event":<the alert>[,"fields":{..}]}
// (time omitted when the alert has none; host and index omitted when not configured). With
// format "ocsf" the event is the OCSF Detection Finding. With format "cloudtrail" the event is
// the bare CloudTrail record, so that the Splunk Add-on for AWS (sourcetype aws:cloudtrail)
// extracts its fields as usual, and the trailwarden envelope goes into indexed fields
// (trailwarden_rule_id, trailwarden_rule_title, trailwarden_severity,
// trailwarden_severity_id, trailwarden_finding_uid, and in `run` the route:
// trailwarden_route, trailwarden_verified ("true"/"false"), trailwarden_bucket,
// trailwarden_key, trailwarden_eventbridge_event_id, trailwarden_notification when not empty).
//
// send() posts the batch in one request, or several when the body would exceed
// batch_max_bytes (uncompressed), and classifies Splunk's answer (HTTP status and HEC code):
//   200                   delivered; with ack: delivered once the ackId is reported true
//   503 (9), 429, 408, 5xx, network and TLS errors, ack timeout      kRetry
//   400 with invalid-event-number n (codes 6, 12, 13, 15 ...)
//       Splunk indexed events 0..n-1 of the request, refused event n and stopped there. The
//       result is kReject with items = {n} and retry_items = the events after n (and every
//       alert of the batch not yet known to be delivered). With ack on, events 0..n-1 are also
//       retried: a failed request returns no ackId, so their indexing cannot be confirmed.
//   400 codes 5, 6, 12, 13, 15 without an event number, other 4xx   kReject (the request's
//       events; the other requests of the batch go on)
//   413 (request too large)  more than one event: batch_max_bytes is halved for the rest of
//       the run and the events are retried; a single event: kReject
//   401, 403 (codes 1-4), 404, 400 codes 7 (index), 10, 11 (channel), 14 (ack disabled),
//       16, 3xx              kFatal: configuration that retrying cannot fix
// A batch split over several requests stops at the first request that is not accepted (unless
// it is a plain reject of that request alone); alerts neither delivered nor rejected are
// listed for retry (see DeliveryResult). Duplicates are possible after a timeout or an ack
// timeout (at-least-once); the finding uid lets the SIEM de-duplicate.
//
// The token is a secret: it appears only in the Authorization header, never in a message or a
// log line (messages quoting Splunk are scrubbed of it too).
//
// Thread-safety: send() is called by one thread at a time (see Output); it may block for up to
// the request timeout per request plus ack_timeout. Owns its HttpClient (shared, for tests).
#pragma once

#include <atomic>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/http/http.h"
#include "outputs/factory.h"
#include "outputs/format.h"
#include "outputs/output.h"
#include "outputs/splunk_hec/splunk_hec_config.h"
#include "outputs/splunk_hec/splunk_hec_event.h"

namespace trailwarden {

// Time source and sleep, injected so that unit tests never wait. Empty members use the steady
// clock and std::this_thread::sleep_for.
struct HecClock {
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
};

class SplunkHecOutput final : public Output {
 public:
  // `options.host` and `options.token` must be set (and `channel` when ack is on):
  // make_splunk_hec_output() checks the configuration before building one.
  SplunkHecOutput(std::string name, SplunkHecOptions options, std::shared_ptr<http::HttpClient> http,
                  HecClock clock = {});

  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override;
  void cancel() override { cancelled_ = true; }

  const SplunkHecOptions& options() const { return options_; }
  // Current request-size limit (batch_max_bytes, halved after each 413).
  size_t max_request_bytes() const { return max_request_bytes_; }

 private:
  enum class ItemState : uint8_t { kPending, kDelivered, kRejected, kAwaitingAck };
  struct Posted {
    size_t begin, end;  // batch indexes of the request's events
    uint64_t ack_id;
  };
  enum class PostOutcome { kAccepted, kRetry, kReject, kPartial, kTooLarge, kFatal };

  // Posts events [begin, end) (their serialized forms are in body_, at offsets_).
  PostOutcome post(size_t begin, size_t end, uint64_t& ack_id, bool& has_ack_id, int64_t& bad_event,
                   std::string& message);
  // Polls the ack endpoint until every request of posted_ is acknowledged or ack_timeout
  // passes; marks acknowledged requests' items delivered. False with `message` on a fatal
  // answer.
  bool wait_for_acks(std::vector<ItemState>& state, std::string& message, bool& fatal);
  std::string endpoint(const std::string& path) const;
  std::chrono::steady_clock::time_point now() const;
  void sleep(std::chrono::milliseconds d) const;

  std::string name_;
  SplunkHecOptions options_;
  std::shared_ptr<http::HttpClient> http_;
  HecClock clock_;
  size_t max_request_bytes_;
  bool warned_no_ack_id_ = false;
  std::atomic<bool> cancelled_{false};  // set by cancel(): abandon requests and ack waits
  // Scratch, reused between sends.
  std::string events_;           // every event of the batch, serialized back to back
  std::vector<size_t> offsets_;  // events_ offsets: event i is [offsets_[i], offsets_[i+1])
  http::HttpRequest request_;     // the event request (its body buffer is reused)
  std::vector<Posted> posted_;
};

}  // namespace trailwarden
