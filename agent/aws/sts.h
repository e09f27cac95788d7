// The two AWS STS calls the credential providers make, query protocol (form-encoded POST,
// XML answer): AssumeRole (SigV4-signed with the source credentials) and
// AssumeRoleWithWebIdentity (unsigned: the token is the proof). Free functions; thread-safe as
// far as the HttpClient is. Messages never contain credentials or the web identity token.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/http/http.h"

namespace trailwarden::aws {

inline constexpr std::string_view kStsVersion = "2011-06-15";

struct StsEndpoint {
  HttpRequest base;    // scheme, host and path of the endpoint
  std::string region;  // signing region
  std::string url() const { return base.scheme + "://" + base.host + base.path; }
};

// The regional endpoint of `region` in the variant of `settings` ("https://sts.<region>.<the
// partition's DNS suffix>", sts-fips..., the dual-stack forms; agent/aws/endpoints.h), or
// settings.url when it is not empty. false with `error` for a bad URL, a URL combined with a
// variant, a variant not offered, or a region that is not a region name (names.h; also with a
// URL, since the region signs the requests).
bool make_sts_endpoint(std::string_view region, const EndpointSettings& settings, StsEndpoint& out,
                       std::string& error);
// The same without a variant: `url`, or the plain regional endpoint.
bool make_sts_endpoint(std::string_view region, std::string_view url, StsEndpoint& out,
                       std::string& error);

struct AssumeRoleParams {
  std::string role_arn;
  std::string role_session_name;
  std::string external_id;           // AssumeRole only; empty: not sent
  std::chrono::seconds duration{0};  // DurationSeconds; 0: not sent (STS default, one hour)
};

// On success `out` holds the temporary credentials with their expiration (provider unset).
// AssumeRole is signed at `now` (system time) plus SigningClock::global()'s offset; a clock-skew
// error corrects that clock from the response and the call is signed again and sent once more.
// On failure `error` says what (STS's code and message when it answered, never a secret) and
// *permanent (if given) whether asking again can help (sts_failure_permanent).
bool sts_assume_role(HttpClient& http, const StsEndpoint& endpoint, const Credentials& source,
                     const AssumeRoleParams& params, TimePoint now,
                     std::chrono::milliseconds timeout, Credentials& out, std::string& error,
                     bool* permanent = nullptr);
bool sts_assume_role_with_web_identity(HttpClient& http, const StsEndpoint& endpoint,
                                       const AssumeRoleParams& params,
                                       std::string_view web_identity_token,
                                       std::chrono::milliseconds timeout, Credentials& out,
                                       std::string& error, bool* permanent = nullptr);

// Whether a failed STS call is permanent: the HTTP rule every client follows
// (agent/http/classify.h: no answer, 1xx, 408, 429 and 5xx are transient), then STS's error
// codes, as the AWS SDKs retry them: throttling (STS answers "Throttling" with HTTP 400) and
// IDPCommunicationError are transient, and so is InvalidIdentityToken for
// AssumeRoleWithWebIdentity (the identity provider's new token may not be valid at STS yet).
// Every other answer (AccessDenied, InvalidClientTokenId, ExpiredToken,
// MalformedPolicyDocument, RegionDisabledException, IDPRejectedClaim ...) is permanent: the
// same request gets the same refusal until someone changes IAM or the configuration. A 200
// that cannot be read is transient. `response` is the final one (after any clock correction).
bool sts_failure_permanent(std::string_view action, const HttpResponse& response);

// Reads the credentials out of an <action>Response, or the error out of an ErrorResponse
// ("HTTP 403 AccessDenied: <message>"). Exposed for tests.
bool parse_sts_response(std::string_view action, const HttpResponse& response, Credentials& out,
                        std::string& error);

}  // namespace trailwarden::aws
