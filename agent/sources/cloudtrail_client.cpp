#include "agent/sources/cloudtrail_client.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <stdexcept>

#include "agent/aws/base64.h"
#include "agent/aws/names.h"
#include "agent/aws/signing_clock.h"
#include "agent/common/json_writer.h"
#include "agent/sources/sqs_client.h"

namespace trailwarden {

namespace {

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

// An epoch-seconds number (integer or fractional), rounded up or down, within +-2^53.
bool epoch_seconds(simdjson::dom::element e, bool round_up, int64_t& out) {
  double d = 0;
  int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    out = i;
    return true;
  }
  if (e.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d) ||
      std::fabs(d) > 9007199254740992.0)
    return false;
  out = static_cast<int64_t>(round_up ? std::ceil(d) : std::floor(d));
  return true;
}

}  // namespace

bool cloudtrail_client_options(const aws::EndpointConfig& config, const aws::Environment& env,
                               CloudTrailClientOptions& out, std::string& error) {
  std::string why;
  if (!aws::endpoint_settings(aws::AwsService::kCloudTrail, config, env, out.endpoint, why)) {
    error = "CloudTrail endpoint: " + why;
    return false;
  }
  if (out.endpoint.url.empty()) return true;
  // Checked now, not at the first digest: a URL is the same for every region.
  std::string url;
  if (!aws::resolve_endpoint_url(aws::AwsService::kCloudTrail, "us-east-1", out.endpoint, url,
                                 error))
    return false;
  return true;
}

std::string encode_list_public_keys(int64_t start, int64_t end, std::string_view next_token) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("StartTime", start);
  w.field("EndTime", end);
  if (!next_token.empty()) w.field("NextToken", next_token);
  w.end_object();
  return body;
}

bool parse_list_public_keys(std::string_view body, std::vector<TrailPublicKey>& out,
                            std::string& next_token, std::string& error) {
  next_token.clear();
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (p.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    error = "the answer is not a JSON object: " + http::printable_excerpt(body, 120);
    return false;
  }
  simdjson::dom::element token;
  if (root["NextToken"].get(token) == simdjson::SUCCESS && !token.is_null()) {
    std::string_view t;
    if (token.get_string().get(t) != simdjson::SUCCESS) {
      error = "NextToken is not a string";
      return false;
    }
    next_token = std::string(t);
  }
  simdjson::dom::element list;
  if (root["PublicKeyList"].get(list) != simdjson::SUCCESS || list.is_null())
    return true;  // no keys in the range (the protocol may leave an empty list out)
  simdjson::dom::array keys;
  if (list.get_array().get(keys) != simdjson::SUCCESS) {
    error = "PublicKeyList is not an array";
    return false;
  }
  size_t index = 0;
  for (simdjson::dom::element k : keys) {
    auto bad = [&](std::string_view why) {
      error = fmt::format("PublicKeyList[{}]: {}", index, why);
      return false;
    };
    if (!k.is_object()) return bad("not an object");
    TrailPublicKey key;
    std::string_view value, fingerprint;
    if (k["Value"].get_string().get(value) != simdjson::SUCCESS)
      return bad("no Value (a base64 string)");
    if (value.size() > kMaxPublicKeyDerBytes * 4 / 3 + 4)
      return bad(fmt::format("Value is over {} bytes", kMaxPublicKeyDerBytes));
    if (value.empty() || !aws::base64_decode(value, key.der))
      return bad("Value is not base64: " + http::printable_excerpt(value, 40));
    if (k["Fingerprint"].get_string().get(fingerprint) != simdjson::SUCCESS ||
        fingerprint.empty())
      return bad("no Fingerprint");
    if (fingerprint.size() > 128 || !is_hex(fingerprint))
      return bad("Fingerprint is not hex: " + http::printable_excerpt(fingerprint, 40));
    key.fingerprint = std::string(fingerprint);
    simdjson::dom::element t;
    if (k["ValidityStartTime"].get(t) != simdjson::SUCCESS ||
        !epoch_seconds(t, /*round_up=*/true, key.valid_from))
      return bad("no ValidityStartTime (epoch seconds)");
    if (k["ValidityEndTime"].get(t) != simdjson::SUCCESS ||
        !epoch_seconds(t, /*round_up=*/false, key.valid_until))
      return bad("no ValidityEndTime (epoch seconds)");
    if (key.valid_until < key.valid_from)
      return bad(fmt::format("ValidityEndTime {} is before ValidityStartTime {}", key.valid_until,
                             key.valid_from));
    out.push_back(std::move(key));
    ++index;
  }
  return true;
}

CloudTrailClient::CloudTrailClient(CloudTrailClientOptions options,
                                   std::shared_ptr<http::HttpClient> http,
                                   std::shared_ptr<aws::CredentialsSource> credentials)
    : options_(std::move(options)), http_(std::move(http)), credentials_(std::move(credentials)) {
  if (!options_.endpoint.url.empty()) {
    std::string url, error;
    if (options_.endpoint.source.empty()) options_.endpoint.source = "the CloudTrail options";
    if (!aws::resolve_endpoint_url(aws::AwsService::kCloudTrail, "us-east-1", options_.endpoint,
                                   url, error))
      throw std::runtime_error(error);
    url_region_ = aws::region_from_endpoint_url(aws::AwsService::kCloudTrail, url);
  }
  options_.max_attempts = std::max(options_.max_attempts, 1);
  options_.max_pages = std::max<size_t>(options_.max_pages, 1);
}

bool CloudTrailClient::build_request(const std::string& region, int64_t start, int64_t end,
                                     std::string_view next_token, http::HttpRequest& req,
                                     std::string& error) const {
  if (!aws::is_valid_region(region)) {
    error = fmt::format("CloudTrail ListPublicKeys: \"{}\" is not an AWS region name",
                        http::printable_excerpt(region, 64));
    return false;
  }
  if (!url_region_.empty() && url_region_ != region) {
    error = fmt::format(
        "CloudTrail ListPublicKeys for region {}: the endpoint {} (from {}) serves region {} "
        "only, and a region's public keys come only from its own endpoint; unset it or use an "
        "endpoint that serves every region",
        region, http::printable_excerpt(options_.endpoint.url, 120), options_.endpoint.source,
        url_region_);
    return false;
  }
  std::string url;
  if (!aws::resolve_endpoint_url(aws::AwsService::kCloudTrail, region, options_.endpoint, url,
                                 error))
    return false;
  req = http::HttpRequest{};
  if (!http::parse_endpoint_url(url, req, error)) return false;
  req.method = "POST";
  req.body = encode_list_public_keys(start, end, next_token);
  req.set_header("Content-Type", "application/x-amz-json-1.1");
  req.set_header("X-Amz-Target", std::string(kListPublicKeysTarget));
  return true;
}

RemoteStatus CloudTrailClient::list_public_keys(const std::string& region, int64_t start,
                                                int64_t end, std::vector<TrailPublicKey>& out,
                                                const std::atomic<bool>* cancel) {
  out.clear();
  const std::string what = fmt::format("CloudTrail ListPublicKeys in {}",
                                       http::printable_excerpt(region, 64));
  if (end < start)
    return {RemoteStatus::Code::kFatal,
            fmt::format("{}: the end {} is before the start {}", what, end, start)};
  aws::SignedCallOptions call = aws::signed_call_options(aws::AwsService::kCloudTrail,
                                                         "CloudTrail", region, &sqs_error_code);
  call.retryable = [](int status, std::string_view code) {
    return classify_aws_error(status, code) == RemoteStatus::Code::kRetry;
  };
  call.max_attempts = options_.max_attempts;
  call.backoff_base = options_.backoff_base;
  call.backoff_max = options_.backoff_max;
  call.sleep = options_.sleep;
  std::string token;
  for (size_t page = 0; page < options_.max_pages; ++page) {
    http::HttpRequest req;
    std::string error;
    if (!build_request(region, start, end, token, req, error)) {
      out.clear();
      return {RemoteStatus::Code::kFatal, error};
    }
    req.cancel = cancel;
    aws::SignedCallResult r = aws::signed_call(*http_, *credentials_, req, options_.timeout, call);
    using Outcome = aws::SignedCallResult::Outcome;
    RemoteStatus failed;
    switch (r.outcome) {
      case Outcome::kOk:
        break;
      case Outcome::kNoCredentials:
        failed = {RemoteStatus::Code::kRetry, fmt::format("no AWS credentials: {}", r.error)};
        break;
      case Outcome::kNoAnswer:
        failed = {RemoteStatus::Code::kRetry, fmt::format("{}: {}", what, r.error)};
        break;
      case Outcome::kCancelled:
      case Outcome::kDeadline:
        failed = {RemoteStatus::Code::kRetry, what + ": cancelled"};
        break;
      case Outcome::kRefused: {
        auto c = classify_aws_error(r.response.status, r.code);
        if (r.clock_corrected && aws::is_clock_skew_error(r.code)) c = RemoteStatus::Code::kRetry;
        failed = {c, fmt::format("{} failed: HTTP {} {}{}{}", what, r.response.status, r.code,
                                 r.message.empty() ? "" : ": ", r.message)};
        if (c == RemoteStatus::Code::kAccessDenied)
          failed.message += " (check cloudtrail:ListPublicKeys for the agent's role)";
        break;
      }
    }
    if (r.exhausted) failed.message += fmt::format(" (gave up after {} tries)", r.failures);
    if (!failed.ok()) {
      out.clear();
      return failed;
    }
    if (r.response.body.size() > kMaxListPublicKeysResponseBytes) {
      out.clear();
      return {RemoteStatus::Code::kFatal,
              fmt::format("{}: the answer is {} bytes, over the limit of {}", what,
                          r.response.body.size(), kMaxListPublicKeysResponseBytes)};
    }
    std::string next;
    if (!parse_list_public_keys(r.response.body, out, next, error)) {
      out.clear();
      return {RemoteStatus::Code::kFatal, fmt::format("{}: {}", what, error)};
    }
    if (out.size() > options_.max_keys) {
      out.clear();
      return {RemoteStatus::Code::kFatal,
              fmt::format("{}: more than {} keys for [{}, {}]; refused", what, options_.max_keys,
                          start, end)};
    }
    if (next.empty()) return {};
    if (next == token) {
      out.clear();
      return {RemoteStatus::Code::kFatal, what + ": NextToken repeats; refused"};
    }
    token = std::move(next);
  }
  out.clear();
  return {RemoteStatus::Code::kFatal,
          fmt::format("{}: more than {} pages for [{}, {}]; refused", what, options_.max_pages,
                      start, end)};
}

}  // namespace trailwarden
