// AWS Signature Version 4, Authorization-header form, with OpenSSL's SHA-256 and HMAC.
//
// sign_v4() adds x-amz-date, host, x-amz-security-token (temporary credentials),
// x-amz-content-sha256 (always for S3, or when asked) and Authorization to a request. The
// intermediate steps are public so that tests can compare each against the AWS test suite.
// Free functions on values; thread-safe. Secrets are used only as HMAC keys: nothing here
// logs, and no output other than the request's own x-amz-security-token contains a secret.
//
// Which headers are signed: every header of the request except hop-by-hop and
// proxy-rewritten ones (kUnsignedHeaders), so a header added after signing is simply unsigned.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/aws/credentials.h"
#include "agent/http/http.h"
#include "agent/aws/time_util.h"

namespace trailwarden::aws {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Lowercase names never signed: they are changed by proxies or the HTTP library (the union of
// the lists the AWS SDKs use), plus authorization itself.
// clang-format off
inline constexpr std::array<std::string_view, 12> kUnsignedHeaders = {
    "authorization", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "x-amzn-trace-id"};
// clang-format on

struct SigningOptions {
  // S3 rules: the path is signed as sent (not normalised, not encoded again) and
  // x-amz-content-sha256 is always added. nullopt: S3 rules when service == "s3".
  std::optional<bool> s3;
  // Sign "UNSIGNED-PAYLOAD" instead of the body's SHA-256 (S3 over TLS). Adds the
  // x-amz-content-sha256 header with that value.
  bool unsigned_payload = false;
  // Adds x-amz-content-sha256 for services other than S3 too.
  bool content_sha256_header = false;
  // Precomputed lowercase hex SHA-256 of the body, to avoid hashing it again. Not checked.
  std::optional<std::string> payload_sha256;
  // Signs x-amz-security-token (what every current service expects). false: the token is
  // added after the signature is computed, unsigned (test suite case post-sts-header-after).
  bool sign_security_token = true;
};

// What sign_v4() computed, for tests and DEBUG diagnostics. Contains no secret.
struct SigningDetails {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;    // "host;x-amz-date"
  std::string credential_scope;  // "20150830/us-east-1/service/aws4_request"
  std::string signature;         // lowercase hex
  std::string authorization;     // the Authorization header value
};

// Signs `request` in place for `service` in `region` at time `now`, replacing any previous
// Authorization, X-Amz-Date, Host, X-Amz-Security-Token (when credentials carry a token) and
// X-Amz-Content-SHA256 headers, so signing again (a retry) is correct. `credentials` must be
// complete(). `details`, when given, receives the intermediate values.
void sign_v4(HttpRequest& request, const Credentials& credentials, std::string_view region,
             std::string_view service, TimePoint now, const SigningOptions& options = {},
             SigningDetails* details = nullptr);

// ---- The steps, exposed for tests ----

// Canonical URI. S3: the wire path as is ("/" when empty). Others: dot segments removed and
// repeated slashes collapsed (normalize_path), then uri_encode(..., keep_slash) again.
std::string canonical_uri(std::string_view wire_path, bool s3);
// RFC 3986 dot-segment removal with consecutive slashes collapsed, as the AWS SDKs do:
// "//a/./b/../c/" -> "/a/c/"; a trailing slash is kept when a segment remains.
std::string normalize_path(std::string_view path);
// Canonical query string: names and values uri_encode()d, sorted by name then value (bytes),
// "name=value" joined with '&'; a parameter with an empty value is "name=".
std::string canonical_query_string(const QueryList& query);
// Trimall: leading and trailing spaces and tabs removed, inner runs collapsed to one space.
std::string canonical_header_value(std::string_view value);
// Canonical headers block (each "name:value\n", names lowercase and sorted, repeated names'
// values joined with ',' in request order) and the signed-headers list.
void canonical_headers(const HeaderList& headers, std::string& block, std::string& signed_list);
// The canonical request (task 1 of the spec) for a request whose headers are final.
std::string canonical_request(const HttpRequest& request, bool s3, std::string_view payload_hash,
                              std::string* signed_headers = nullptr);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical request>".
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
// kSigning = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region, service, "aws4_request".
std::array<uint8_t, 32> derive_signing_key(std::string_view secret_access_key,
                                           std::string_view date, std::string_view region,
                                           std::string_view service);

// Hashing helpers (lowercase hex).
std::string sha256_hex(std::string_view data);
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(const uint8_t* data, size_t size);

}  // namespace trailwarden::aws
