#include "agent/aws/sso_credentials.h"

#include <openssl/sha.h>
#include <simdjson.h>

#include "agent/aws/endpoints.h"
#include "agent/http/http.h"
#include "agent/aws/sigv4.h"

namespace trailwarden::aws {
namespace {

constexpr size_t kMaxTokenBytes = 16384;

std::string get(const Profile& p, std::string_view key) {
  const auto it = p.find(key);
  return it == p.end() ? std::string() : it->second;
}

std::string sha1_hex(std::string_view s) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return to_hex(digest, sizeof digest);
}

// A region as it may appear in a host name.
bool valid_region(std::string_view r) {
  if (r.empty() || r.size() > 32) return false;
  for (char c : r) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool valid_account(std::string_view a) {
  if (a.size() != 12) return false;
  for (char c : a) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The portal endpoint: the SDKs' endpoint variables, else the regional host of the variant
// (agent/aws/endpoints.h).
bool portal_endpoint(const ProviderContext& ctx, const CredentialsOptions& options,
                     const std::string& region, HttpRequest& req, std::string& error) {
  // [aws] use_fips_endpoint, use_dualstack_endpoint and ignore_configured_endpoint_urls, as
  // for STS (the environment's variables are read by endpoint_settings).
  EndpointConfig config;
  config.use_fips = options.use_fips_endpoint;
  config.use_dual_stack = options.use_dualstack_endpoint;
  config.ignore_configured_endpoint_urls = options.ignore_configured_endpoint_urls;
  EndpointSettings settings;
  std::string url;
  if (!endpoint_settings(AwsService::kSso, config, ctx.env, settings, error) ||
      !resolve_endpoint_url(AwsService::kSso, region, settings, url, error)) {
    error = "SSO portal endpoint: " + error;
    return false;
  }
  if (!parse_endpoint_url(url, req, error)) {
    error = "SSO portal endpoint " + printable_excerpt(url, 120) + ": " + error;
    return false;
  }
  return true;
}

std::string login_hint(const std::string& profile) {
  return "run `aws sso login --profile " + profile + "`";
}

}  // namespace

bool is_sso_profile(const Profile& profile) {
  return profile.contains("sso_account_id") || profile.contains("sso_role_name");
}

FetchStatus fetch_sso_credentials(const ProviderContext& ctx, const std::string& name,
                                  const Profile& profile, const Profiles& sso_sessions,
                                  const CredentialsOptions& options, Credentials& out,
                                  std::string& message) {
  // Resolve the sso-session reference (botocore's _resolve_sso_session_reference).
  Profile config = profile;
  const std::string session = get(profile, "sso_session");
  if (!session.empty()) {
    const auto it = sso_sessions.find(session);
    if (it == sso_sessions.end()) {
      message = "sso_session '" + session + "': no [sso-session " + session +
                "] section in the config file";
      return FetchStatus::kInvalid;
    }
    for (const auto& [key, value] : it->second) {
      const auto mine = config.find(key);
      if (mine != config.end() && mine->second != value) {
        message = key + " differs between the profile and [sso-session " + session + "]";
        return FetchStatus::kInvalid;
      }
      config[key] = value;
    }
  }
  std::string missing;
  for (const char* key : {"sso_start_url", "sso_region", "sso_account_id", "sso_role_name"}) {
    if (get(config, key).empty()) missing += (missing.empty() ? "" : ", ") + std::string(key);
  }
  if (!missing.empty()) {
    message = "is configured for IAM Identity Center (SSO) but lacks " + missing;
    return FetchStatus::kInvalid;
  }
  const std::string start_url = get(config, "sso_start_url");
  const std::string region = get(config, "sso_region");
  const std::string account = get(config, "sso_account_id");
  const std::string role = get(config, "sso_role_name");
  if (!valid_region(region)) {
    message = "sso_region '" + printable_excerpt(region, 40) + "' is not a region name";
    return FetchStatus::kInvalid;
  }
  if (!valid_account(account)) {
    message = "sso_account_id must be 12 digits";
    return FetchStatus::kInvalid;
  }
  HttpRequest req;
  if (!portal_endpoint(ctx, options, region, req, message)) return FetchStatus::kInvalid;

  // The token `aws sso login` cached.
  const std::string home = ctx.getenv("HOME");
  if (home.empty()) {
    message = "HOME is not set: cannot find the SSO token cache (~/.aws/sso/cache)";
    return FetchStatus::kInvalid;
  }
  const std::string cache =
      home + "/.aws/sso/cache/" + sha1_hex(session.empty() ? start_url : session) + ".json";
  std::string content, read_error;
  switch (ctx.read_file(cache, content, read_error)) {
    case ReadStatus::kOk:
      break;
    case ReadStatus::kNotFound:
      message = "no cached SSO token " + cache + " (" + login_hint(name) + ")";
      return FetchStatus::kFailed;
    case ReadStatus::kError:
      message = "cannot read the cached SSO token: " + read_error;
      return FetchStatus::kFailed;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view token, expires;
  if (content.size() > kMaxTokenBytes || parser.parse(content).get(doc) || !doc.is_object() ||
      doc["accessToken"].get_string().get(token) || doc["expiresAt"].get_string().get(expires) ||
      !header_safe(token)) {
    message = "the cached SSO token " + cache +
              " is not a JSON object with accessToken and expiresAt (" + login_hint(name) + ")";
    return FetchStatus::kFailed;
  }
  std::string expires_text(expires);
  if (expires_text.ends_with("UTC")) expires_text.replace(expires_text.size() - 3, 3, "Z");
  TimePoint expires_at;
  if (!parse_iso8601(expires_text, expires_at)) {
    message = "the cached SSO token " + cache + " has an unreadable expiresAt '" +
              printable_excerpt(expires, 40) + "'";
    return FetchStatus::kFailed;
  }
  if (expires_at <= ctx.now()) {
    message = "the cached SSO token " + cache + " expired at " + format_iso8601(expires_at) + " (" +
              login_hint(name) +
              "; trailwarden does not refresh SSO tokens: for an unattended agent prefer a role)";
    return FetchStatus::kFailed;
  }

  // GetRoleCredentials.
  req.method = "GET";
  req.path = (req.path == "/" ? std::string() : req.path) + "/federation/credentials";
  req.query = {{"account_id", account}, {"role_name", role}};
  req.headers = {{"x-amz-sso_bearer_token", std::string(token)}, {"accept", "application/json"}};
  req.cancel = ctx.cancel;
  const HttpResponse resp = ctx.http->perform(req, options.sts_timeout);
  const std::string where = "GET " + req.scheme + "://" + req.host + req.path;
  if (!resp.error.empty()) {
    message = "SSO GetRoleCredentials " + where + ": " + resp.error;
    return FetchStatus::kFailed;
  }
  if (resp.status != 200) {
    message = "SSO GetRoleCredentials: HTTP " + std::to_string(resp.status) + " from " + where;
    const std::string* type = resp.find_header("x-amzn-errortype");
    if (type != nullptr) message += ": " + printable_excerpt(type->substr(0, type->find(':')), 80);
    if (resp.status == 401) {
      message += " (the cached token was refused: expired or signed out; " + login_hint(name) + ")";
    } else if (resp.status == 403) {
      message += " (no access to role " + role + " in account " + account + ")";
    }
    scrub_secret(message, token);
    return FetchStatus::kFailed;
  }
  simdjson::dom::element creds;
  std::string_view id, secret, session_token;
  int64_t expiration_ms = 0;
  if (parser.parse(resp.body).get(doc) || doc["roleCredentials"].get(creds) ||
      creds["accessKeyId"].get_string().get(id) ||
      creds["secretAccessKey"].get_string().get(secret) ||
      creds["sessionToken"].get_string().get(session_token) ||
      creds["expiration"].get_int64().get(expiration_ms) || !header_safe(id) ||
      !header_safe(secret) || !header_safe(session_token)) {
    message = "SSO GetRoleCredentials " + where +
              ": the response lacks roleCredentials (accessKeyId, secretAccessKey, sessionToken, "
              "expiration)";
    return FetchStatus::kFailed;
  }
  out = Credentials{std::string(id), std::string(secret), std::string(session_token),
                    TimePoint(std::chrono::milliseconds(expiration_ms)), ""};
  return FetchStatus::kOk;
}

}  // namespace trailwarden::aws
