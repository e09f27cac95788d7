// The credential providers that need files, HTTP or STS: web identity, shared profiles,
// container endpoint, EC2 instance metadata, and AssumeRole on top of another source.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "agent/aws/credentials.h"
#include "agent/aws/process_credentials.h"
#include "agent/aws/profile.h"
#include "agent/aws/sso_credentials.h"
#include "agent/aws/sts.h"

namespace trailwarden::aws {
namespace {

constexpr size_t kMaxTokenBytes = 16384;
constexpr size_t kMaxProfileChain = 8;
constexpr std::string_view kImdsTtlSeconds = "21600";

bool iequals(std::string_view a, std::string_view b) { return ascii_lower(a) == ascii_lower(b); }

std::string_view trim_ws(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string default_session_name(const ProviderContext& ctx) {
  const auto secs =
      std::chrono::duration_cast<std::chrono::seconds>(ctx.now().time_since_epoch()).count();
  return "trailwarden-" + std::to_string(secs);
}

std::string expand_home(const ProviderContext& ctx, const std::string& path) {
  if (path == "~" || path.starts_with("~/")) {
    const std::string home = ctx.getenv("HOME");
    if (!home.empty()) return home + path.substr(1);
  }
  return path;
}

// STS endpoint from the options, the environment and (for profiles) the profile's region.
bool resolve_sts(const ProviderContext& ctx, const CredentialsOptions& options,
                 std::string_view profile_region, StsEndpoint& out, std::string& error) {
  std::string region = options.region;
  if (region.empty()) region = ctx.getenv("AWS_REGION");
  if (region.empty()) region = ctx.getenv("AWS_DEFAULT_REGION");
  if (region.empty()) region = std::string(profile_region);
  if (region.empty()) region = "us-east-1";
  // options.sts_endpoint, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL; FIPS / dual-stack
  // (agent/aws/endpoints.h).
  EndpointConfig config;
  config.sts_endpoint_url = options.sts_endpoint;
  config.use_fips = options.use_fips_endpoint;
  config.use_dual_stack = options.use_dualstack_endpoint;
  config.ignore_configured_endpoint_urls = options.ignore_configured_endpoint_urls;
  EndpointSettings settings;
  if (!endpoint_settings(AwsService::kSts, config, ctx.env, settings, error)) return false;
  if (!make_sts_endpoint(region, settings, out, error)) return false;
  out.base.cancel = ctx.cancel;  // every STS call is abandoned at shutdown
  return true;
}

// Reads a token file (web identity, container authorization): trimmed, printable.
bool read_token_file(const ProviderContext& ctx, const std::string& what, const std::string& path,
                     std::string& token, std::string& error) {
  std::string content, read_error;
  switch (ctx.read_file(path, content, read_error)) {
    case ReadStatus::kOk:
      break;
    case ReadStatus::kNotFound:
      error = what + " " + path + " does not exist";
      return false;
    case ReadStatus::kError:
      error = "cannot read " + what + ": " + read_error;
      return false;
  }
  if (content.size() > kMaxTokenBytes) {
    error = what + " " + path + " is larger than " + std::to_string(kMaxTokenBytes) + " bytes";
    return false;
  }
  token = std::string(trim_ws(content));
  if (!header_safe(token)) {
    error = what + " " + path + " is empty or contains spaces or control characters";
    return false;
  }
  return true;
}

// Performs `req`, again on transport errors and 5xx, up to `attempts` times (no delay: IMDS is
// link-local and the whole fetch is retried later by the chain anyway).
HttpResponse perform_attempts(HttpClient& http, const HttpRequest& req,
                              std::chrono::milliseconds timeout, int attempts) {
  HttpResponse resp;
  for (int i = 0; i < std::max(attempts, 1); ++i) {
    resp = http.perform(req, timeout);
    if (resp.error.empty() && resp.status < 500) break;
    if (resp.error == "cancelled") break;
  }
  return resp;
}

// What to tell an operator whose IMDSv2 token PUT got no answer: in a container on EC2 the
// answer needs two network hops, and the instance default allows one.
constexpr std::string_view kHopLimitHint =
    "if this runs in a container on EC2, the IMDSv2 token's answer needs two hops: raise the "
    "instance's HttpPutResponseHopLimit to 2 (aws ec2 modify-instance-metadata-options "
    "--instance-id ID --http-put-response-hop-limit 2 --http-endpoint enabled)";

// ... and whose PUT could not even connect: nothing answers at the metadata address.
constexpr std::string_view kUnreachableHint =
    "the instance metadata endpoint accepted no connection: not on EC2, or the instance's "
    "metadata service is turned off (set AWS_EC2_METADATA_DISABLED=true where there is none)";

std::string where(const HttpRequest& req) {
  return req.method + " " + req.scheme + "://" + req.host + req.path;
}

// "GET http://...: timed out" or "HTTP 404 from GET http://...[: code: message]".
std::string http_failure(const HttpRequest& req, const HttpResponse& resp) {
  if (!resp.error.empty()) return where(req) + ": " + resp.error;
  std::string out = "HTTP " + std::to_string(resp.status) + " from " + where(req);
  // The container endpoints answer errors as {"code": ..., "message": ...}.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view code, message;
  if (!resp.body.empty() && !parser.parse(resp.body.data(), resp.body.size()).get(doc) &&
      (!doc["code"].get_string().get(code) || !doc["Code"].get_string().get(code))) {
    out += ": " + printable_excerpt(code, 64);
    if (!doc["message"].get_string().get(message) || !doc["Message"].get_string().get(message)) {
      out += ": " + printable_excerpt(message, 300);
    }
  } else if (!resp.body.empty()) {
    out += ": " + printable_excerpt(resp.body, 200);
  }
  return out;
}

// {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} as the container endpoints and IMDS
// answer. IMDS also has "Code": "Success".
bool parse_credentials_json(std::string_view body, bool require_token_and_expiration,
                            Credentials& out, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object()) {
    error = "response is not a JSON object";
    return false;
  }
  std::string_view code;
  if (!doc["Code"].get_string().get(code) && code != "Success") {
    error = "response Code is " + printable_excerpt(code, 64);
    return false;
  }
  std::string_view id, secret, token, expiration;
  if (doc["AccessKeyId"].get_string().get(id) || doc["SecretAccessKey"].get_string().get(secret)) {
    error = "response lacks AccessKeyId or SecretAccessKey";
    return false;
  }
  const bool has_token = !doc["Token"].get_string().get(token);
  const bool has_expiration = !doc["Expiration"].get_string().get(expiration);
  if (require_token_and_expiration && (!has_token || !has_expiration)) {
    error = "response lacks Token or Expiration";
    return false;
  }
  if (has_token && token.empty()) {  // present but empty: IMDS and ECS never send one
    error = "response has an empty or malformed credential value";
    return false;
  }
  return build_credentials("response", id, secret, token, has_expiration ? expiration : "", out,
                           error);
}

// ---- web identity ----

FetchStatus web_identity(const ProviderContext& ctx, const CredentialsOptions& options,
                         std::string_view profile_region, const std::string& token_file,
                         AssumeRoleParams params, Credentials& out, std::string& message) {
  std::string token;
  if (!read_token_file(ctx, "web identity token file", expand_home(ctx, token_file), token,
                       message)) {
    return FetchStatus::kFailed;
  }
  StsEndpoint endpoint;
  if (!resolve_sts(ctx, options, profile_region, endpoint, message)) return FetchStatus::kInvalid;
  if (params.role_session_name.empty()) params.role_session_name = default_session_name(ctx);
  bool permanent = false;
  if (!sts_assume_role_with_web_identity(*ctx.http, endpoint, params, token, options.sts_timeout,
                                         out, message, &permanent)) {
    return permanent ? FetchStatus::kInvalid : FetchStatus::kFailed;
  }
  return FetchStatus::kOk;
}

class WebIdentityProvider final : public CredentialsProvider {
 public:
  WebIdentityProvider(std::shared_ptr<const ProviderContext> ctx, CredentialsOptions options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {}
  std::string name() const override { return "web-identity"; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    const std::string file = ctx_->getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    const std::string role = ctx_->getenv("AWS_ROLE_ARN");
    if (file.empty() && role.empty()) {
      message = "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set";
      return FetchStatus::kNotConfigured;
    }
    if (file.empty() || role.empty()) {
      message = file.empty() ? "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not"
                             : "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not";
      return FetchStatus::kInvalid;
    }
    AssumeRoleParams params;
    params.role_arn = role;
    params.role_session_name = ctx_->getenv("AWS_ROLE_SESSION_NAME");
    const FetchStatus st = web_identity(*ctx_, options_, "", file, params, out, message);
    if (st == FetchStatus::kOk) out.provider = name();
    return st;
  }

 private:
  std::shared_ptr<const ProviderContext> ctx_;
  CredentialsOptions options_;
};

// ---- container ----

class ContainerProvider final : public CredentialsProvider {
 public:
  ContainerProvider(std::shared_ptr<const ProviderContext> ctx, CredentialsOptions options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {}
  std::string name() const override { return "container"; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    const std::string relative = ctx_->getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const std::string full = ctx_->getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (relative.empty() && full.empty()) {
      message =
          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not "
          "set";
      return FetchStatus::kNotConfigured;
    }
    HttpRequest req;
    std::string token;
    if (!relative.empty()) {
      // ECS: the relative URI takes precedence, and no authorization token is sent.
      if (relative.front() != '/') {
        message = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'";
        return FetchStatus::kInvalid;
      }
      if (!split_target("http://169.254.170.2" + relative, req, message)) {
        message = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: " + message;
        return FetchStatus::kInvalid;
      }
    } else {
      if (!split_target(full, req, message)) {
        message = "AWS_CONTAINER_CREDENTIALS_FULL_URI: " + message;
        return FetchStatus::kInvalid;
      }
      if (req.scheme == "http" && !allowed_http_host(req.host)) {
        message = "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain-http host " +
                  printable_excerpt(req.host, 80) +
                  " is not allowed (only loopback, 169.254.170.2, 169.254.170.23 and "
                  "[fd00:ec2::23]; use https for other hosts)";
        return FetchStatus::kInvalid;
      }
      const std::string token_file = ctx_->getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      if (!token_file.empty()) {
        // Read on every fetch: EKS Pod Identity rotates the file.
        if (!read_token_file(*ctx_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                             expand_home(*ctx_, token_file), token, message)) {
          return FetchStatus::kFailed;
        }
      } else {
        token = ctx_->getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (!token.empty() && !header_safe(token)) {
          message = "AWS_CONTAINER_AUTHORIZATION_TOKEN contains spaces or control characters";
          return FetchStatus::kInvalid;
        }
      }
    }
    req.method = "GET";
    req.headers = {{"accept", "application/json"}};
    if (!token.empty()) req.headers.emplace_back("authorization", token);
    req.cancel = ctx_->cancel;
    // botocore's ContainerMetadataFetcher: every failure (transport, status, body) is tried
    // again, up to container_attempts, with container_retry_pause in between.
    const int attempts = std::max(options_.container_attempts, 1);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (attempt > 1) {
        ctx_->pause(options_.container_retry_pause);
        if (ctx_->cancelled()) break;
      }
      const HttpResponse resp = ctx_->http->perform(req, options_.container_timeout);
      if (!resp.ok()) {
        message = http_failure(req, resp);
        scrub_secret(message, token);
      } else if (!parse_credentials_json(resp.body, false, out, message)) {
        message = where(req) + ": " + message;
      } else {
        out.provider = name();
        return FetchStatus::kOk;
      }
      if (ctx_->cancelled()) break;
    }
    if (attempts > 1) message += " (" + std::to_string(attempts) + " attempts)";
    return FetchStatus::kFailed;
  }

 private:
  // "http://host:port/path?query" into the request (query decoded into raw pairs).
  static bool split_target(const std::string& url, HttpRequest& req, std::string& error) {
    const size_t q = url.find('?');
    if (!parse_endpoint_url(url.substr(0, q), req, error)) return false;
    req.query.clear();
    if (q == std::string::npos) return true;
    std::string_view qs = std::string_view(url).substr(q + 1);
    while (!qs.empty()) {
      const size_t amp = qs.find('&');
      const std::string_view pair = qs.substr(0, amp);
      const size_t eq = pair.find('=');
      std::string k, v;
      if (!uri_decode(pair.substr(0, eq), k) ||
          (eq != std::string_view::npos && !uri_decode(pair.substr(eq + 1), v))) {
        error = "malformed query string";
        return false;
      }
      if (!pair.empty()) req.query.emplace_back(std::move(k), std::move(v));
      qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
    }
    return true;
  }

  static bool allowed_http_host(std::string_view host) {
    const std::string_view name = host_without_port(host);
    return is_loopback_host(host) || name == "169.254.170.2" || name == "169.254.170.23" ||
           name == "[fd00:ec2::23]";
  }

  std::shared_ptr<const ProviderContext> ctx_;
  CredentialsOptions options_;
};

// ---- EC2 instance metadata ----

class ImdsProvider final : public CredentialsProvider {
 public:
  ImdsProvider(std::shared_ptr<const ProviderContext> ctx, CredentialsOptions options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {}
  std::string name() const override { return "imds"; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    if (iequals(ctx_->getenv("AWS_EC2_METADATA_DISABLED"), "true")) {
      message = "disabled by AWS_EC2_METADATA_DISABLED";
      return FetchStatus::kNotConfigured;
    }
    std::string url = ctx_->getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (url.empty()) {
      const std::string mode = ascii_lower(ctx_->getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
      if (mode.empty() || mode == "ipv4") {
        url = "http://169.254.169.254";
      } else if (mode == "ipv6") {
        url = "http://[fd00:ec2::254]";
      } else {
        message = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6";
        return FetchStatus::kInvalid;
      }
    }
    HttpRequest base;
    if (!parse_endpoint_url(url, base, message)) {
      message = "AWS_EC2_METADATA_SERVICE_ENDPOINT: " + message;
      return FetchStatus::kInvalid;
    }
    base.cancel = ctx_->cancel;
    std::chrono::milliseconds timeout = options_.metadata_timeout;
    int attempts = options_.metadata_attempts;
    if (!env_overrides(timeout, attempts, message)) return FetchStatus::kInvalid;
    std::string prefix = base.path;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();

    // IMDSv2 session token.
    HttpRequest put = base;
    put.method = "PUT";
    put.path = prefix + "/latest/api/token";
    put.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", std::string(kImdsTtlSeconds)}};
    // As botocore's IMDSFetcher._fetch_metadata_token: 200 is the token; 400 is an error;
    // a read timeout falls back to IMDSv1 at once; 403/404/405 (IMDSv2 unavailable) fall
    // back; connection errors and other statuses are tried `attempts` times, then fall back.
    std::string token;
    std::string no_token;     // why there is no token (for messages)
    bool token_lost = false;   // the PUT's answer never came (hop limit?)
    bool unreachable = false;  // the PUT timed out before a connection was made (not on EC2?)
    for (int i = 0; i < std::max(attempts, 1); ++i) {
      const HttpResponse resp = ctx_->http->perform(put, timeout);
      if (resp.ok()) {
        token = std::string(trim_ws(resp.body));
        if (!header_safe(token) || token.size() > 1024) {
          message = where(put) + ": malformed session token";
          return FetchStatus::kFailed;
        }
        break;
      }
      no_token = http_failure(put, resp);
      if (resp.error == "cancelled") {
        message = no_token;
        return FetchStatus::kFailed;
      }
      // A PUT whose answer never comes over an established connection is the hop-limit
      // symptom; a connection that is never made (or refused) means nothing answers there.
      const bool timed_out = resp.error.starts_with("timed out");
      token_lost = timed_out && resp.connected;
      unreachable = timed_out && !resp.connected;
      if (timed_out) break;
      if (!resp.error.empty()) continue;
      if (resp.status == 400) {
        message = no_token;
        return FetchStatus::kFailed;
      }
      if (resp.status == 403 || resp.status == 404 || resp.status == 405) break;
    }
    std::string v1_note;  // added to IMDSv1 failures
    if (token.empty()) {
      // No IMDSv2 token: the SDKs fall back to IMDSv1 unless told not to.
      if (iequals(ctx_->getenv("AWS_EC2_METADATA_V1_DISABLED"), "true")) {
        message = "no IMDSv2 session token (" + no_token +
                  "), and IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED";
        if (token_lost) message += "; " + std::string(kHopLimitHint);
        if (unreachable) message += "; " + std::string(kUnreachableHint);
        return FetchStatus::kFailed;
      }
      v1_note = " (IMDSv1, after no IMDSv2 session token: " + no_token + ")";
      if (token_lost) v1_note += "; " + std::string(kHopLimitHint);
      if (unreachable) v1_note += "; " + std::string(kUnreachableHint);
    }

    HttpRequest get = base;
    get.method = "GET";
    get.path = prefix + "/latest/meta-data/iam/security-credentials/";
    if (!token.empty()) get.headers = {{"x-aws-ec2-metadata-token", token}};
    HttpResponse resp = perform_attempts(*ctx_->http, get, timeout, attempts);
    if (!resp.ok()) {
      message = http_failure(get, resp);
      if (resp.error.empty() && resp.status == 404) {
        message = "no IAM role is attached to this instance (" + message + ")";
      }
      message += v1_note;
      scrub_secret(message, token);
      return FetchStatus::kFailed;
    }
    std::string_view body = trim_ws(resp.body);
    const std::string role(trim_ws(body.substr(0, body.find('\n'))));
    if (!valid_role_name(role)) {
      message = where(get) + ": malformed role name '" + printable_excerpt(role, 80) + "'";
      scrub_secret(message, token);
      return FetchStatus::kFailed;
    }
    get.path += role;
    resp = perform_attempts(*ctx_->http, get, timeout, attempts);
    if (!resp.ok()) {
      message = http_failure(get, resp) + v1_note;
      scrub_secret(message, token);
      return FetchStatus::kFailed;
    }
    if (!parse_credentials_json(resp.body, true, out, message)) {
      message = where(get) + ": " + message;
      return FetchStatus::kFailed;
    }
    out.provider = name() + " (role " + role + (token.empty() ? ", IMDSv1)" : ")");
    return FetchStatus::kOk;
  }

 private:
  // AWS_METADATA_SERVICE_TIMEOUT (seconds) and AWS_METADATA_SERVICE_NUM_ATTEMPTS, as botocore.
  bool env_overrides(std::chrono::milliseconds& timeout, int& attempts,
                     std::string& message) const {
    const std::string t = ctx_->getenv("AWS_METADATA_SERVICE_TIMEOUT");
    if (!t.empty()) {
      double secs = 0;
      const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), secs);
      if (ec != std::errc() || ptr != t.data() + t.size() || !(secs > 0) || secs > 60) {
        message = "AWS_METADATA_SERVICE_TIMEOUT must be a number of seconds from 0 to 60";
        return false;
      }
      timeout = std::chrono::milliseconds(static_cast<int64_t>(secs * 1000));
    }
    const std::string n = ctx_->getenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
    if (!n.empty()) {
      int v = 0;
      const auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
      if (ec != std::errc() || ptr != n.data() + n.size() || v < 1 || v > 10) {
        message = "AWS_METADATA_SERVICE_NUM_ATTEMPTS must be an integer from 1 to 10";
        return false;
      }
      attempts = v;
    }
    return true;
  }

  // IAM role names: [\w+=,.@-]{1,64}.
  static bool valid_role_name(std::string_view role) {
    if (role.empty() || role.size() > 64) return false;
    return std::all_of(role.begin(), role.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
    });
  }

  std::shared_ptr<const ProviderContext> ctx_;
  CredentialsOptions options_;
};

// ---- shared config and credentials files ----

class ProfileProvider final : public CredentialsProvider {
 public:
  ProfileProvider(std::shared_ptr<const ProviderContext> ctx, CredentialsOptions options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {
    profile_ = options_.profile;
    explicit_ = !profile_.empty();
    if (profile_.empty()) {
      profile_ = ctx_->getenv("AWS_PROFILE");
      explicit_ = !profile_.empty();
    }
    if (profile_.empty()) profile_ = "default";
  }
  std::string name() const override { return "profile " + profile_; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    Profiles profiles;
    sso_sessions_.clear();
    keys_in_credentials_file_.clear();
    std::vector<std::string> paths;
    bool any_file = false;
    const std::string home = ctx_->getenv("HOME");
    struct File {
      const char* env;
      const char* default_name;
      ProfileFileKind kind;
    };
    // Config first, then credentials: the credentials file wins where both set a key.
    for (const File& f :
         {File{"AWS_CONFIG_FILE", "config", ProfileFileKind::kConfig},
          File{"AWS_SHARED_CREDENTIALS_FILE", "credentials", ProfileFileKind::kCredentials}}) {
      std::string path = ctx_->getenv(f.env);
      if (path.empty()) {
        if (home.empty()) continue;  // no HOME: no default location
        path = home + "/.aws/" + f.default_name;
      }
      path = expand_home(*ctx_, path);
      paths.push_back(path);
      std::string content, error;
      switch (ctx_->read_file(path, content, error)) {
        case ReadStatus::kNotFound:
          continue;
        case ReadStatus::kError:
          message = "cannot read " + error;
          return FetchStatus::kFailed;
        case ReadStatus::kOk:
          break;
      }
      any_file = true;
      if (!parse_profile_file(content, f.kind, path, profiles, error, &sso_sessions_)) {
        message = error;
        return FetchStatus::kInvalid;
      }
      if (f.kind == ProfileFileKind::kCredentials) {
        // Where static keys came from decides their place in the order (resolve()).
        Profiles own;
        if (parse_profile_file(content, f.kind, path, own, error)) {
          for (const auto& [profile_name, properties] : own) {
            if (properties.contains("aws_access_key_id")) {
              keys_in_credentials_file_.insert(profile_name);
            }
          }
        }
      }
    }
    std::string looked;
    for (const std::string& p : paths) looked += (looked.empty() ? "" : ", ") + p;
    if (!any_file) {
      message =
          "no shared config or credentials file" +
          (looked.empty() ? std::string(" (HOME is not set)") : " (looked for " + looked + ")");
      return explicit_ ? FetchStatus::kInvalid : FetchStatus::kNotConfigured;
    }
    if (!profiles.contains(profile_)) {
      message = "no profile '" + profile_ + "' in " + looked;
      return explicit_ ? FetchStatus::kInvalid : FetchStatus::kNotConfigured;
    }
    std::vector<std::string> chain = {profile_};
    // Every STS call of a source_profile chain goes to the selected profile's region.
    const std::string region = get(profiles.at(profile_), "region");
    const FetchStatus st = resolve(profiles, chain, region, out, message);
    if (st == FetchStatus::kOk && out.provider.empty()) out.provider = name();
    return st;
  }

 private:
  static std::string get(const Profile& p, std::string_view key) {
    const auto it = p.find(key);
    return it == p.end() ? std::string() : it->second;
  }

  static std::string chain_text(const std::vector<std::string>& chain) {
    std::string out;
    for (const std::string& c : chain) out += (out.empty() ? "" : " -> ") + c;
    return out;
  }

  // Credentials of chain.back(), assuming roles along source_profile links.
  FetchStatus resolve(const Profiles& profiles, std::vector<std::string>& chain,
                      const std::string& region, Credentials& out, std::string& message) {
    const std::string name = chain.back();
    const Profile& p = profiles.at(name);
    const std::string label = "profile '" + name + "'";
    const std::string id = get(p, "aws_access_key_id");
    const std::string secret = get(p, "aws_secret_access_key");
    if (id.empty() != secret.empty()) {
      message = label + (id.empty() ? " has aws_secret_access_key but no aws_access_key_id"
                                    : " has aws_access_key_id but no aws_secret_access_key");
      return FetchStatus::kInvalid;
    }
    const std::string role_arn = get(p, "role_arn");
    if (role_arn.empty()) {
      // botocore's order within a profile (its SSOProvider, SharedCredentialProvider,
      // ProcessProvider, ConfigProvider): SSO, static keys of the credentials file,
      // credential_process, static keys of the config file.
      const bool keys_first = !id.empty() && keys_in_credentials_file_.contains(name);
      if (is_sso_profile(p)) {
        const FetchStatus st = fetch_sso_credentials(*ctx_, name, p, sso_sessions_, options_, out,
                                                     message);
        if (st != FetchStatus::kOk) message = label + ": " + message;
        if (st == FetchStatus::kOk) out.provider = "profile " + name + " (sso)";
        return st;
      }
      if (keys_first) {
        out = Credentials{id, secret, get(p, "aws_session_token"), std::nullopt, ""};
        return FetchStatus::kOk;
      }
      if (const std::string command = get(p, "credential_process"); !command.empty()) {
        const FetchStatus st =
            fetch_process_credentials(*ctx_, command, options_.process_timeout, out, message);
        if (st != FetchStatus::kOk) message = label + ": " + message;
        if (st == FetchStatus::kOk) out.provider = "profile " + name + " (credential_process)";
        return st;
      }
      if (!id.empty()) {
        out = Credentials{id, secret, get(p, "aws_session_token"), std::nullopt, ""};
        return FetchStatus::kOk;
      }
      if (!get(p, "sso_session").empty() || !get(p, "sso_start_url").empty()) {
        message = label +
                  " has sso_session or sso_start_url but neither sso_account_id nor "
                  "sso_role_name";
        return FetchStatus::kInvalid;
      }
      message =
          label + " has no credentials (aws_access_key_id, role_arn, sso_*, credential_process)";
      return FetchStatus::kNotConfigured;
    }
    if (!get(p, "mfa_serial").empty()) {
      message = label + ": mfa_serial is not supported (a daemon cannot prompt for a code)";
      return FetchStatus::kInvalid;
    }
    AssumeRoleParams params;
    params.role_arn = role_arn;
    params.role_session_name = get(p, "role_session_name");
    if (params.role_session_name.empty()) params.role_session_name = default_session_name(*ctx_);
    params.external_id = get(p, "external_id");
    const std::string duration = get(p, "duration_seconds");
    if (!duration.empty()) {
      int64_t secs = 0;
      const auto [ptr, ec] =
          std::from_chars(duration.data(), duration.data() + duration.size(), secs);
      if (ec != std::errc() || ptr != duration.data() + duration.size() || secs < 900 ||
          secs > 43200) {
        message = label + ": duration_seconds must be an integer from 900 to 43200";
        return FetchStatus::kInvalid;
      }
      params.duration = std::chrono::seconds{secs};
    }
    const std::string token_file = get(p, "web_identity_token_file");
    if (!token_file.empty()) {
      const FetchStatus st =
          web_identity(*ctx_, options_, region, token_file, params, out, message);
      if (st != FetchStatus::kOk) message = label + ": " + message;
      return st;
    }
    const std::string source_profile = get(p, "source_profile");
    const std::string credential_source = get(p, "credential_source");
    if (!source_profile.empty() && !credential_source.empty()) {
      message = label + ": source_profile and credential_source are mutually exclusive";
      return FetchStatus::kInvalid;
    }
    Credentials source;
    if (!source_profile.empty()) {
      if (source_profile == name) {
        // A profile may name itself: its static keys are the source of its role.
        if (id.empty()) {
          message = label +
                    ": source_profile names the profile itself, which has no "
                    "aws_access_key_id";
          return FetchStatus::kInvalid;
        }
        source = Credentials{id, secret, get(p, "aws_session_token"), std::nullopt, ""};
      } else {
        if (std::find(chain.begin(), chain.end(), source_profile) != chain.end()) {
          chain.push_back(source_profile);
          message = "source_profile loop: " + chain_text(chain);
          return FetchStatus::kInvalid;
        }
        if (!profiles.contains(source_profile)) {
          message = label + ": source_profile '" + source_profile + "' does not exist";
          return FetchStatus::kInvalid;
        }
        if (chain.size() >= kMaxProfileChain) {
          message = "source_profile chain longer than " + std::to_string(kMaxProfileChain) + ": " +
                    chain_text(chain);
          return FetchStatus::kInvalid;
        }
        chain.push_back(source_profile);
        std::string why;
        const FetchStatus st = resolve(profiles, chain, region, source, why);
        chain.pop_back();
        if (st != FetchStatus::kOk) {
          message = label + ": source_profile '" + source_profile + "': " + why;
          // A source profile without credentials is a configuration error too.
          return st == FetchStatus::kFailed ? FetchStatus::kFailed : FetchStatus::kInvalid;
        }
      }
    } else if (!credential_source.empty()) {
      std::unique_ptr<CredentialsProvider> provider;
      if (credential_source == "Environment") {
        provider = make_environment_provider(ctx_);
      } else if (credential_source == "Ec2InstanceMetadata") {
        provider = make_imds_provider(ctx_, options_);
      } else if (credential_source == "EcsContainer") {
        provider = make_container_provider(ctx_, options_);
      } else {
        message = label +
                  ": credential_source must be Environment, Ec2InstanceMetadata or "
                  "EcsContainer";
        return FetchStatus::kInvalid;
      }
      std::string why;
      const FetchStatus st = provider->fetch(source, why);
      if (st != FetchStatus::kOk) {
        message = label + ": credential_source " + credential_source + ": " + why;
        return st == FetchStatus::kFailed ? FetchStatus::kFailed : FetchStatus::kInvalid;
      }
    } else {
      message = label +
                ": role_arn needs source_profile, credential_source or "
                "web_identity_token_file";
      return FetchStatus::kInvalid;
    }
    StsEndpoint endpoint;
    if (!resolve_sts(*ctx_, options_, region, endpoint, message)) {
      message = label + ": " + message;
      return FetchStatus::kInvalid;
    }
    bool permanent = false;
    if (!sts_assume_role(*ctx_->http, endpoint, source, params, ctx_->now(), options_.sts_timeout,
                         out, message, &permanent)) {
      message = label + ": " + message;
      return permanent ? FetchStatus::kInvalid : FetchStatus::kFailed;
    }
    return FetchStatus::kOk;
  }

  std::shared_ptr<const ProviderContext> ctx_;
  CredentialsOptions options_;
  std::string profile_;
  bool explicit_ = false;
  Profiles sso_sessions_;  // [sso-session NAME] sections, per fetch
  std::set<std::string, std::less<>> keys_in_credentials_file_;  // profiles, per fetch
};

// ---- AssumeRole on top of another source ----

class AssumeRoleProvider final : public CredentialsProvider {
 public:
  AssumeRoleProvider(std::shared_ptr<const ProviderContext> ctx, CredentialsOptions options,
                     std::shared_ptr<CredentialsSource> source)
      : ctx_(std::move(ctx)), options_(std::move(options)), source_(std::move(source)) {}
  std::string name() const override { return "assume-role " + options_.role_arn; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    Credentials source;
    std::string why;
    if (!source_->get(source, why)) {
      message = "source credentials: " + why;
      return source_->last_failure_permanent() ? FetchStatus::kInvalid : FetchStatus::kFailed;
    }
    AssumeRoleParams params;
    params.role_arn = options_.role_arn;
    params.external_id = options_.external_id;
    params.role_session_name = options_.role_session_name.empty() ? default_session_name(*ctx_)
                                                                  : options_.role_session_name;
    params.duration = options_.role_duration;
    StsEndpoint endpoint;
    if (!resolve_sts(*ctx_, options_, "", endpoint, message)) return FetchStatus::kInvalid;
    bool permanent = false;
    if (!sts_assume_role(*ctx_->http, endpoint, source, params, ctx_->now(), options_.sts_timeout,
                         out, message, &permanent)) {
      return permanent ? FetchStatus::kInvalid : FetchStatus::kFailed;
    }
    out.provider = name() + " (source: " + source.provider + ")";
    return FetchStatus::kOk;
  }

 private:
  std::shared_ptr<const ProviderContext> ctx_;
  CredentialsOptions options_;
  std::shared_ptr<CredentialsSource> source_;
};

}  // namespace

std::unique_ptr<CredentialsProvider> make_web_identity_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options) {
  return std::make_unique<WebIdentityProvider>(std::move(ctx), options);
}

std::unique_ptr<CredentialsProvider> make_profile_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options) {
  return std::make_unique<ProfileProvider>(std::move(ctx), options);
}

std::unique_ptr<CredentialsProvider> make_container_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options) {
  return std::make_unique<ContainerProvider>(std::move(ctx), options);
}

std::unique_ptr<CredentialsProvider> make_imds_provider(std::shared_ptr<const ProviderContext> ctx,
                                                        const CredentialsOptions& options) {
  return std::make_unique<ImdsProvider>(std::move(ctx), options);
}

std::unique_ptr<CredentialsProvider> make_assume_role_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options,
    std::shared_ptr<CredentialsSource> source) {
  return std::make_unique<AssumeRoleProvider>(std::move(ctx), options, std::move(source));
}

}  // namespace trailwarden::aws
