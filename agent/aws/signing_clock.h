// The process-wide clock every SigV4 signer reads: system time plus an offset learned from AWS.
//
// A host whose clock is off by more than AWS tolerates (5 minutes for SQS and STS, 15 for S3)
// gets every signed request refused (RequestTimeTooSkewed, "Signature expired", ...). As the
// JS v3, Java v2 and Swift SDKs do, the signers then take AWS's time from the error response
// (the Date header, or S3's <ServerTime>), keep the difference as an offset, and sign again at
// once. The offset is changed only when the server's time differs materially from the signing
// clock (kSkewThreshold), and never by more than kMaxOffset (a proxy or emulator answering
// nonsense must not move the clock by years). Only AWS's own hosts teach it (https, a host
// name of AWS's forms, VPC endpoints included: endpoints.h region_from_endpoint_url): an S3-
// compatible gateway or an emulator behind an endpoint override, with its own clock, must not
// move the time every AWS request is signed with. A change is logged at WARN, at most once per
// kWarnInterval (changes in between at INFO), and is exported as
// trailwarden_aws_clock_skew_seconds.
//
// Thread-safe: the offset is one atomic; concurrent corrections from the same error converge.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "agent/aws/endpoints.h"
#include "agent/http/http.h"
#include "agent/aws/time_util.h"

namespace trailwarden::aws {

class SigningClock {
 public:
  // Smaller differences are left alone: the lower of the SDKs' thresholds (Java v2: 4 minutes;
  // JS v3 and Swift: 5), below any AWS service's tolerance.
  static constexpr std::chrono::seconds kSkewThreshold{240};
  // Larger offsets are refused (and logged at ERROR): a clock that far off needs fixing.
  static constexpr std::chrono::hours kMaxOffset{24};
  // At most one WARN per this interval about the offset changing.
  static constexpr std::chrono::minutes kWarnInterval{10};

  // The one every signer in the process uses.
  static SigningClock& global();

  // System time plus the offset: the time to sign with.
  TimePoint now() const;
  // AWS's time minus system time (positive: the system clock is behind AWS).
  std::chrono::milliseconds offset() const;

  // Learns AWS's time `server_time`, seen at system time `system_now`. Returns true if the
  // offset changed (the difference to now() is at least kSkewThreshold and the new offset is
  // within kMaxOffset); then a retry signed with now() will carry AWS's time.
  bool correct(TimePoint server_time, TimePoint system_now = std::chrono::system_clock::now());

  // Back to the system clock (tests).
  void reset();

 private:
  std::atomic<int64_t> offset_ms_{0};
  // System time (ms since the epoch) of the last WARN; INT64_MIN: none yet.
  std::atomic<int64_t> last_warn_ms_{INT64_MIN};
};

// True when `request` goes to one of AWS's own hosts for `service` (https and a host name
// region_from_endpoint_url recognises, VPC endpoints included): the hosts whose time the
// signing clock may learn. false for endpoint overrides naming anything else (S3-compatible
// gateways, emulators, proxies, plain http).
bool is_aws_host(AwsService service, const HttpRequest& request);

// The error codes the SDKs treat as clock skew (JS v3 CLOCK_SKEW_ERROR_CODES, Java v2
// ClockSkew): RequestTimeTooSkewed, RequestExpired, RequestInTheFuture, InvalidSignatureException,
// SignatureDoesNotMatch ("Signature expired: ..."), AuthFailure.
bool is_clock_skew_error(std::string_view code);

// For a request signed at `signed_at` and answered with error `code`: if it is a clock-skew
// error and the response says AWS's time (Date header, RFC 1123; else S3's <ServerTime> in the
// body), corrects SigningClock::global() from it (when material), and returns true when the
// request's time was materially wrong and the signing clock now agrees with AWS: sign again
// with it and retry at once. (Several requests refused at once: the first corrects the clock,
// every one of them retries.) `service` names the caller in log lines ("S3", "SQS", "STS").
// `from_aws_host` (is_aws_host() of the request): false leaves the clock alone and returns
// false, so the error is the caller's to classify.
bool correct_clock_from(const HttpResponse& response, std::string_view code,
                        std::string_view service, TimePoint signed_at, bool from_aws_host);

}  // namespace trailwarden::aws
