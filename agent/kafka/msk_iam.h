// Amazon MSK IAM authentication for Kafka clients (the Kafka output and the Kafka source), as the aws-msk-iam-sasl-signer libraries
// (Python, Go, JavaScript) do it: SASL/OAUTHBEARER with a bearer token that is the
// base64url-encoded (RFC 4648 §5, no padding) SigV4 *presigned* URL
//
//   https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect
//       &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<key id>%2F<date>%2F<region>%2F
//       kafka-cluster%2Faws4_request&X-Amz-Date=<amz date>&X-Amz-Expires=900
//       &X-Amz-SignedHeaders=host[&X-Amz-Security-Token=<token>]&X-Amz-Signature=<hex>
//       &User-Agent=<agent>
//
// signed for service "kafka-cluster" with the host header only and the empty payload's SHA-256
// (the URL is https, so the payload is signed), query parameters in exactly that order,
// User-Agent appended after signing (unsigned). The token is valid for 900 s from its signing
// time; librdkafka refreshes it (oauthbearer_token_refresh_cb) at 80% of its lifetime.
//
// The token and the presigned URL are secrets (a replayable credential until they expire):
// nothing here logs them, and MskIamAuth::scrub() removes the current one from text that is
// about to be logged.
//
// Thread-safety: the free functions are pure and thread-safe. MskIamAuth is thread-safe (the
// refresh runs on librdkafka's background thread while the output's thread may scrub logs).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "agent/aws/credentials.h"
#include "agent/aws/signing_clock.h"
#include "agent/aws/time_util.h"

namespace trailwarden {

inline constexpr int64_t kMskIamTokenLifetimeSeconds = 900;
inline constexpr std::string_view kMskIamService = "kafka-cluster";

struct MskIamToken {
  std::string value;      // the bearer token (secret)
  int64_t expiry_ms = 0;  // when it stops being valid, milliseconds since the Unix epoch
};

// The presigned URL (see the file comment) for `credentials` (complete()) at time `now`.
// `region` must be a plain region name ([a-z0-9-], checked by the caller).
std::string msk_iam_presigned_url(const aws::Credentials& credentials, std::string_view region,
                                  aws::TimePoint now, std::string_view user_agent);

// The token for the URL above. expiry_ms = signing time (whole seconds) + 900 s, or the
// credentials' own expiration when that is earlier.
MskIamToken make_msk_iam_token(const aws::Credentials& credentials, std::string_view region,
                               aws::TimePoint now, std::string_view user_agent);

// RFC 4648 §5 base64url without '=' padding.
std::string base64url_encode(std::string_view data);

// True for a plausible AWS region name: 1-64 characters of [a-z0-9-], starting with a letter.
bool valid_aws_region(std::string_view region);

// Produces tokens from a CredentialsSource for librdkafka's refresh callback, remembers whether
// the last attempt failed (so that the output can tell "we could not sign" from "the broker
// refused us") and the current token (for scrub()).
class MskIamAuth {
 public:
  // `credentials` must not be null. `user_agent` goes into every token ("trailwarden/0.1.0").
  // Tokens are signed at `now`: by default the signing clock, corrected by the S3 and SQS
  // clients when AWS reports clock skew (agent/aws/signing_clock.h).
  MskIamAuth(
      std::shared_ptr<aws::CredentialsSource> credentials, std::string region,
      std::string user_agent, aws::Clock now = [] { return aws::SigningClock::global().now(); });

  // A fresh token (credentials fetched, or refreshed by the source when due). false with
  // `error` (no secret in it) when there are no credentials. The token is signed at `now` (AWS's
  // time), but out.expiry_ms is in *system* time, as librdkafka compares it with the system
  // clock: system time + the token's remaining validity (900 s, or less when the credentials,
  // whose expiration is AWS's time, expire sooner).
  bool make_token(MskIamToken& out, std::string& error);

  // The refresh itself, for librdkafka: sets the token on `rk`
  // (rd_kafka_oauthbearer_set_token) or reports the failure
  // (rd_kafka_oauthbearer_set_token_failure). Called on librdkafka's background thread.
  void refresh(rd_kafka_t* rk);

  // True when the last refresh failed (cleared by the next success).
  bool failing() const;
  std::string last_error() const;

  // Replaces the current token, if it occurs in `text`, with "[redacted]".
  void scrub(std::string& text) const;

  const std::string& region() const { return region_; }

 private:
  const std::shared_ptr<aws::CredentialsSource> credentials_;
  const std::string region_;
  const std::string user_agent_;
  const aws::Clock now_;
  mutable std::mutex mu_;
  std::string token_;       // guarded by mu_
  bool failing_ = false;    // guarded by mu_
  std::string last_error_;  // guarded by mu_
};

}  // namespace trailwarden
