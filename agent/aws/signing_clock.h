// The process-wide clock every SigV4 signer reads: system time plus an offset learned from AWS.
//
// A host whose clock is off by more than AWS tolerates (5 minutes for SQS and STS, 15 for S3)
// gets every signed request refused (RequestTimeTooSkewed, "Signature expired", ...). As the
// JS v3, Java v2 and Swift SDKs do, the signers then take AWS's time from the error response
// (the Date header, or S3's <ServerTime>), keep the difference as an offset, and sign again at
// once. The offset is changed only when the server's time differs materially from the signing
// clock (kSkewThreshold), and never by more than kMaxOffset (a proxy or emulator answering
// nonsense must not move the clock by years). Each change is logged at WARN once, and is
// exported as trailwarden_aws_clock_skew_seconds.
//
// Thread-safe: the offset is one atomic; concurrent corrections from the same error converge.
#pragma once

#include <atomic>
#include <chrono>
#include <string_view>

#include "agent/aws/http.h"
#include "agent/aws/time_util.h"

namespace trailwarden::aws {

class SigningClock {
 public:
  // Smaller differences are left alone: the lower of the SDKs' thresholds (Java v2: 4 minutes;
  // JS v3 and Swift: 5), below any AWS service's tolerance.
  static constexpr std::chrono::seconds kSkewThreshold{240};
  // Larger offsets are refused (and logged at ERROR): a clock that far off needs fixing.
  static constexpr std::chrono::hours kMaxOffset{24};

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
};

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
bool correct_clock_from(const HttpResponse& response, std::string_view code,
                        std::string_view service, TimePoint signed_at);

}  // namespace trailwarden::aws
