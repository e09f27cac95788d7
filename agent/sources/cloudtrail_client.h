// CloudTrailClient: the PublicKeyDirectory of CloudTrail, ListPublicKeys over the AWS JSON 1.1
// protocol (POST /, Content-Type: application/x-amz-json-1.1, X-Amz-Target:
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys, body
// {"StartTime": <epoch s>, "EndTime": <epoch s>[, "NextToken": "..."]}), sent by
// aws::signed_call (agent/aws/signed_call.h: credentials, SigV4, one token refresh, one clock
// correction, retries with backoff, cancellation).
//
// Keys of a region come only from that region's endpoint (a digest signed in eu-west-1 is
// checked with eu-west-1's keys), so every call is signed for the region asked and sent to
// cloudtrail.<region>.<suffix> (cloudtrail-fips / dual-stack as configured, agent/aws/
// endpoints.h), or to the configured endpoint URL ([aws] cloudtrail_endpoint_url,
// AWS_ENDPOINT_URL_CLOUDTRAIL, ...), signed for the region asked. An endpoint URL whose host
// names a region (cloudtrail.eu-west-1.amazonaws.com, a VPC endpoint
// vpce-<id>.cloudtrail.eu-west-1.vpce.amazonaws.com) serves that region only: asked for another,
// the call fails (kFatal) naming both, rather than returning another region's keys.
//
// The answer {"PublicKeyList":[{"Value": base64 DER, "ValidityStartTime": epoch (a number, may
// be fractional), "ValidityEndTime": ..., "Fingerprint": hex}], "NextToken"?} is checked, not
// trusted: Value standard base64 (decoded once into TrailPublicKey::der, at most 16 KiB),
// Fingerprint hex, both validity times numbers with start <= end (fractions rounded inwards:
// start up, end down). Every page is read (NextToken), at most max_pages pages and max_keys
// keys; a token that repeats ends the call with an error. Any malformed key fails the whole
// call (kFatal), naming the region and the key's index: a directory that half-answers must not
// look like "this fingerprint is unknown".
//
// Outcomes (RemoteStatus): kRetry for no answer, throttling and 5xx after max_attempts tries,
// no credentials, or cancellation; kAccessDenied for AccessDeniedException and credential
// refusals (the message names cloudtrail:ListPublicKeys); kFatal for the rest (bad region,
// malformed answer, bounds). Thread-safe if the HttpClient and CredentialsSource are.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/aws/signed_call.h"
#include "agent/http/http.h"
#include "agent/sources/queue.h"

namespace trailwarden {

inline constexpr std::string_view kListPublicKeysTarget =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys";
inline constexpr size_t kMaxPublicKeyDerBytes = 16 << 10;
inline constexpr size_t kMaxListPublicKeysResponseBytes = 1 << 20;

struct CloudTrailClientOptions {
  // Where requests go: `endpoint.url` for every region (signed for the region asked), else the
  // AWS host of each region with `endpoint.variant` (FIPS / dual-stack). From
  // cloudtrail_client_options() below.
  aws::EndpointSettings endpoint;
  std::chrono::milliseconds timeout{10000};  // per request
  // Tries per page for retryable failures (no answer, 408/429/5xx, throttling), with jittered
  // exponential backoff (common/backoff.h).
  int max_attempts = 4;
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_max{2000};
  // How the client waits between tries; empty: the real clock, ending early on cancel.
  std::function<void(std::chrono::milliseconds)> sleep;
  size_t max_pages = 100;   // pages per call
  size_t max_keys = 1000;   // keys per call, over all pages
};

// The options for the agent's configuration: [aws] cloudtrail_endpoint_url, endpoint_url,
// AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_ENDPOINT_URL, use_fips_endpoint / use_dualstack_endpoint
// (agent/aws/endpoints.h precedence). false with `error` (naming the setting) for a malformed
// URL, a URL combined with FIPS or dual-stack, or a malformed boolean variable.
bool cloudtrail_client_options(const aws::EndpointConfig& config, const aws::Environment& env,
                               CloudTrailClientOptions& out, std::string& error);

// The JSON body of one ListPublicKeys request.
std::string encode_list_public_keys(int64_t start, int64_t end, std::string_view next_token);

// Appends the keys of one ListPublicKeys answer to `out` and sets `next_token` ("" on the last
// page). false with `error` (naming the key's index) when the body is not the documented shape
// or a key is malformed as described above; `out` then holds what was appended before.
bool parse_list_public_keys(std::string_view body, std::vector<TrailPublicKey>& out,
                            std::string& next_token, std::string& error);

class CloudTrailClient : public PublicKeyDirectory {
 public:
  // Throws std::runtime_error if options.endpoint.url is set and malformed, or combined with a
  // variant.
  CloudTrailClient(CloudTrailClientOptions options, std::shared_ptr<http::HttpClient> http,
                   std::shared_ptr<aws::CredentialsSource> credentials);

  RemoteStatus list_public_keys(const std::string& region, int64_t start, int64_t end,
                                std::vector<TrailPublicKey>& out,
                                const std::atomic<bool>* cancel = nullptr) override;

  // The request for one page (unsigned) asked in `region`. false with `error` for a region that
  // is not a region name, a variant its partition lacks, or an endpoint URL of another region.
  bool build_request(const std::string& region, int64_t start, int64_t end,
                     std::string_view next_token, http::HttpRequest& out,
                     std::string& error) const;

 private:
  CloudTrailClientOptions options_;
  std::shared_ptr<http::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
  std::string url_region_;  // the region options_.endpoint.url names, "" if none
};

}  // namespace trailwarden
