#include "agent/aws/sts.h"

#include <vector>

#include "agent/aws/names.h"
#include "agent/http/classify.h"
#include "agent/aws/signing_clock.h"
#include "agent/aws/sigv4.h"
#include "agent/aws/xml.h"

namespace trailwarden::aws {
namespace {

HttpRequest make_request(const StsEndpoint& endpoint, QueryList params) {
  HttpRequest req = endpoint.base;
  req.method = "POST";
  req.query.clear();
  req.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"accept", "text/xml"}};
  req.body = form_encode(params);
  return req;
}

bool interpret(const HttpRequest& req, const HttpResponse& resp, std::string_view action,
               Credentials& out, std::string& error) {
  if (!resp.error.empty()) {
    error = "STS " + std::string(action) + " (POST " + req.scheme + "://" + req.host + req.path +
            "): " + resp.error;
    return false;
  }
  if (!parse_sts_response(action, resp, out, error)) {
    error = "STS " + std::string(action) + " (" + req.scheme + "://" + req.host + "): " + error;
    return false;
  }
  return true;
}

// The <Code> of an STS ErrorResponse, or "".
std::string error_code(const HttpResponse& response) {
  std::vector<XmlLeaf> leaves;
  std::string code, ignored;
  if (parse_xml_leaves(response.body, leaves, ignored))
    xml_leaf_text(leaves, "ErrorResponse/Error/Code", code);
  return code;
}

bool printable_token(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return !s.empty();
}

}  // namespace

bool make_sts_endpoint(std::string_view region, std::string_view url, StsEndpoint& out,
                       std::string& error) {
  EndpointSettings settings;
  settings.url = std::string(url);
  settings.source = "the STS endpoint URL";
  return make_sts_endpoint(region, settings, out, error);
}

bool make_sts_endpoint(std::string_view region, const EndpointSettings& settings, StsEndpoint& out,
                       std::string& error) {
  if (!is_valid_region(region)) {
    error = "invalid region '" + printable_excerpt(region, 64) + "' (not an AWS region name like us-east-1)";
    return false;
  }
  out.region = std::string(region);
  std::string u;
  if (!resolve_endpoint_url(AwsService::kSts, region, settings, u, error)) return false;
  if (!parse_endpoint_url(u, out.base, error)) {
    error = "STS endpoint: " + error;
    return false;
  }
  return true;
}

bool parse_sts_response(std::string_view action, const HttpResponse& response, Credentials& out,
                        std::string& error) {
  std::vector<XmlLeaf> leaves;
  std::string xml_error;
  const bool parsed = parse_xml_leaves(response.body, leaves, xml_error);
  if (response.status != 200) {
    std::string code, message;
    if (parsed && xml_leaf_text(leaves, "ErrorResponse/Error/Code", code)) {
      xml_leaf_text(leaves, "ErrorResponse/Error/Message", message);
      error = "HTTP " + std::to_string(response.status) + " " + printable_excerpt(code, 64);
      if (!message.empty()) error += ": " + printable_excerpt(message, 300);
    } else {
      error = "HTTP " + std::to_string(response.status);
      if (!response.body.empty()) error += ": " + printable_excerpt(response.body, 200);
    }
    return false;
  }
  if (!parsed) {
    error = "unreadable response: " + xml_error;
    return false;
  }
  const std::string prefix =
      std::string(action) + "Response/" + std::string(action) + "Result/Credentials/";
  Credentials c;
  std::string expiration;
  if (!xml_leaf_text(leaves, prefix + "AccessKeyId", c.access_key_id) ||
      !xml_leaf_text(leaves, prefix + "SecretAccessKey", c.secret_access_key) ||
      !xml_leaf_text(leaves, prefix + "SessionToken", c.session_token) ||
      !xml_leaf_text(leaves, prefix + "Expiration", expiration)) {
    error =
        "response lacks exactly one of AccessKeyId, SecretAccessKey, SessionToken, "
        "Expiration under " +
        prefix;
    return false;
  }
  if (!printable_token(c.access_key_id) || c.access_key_id.size() > 128 ||
      !printable_token(c.secret_access_key) || !printable_token(c.session_token)) {
    error = "response has an empty or malformed credential value";
    return false;
  }
  TimePoint t;
  if (!parse_iso8601(expiration, t)) {
    error = "response has an unreadable Expiration '" + printable_excerpt(expiration, 40) + "'";
    return false;
  }
  c.expiration = t;
  out = std::move(c);
  return true;
}

bool sts_failure_permanent(std::string_view action, const HttpResponse& response) {
  if (http::classify(response).retryable) return false;
  if (response.status == 200) return false;  // an answer that could not be read
  const std::string code = error_code(response);
  static constexpr std::string_view kTransient[] = {
      "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
      "RequestThrottled", "RequestThrottledException", "IDPCommunicationError",
      "IDPCommunicationErrorException"};
  for (std::string_view t : kTransient)
    if (code == t) return false;
  if (action == "AssumeRoleWithWebIdentity" &&
      (code == "InvalidIdentityToken" || code == "InvalidIdentityTokenException"))
    return false;
  return true;
}

bool sts_assume_role(HttpClient& http, const StsEndpoint& endpoint, const Credentials& source,
                     const AssumeRoleParams& params, TimePoint now,
                     std::chrono::milliseconds timeout, Credentials& out, std::string& error,
                     bool* permanent) {
  QueryList form = {{"Action", "AssumeRole"},
                    {"Version", std::string(kStsVersion)},
                    {"RoleArn", params.role_arn},
                    {"RoleSessionName", params.role_session_name}};
  if (!params.external_id.empty()) form.emplace_back("ExternalId", params.external_id);
  if (params.duration.count() > 0) {
    form.emplace_back("DurationSeconds", std::to_string(params.duration.count()));
  }
  HttpRequest req = make_request(endpoint, std::move(form));
  // `now` is the system clock's time; AWS's is that plus the signing clock's offset. A
  // clock-skew error corrects the offset and the call is signed again and sent once more.
  const TimePoint signed_at = now + SigningClock::global().offset();
  sign_v4(req, source, endpoint.region, "sts", signed_at);
  HttpResponse resp = http.perform(req, timeout);
  if (resp.error.empty() && resp.status != 200) {
    const std::string code = error_code(resp);
    if (!code.empty() &&
        correct_clock_from(resp, code, "STS", signed_at, is_aws_host(AwsService::kSts, req))) {
      sign_v4(req, source, endpoint.region, "sts", now + SigningClock::global().offset());
      resp = http.perform(req, timeout);
    }
  }
  const bool ok = interpret(req, resp, "AssumeRole", out, error);
  if (!ok) {
    if (permanent) *permanent = sts_failure_permanent("AssumeRole", resp);
    scrub_secret(error, source.secret_access_key);
    scrub_secret(error, source.session_token);
  }
  return ok;
}

bool sts_assume_role_with_web_identity(HttpClient& http, const StsEndpoint& endpoint,
                                       const AssumeRoleParams& params,
                                       std::string_view web_identity_token,
                                       std::chrono::milliseconds timeout, Credentials& out,
                                       std::string& error, bool* permanent) {
  QueryList form = {{"Action", "AssumeRoleWithWebIdentity"},
                    {"Version", std::string(kStsVersion)},
                    {"RoleArn", params.role_arn},
                    {"RoleSessionName", params.role_session_name},
                    {"WebIdentityToken", std::string(web_identity_token)}};
  if (params.duration.count() > 0) {
    form.emplace_back("DurationSeconds", std::to_string(params.duration.count()));
  }
  const HttpRequest req = make_request(endpoint, std::move(form));
  const HttpResponse resp = http.perform(req, timeout);
  const bool ok = interpret(req, resp, "AssumeRoleWithWebIdentity", out, error);
  if (!ok) {
    if (permanent) *permanent = sts_failure_permanent("AssumeRoleWithWebIdentity", resp);
    scrub_secret(error, web_identity_token);
    scrub_secret(error, uri_encode(web_identity_token));
  }
  return ok;
}

}  // namespace trailwarden::aws
