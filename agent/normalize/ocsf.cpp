#include "agent/normalize/ocsf.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <charconv>
#include <ctime>
#include <fmt/format.h>

#include "agent/common/json_writer.h"

namespace trailwarden {

namespace dom = simdjson::dom;

namespace {

// Looks up a dotted path of object keys; returns false if any step is missing.
bool lookup(const dom::element& root, std::initializer_list<std::string_view> path, dom::element& out) {
  dom::element cur = root;
  for (auto key : path) {
    dom::object obj;
    if (cur.get_object().get(obj) != simdjson::SUCCESS) return false;
    if (obj.at_key(key).get(cur) != simdjson::SUCCESS) return false;
  }
  out = cur;
  return true;
}

// A string at `path`, or empty if missing or not a string.
std::string_view str(const dom::element* root, std::initializer_list<std::string_view> path) {
  if (!root) return {};
  dom::element e;
  std::string_view s;
  if (!lookup(*root, path, e) || e.get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

bool is_ip_address(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  bool has_colon = false, has_dot = false;
  for (char c : s) {
    if (c == ':') has_colon = true;
    else if (c == '.') has_dot = true;
    else if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  if (has_colon) return true;  // IPv6 (possibly with an embedded IPv4 tail)
  if (!has_dot) return false;
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view part = s.substr(i, j - i);
    int v = -1;
    auto r = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || r.ptr != part.data() + part.size() || v < 0 || v > 255) return false;
    ++parts;
    i = j + 1;
  }
  return parts == 4;
}

// Writes key: value only when the value is non-empty.
void opt(JsonWriter& w, std::string_view key, std::string_view value) {
  if (!value.empty()) w.field(key, value);
}

void write_account(JsonWriter& w, std::string_view uid) {
  w.key("account").begin_object();
  w.field("uid", uid).field("type", "AWS Account").field("type_id", 10);
  w.end_object();
}

void write_actor(JsonWriter& w, const dom::element* r) {
  std::string_view type = str(r, {"userIdentity", "type"});
  std::string_view arn = str(r, {"userIdentity", "arn"});
  std::string_view principal = str(r, {"userIdentity", "principalId"});
  std::string_view name = str(r, {"userIdentity", "userName"});
  if (name.empty()) name = str(r, {"userIdentity", "sessionContext", "sessionIssuer", "userName"});
  if (name.empty()) name = str(r, {"additionalEventData", "UserName"});
  std::string_view account = str(r, {"userIdentity", "accountId"});
  std::string_view key_id = str(r, {"userIdentity", "accessKeyId"});
  std::string_view invoked_by = str(r, {"userIdentity", "invokedBy"});
  std::string_view mfa = str(r, {"userIdentity", "sessionContext", "attributes", "mfaAuthenticated"});
  std::string_view created = str(r, {"userIdentity", "sessionContext", "attributes", "creationDate"});
  std::string_view issuer = str(r, {"userIdentity", "sessionContext", "sessionIssuer", "arn"});
  std::string_view idp = str(r, {"userIdentity", "webIdFederationData", "federatedProvider"});
  if (idp.empty()) idp = str(r, {"userIdentity", "identityProvider"});

  w.key("actor").begin_object();
  w.key("user").begin_object();
  opt(w, "type", type);
  opt(w, "uid", arn);
  opt(w, "uid_alt", principal);
  opt(w, "name", name);
  opt(w, "credential_uid", key_id);
  if (!account.empty()) write_account(w, account);
  w.end_object();
  if (!mfa.empty() || !created.empty() || !issuer.empty()) {
    w.key("session").begin_object();
    if (!mfa.empty()) w.field("is_mfa", mfa == "true");
    int64_t ms;
    if (parse_event_time(created, ms)) w.field("created_time", ms);
    opt(w, "created_time_dt", created);
    opt(w, "issuer", issuer);
    w.end_object();
  }
  opt(w, "invoked_by", invoked_by);
  if (!idp.empty()) w.key("idp").begin_object().field("name", idp).end_object();
  w.end_object();
}

void write_api(JsonWriter& w, const dom::element* r) {
  w.key("api").begin_object();
  opt(w, "operation", str(r, {"eventName"}));
  std::string_view service = str(r, {"eventSource"});
  if (!service.empty()) w.key("service").begin_object().field("name", service).end_object();
  opt(w, "version", str(r, {"apiVersion"}));
  std::string_view request_id = str(r, {"requestID"});
  if (!request_id.empty()) w.key("request").begin_object().field("uid", request_id).end_object();
  std::string_view error = str(r, {"errorCode"});
  std::string_view message = str(r, {"errorMessage"});
  if (!error.empty() || !message.empty()) {
    w.key("response").begin_object();
    opt(w, "error", error);
    opt(w, "error_message", message);
    w.end_object();
  }
  w.end_object();
}

void write_src_endpoint(JsonWriter& w, const dom::element* r) {
  std::string_view source = str(r, {"sourceIPAddress"});
  std::string_view vpce = str(r, {"vpcEndpointId"});
  if (source.empty() && vpce.empty()) return;
  w.key("src_endpoint").begin_object();
  if (!source.empty()) w.field(is_ip_address(source) ? "ip" : "domain", source);
  opt(w, "uid", vpce);
  w.end_object();
}

void write_resources(JsonWriter& w, const dom::element* r) {
  if (!r) return;
  dom::element e;
  dom::array arr;
  if (!lookup(*r, {"resources"}, e) || e.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0)
    return;
  w.key("resources").begin_array();
  for (dom::element item : arr) {
    w.begin_object();
    std::string_view arn = str(&item, {"ARN"});
    std::string_view type = str(&item, {"type"});
    std::string_view account = str(&item, {"accountId"});
    opt(w, "uid", arn);
    opt(w, "type", type);
    if (!account.empty()) {
      w.key("owner").begin_object();
      write_account(w, account);
      w.end_object();
    }
    w.field("cloud_partition", arn.starts_with("arn:") ? arn.substr(4, arn.find(':', 4) - 4) : "aws");
    w.end_object();
  }
  w.end_array();
}

// unmapped.trailwarden: the route the record came by and whether it is verified.
void write_route(JsonWriter& w, const RecordOrigin& o) {
  using Route = RecordOrigin::Route;
  if (o.route == Route::kLocalFile) return;
  w.key("unmapped").begin_object().key("trailwarden").begin_object();
  if (o.route == Route::kS3Object) {
    w.field("route", "s3").field("verified", true);
    w.field("bucket", std::string_view(o.bucket)).field("key", std::string_view(o.key));
  } else {
    w.field("route", "eventbridge").field("verified", false);
    opt(w, "eventbridge_event_id", o.event_id);
    opt(w, "eventbridge_source", o.source);
    opt(w, "eventbridge_account", o.account);
    opt(w, "eventbridge_region", o.region);
  }
  opt(w, "notification", o.notification);
  opt(w, "sqs_message_id", o.message_id);
  w.end_object().end_object();
}

std::string hex_uuid_v8(const unsigned char* digest) {
  unsigned char b[16];
  std::copy(digest, digest + 16, b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x80);  // version 8
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 9562 variant
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                     "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                     b[12], b[13], b[14], b[15]);
}

}  // namespace

bool parse_event_time(std::string_view t, int64_t& ms) {
  // YYYY-MM-DDTHH:MM:SS[.fff...]Z
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != ' ') ||
      t[13] != ':' || t[16] != ':' || t.back() != 'Z')
    return false;
  auto num = [&](size_t pos, size_t len, int& out) {
    auto r = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return r.ec == std::errc() && r.ptr == t.data() + pos + len;
  };
  int year, month, day, hour, minute, second;
  if (!num(0, 4, year) || !num(5, 2, month) || !num(8, 2, day) || !num(11, 2, hour) ||
      !num(14, 2, minute) || !num(17, 2, second))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return false;
  int millis = 0;
  size_t i = 19;
  if (t[i] == '.') {
    ++i;
    int digits = 0;
    while (i < t.size() - 1 && std::isdigit(static_cast<unsigned char>(t[i]))) {
      if (digits < 3) millis = millis * 10 + (t[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return false;
    for (int d = digits; d < 3; ++d) millis *= 10;
  }
  if (i != t.size() - 1) return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  ms = static_cast<int64_t>(timegm(&tm)) * 1000 + millis;
  return true;
}

std::string finding_uid(std::string_view rule_id, std::string_view event_id, std::string_view raw,
                        bool unverified) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  static constexpr std::string_view kDomain = "trailwarden finding v1";
  static constexpr std::string_view kUnverified = "trailwarden unverified finding v1";
  const std::string_view domain = unverified ? kUnverified : kDomain;
  EVP_DigestUpdate(ctx, domain.data(), domain.size() + 1);  // includes the NUL separator
  EVP_DigestUpdate(ctx, rule_id.data(), rule_id.size());
  if (!event_id.empty()) {
    EVP_DigestUpdate(ctx, "\0e", 2);
    EVP_DigestUpdate(ctx, event_id.data(), event_id.size());
  } else {
    EVP_DigestUpdate(ctx, "\0r", 2);
    EVP_DigestUpdate(ctx, raw.data(), raw.size());
  }
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return hex_uuid_v8(digest);
}

AlertRecord make_alert(const rules::Rule& rule, std::string_view raw, const dom::element* r,
                       const OcsfOptions& options, const RecordOrigin& origin) {
  AlertRecord alert;
  std::string& out = alert.ocsf;
  // Records inside pretty-printed files span lines; alerts carry them compact.
  thread_local std::string compact;
  if (r && raw.find('\n') != std::string_view::npos) {
    compact.resize(raw.size());
    size_t len = 0;
    if (simdjson::minify(raw.data(), raw.size(), compact.data(), len) == simdjson::SUCCESS) {
      compact.resize(len);
      raw = compact;
    }
  }
  JsonWriter w(out);
  std::string_view event_id = str(r, {"eventID"});
  std::string_view event_name = str(r, {"eventName"});
  std::string_view event_time = str(r, {"eventTime"});
  std::string_view region = str(r, {"awsRegion"});
  std::string_view account = str(r, {"recipientAccountId"});
  if (account.empty()) account = str(r, {"userIdentity", "accountId"});
  std::string_view who = str(r, {"userIdentity", "arn"});
  if (who.empty()) who = str(r, {"userIdentity", "invokedBy"});
  if (who.empty()) who = str(r, {"userIdentity", "type"});
  using Route = RecordOrigin::Route;
  const bool unverified = origin.route == Route::kInlineEvent;
  const std::string correlation_uid = finding_uid(rule.id, event_id, raw);
  const std::string uid = unverified ? finding_uid(rule.id, event_id, raw, true) : correlation_uid;
  int64_t time_ms = 0;
  const bool has_time = parse_event_time(event_time, time_ms);
  const int severity_id = static_cast<int>(rule.severity);
  alert.uid = uid;
  alert.rule_id = rule.id;
  alert.rule_title = rule.title;
  alert.severity_id = severity_id;
  alert.tags = rule.tags;
  alert.time_ms = has_time ? time_ms : 0;
  alert.account = std::string(account);
  alert.region = std::string(region);
  alert.event_name = std::string(event_name);
  alert.event_source = std::string(str(r, {"eventSource"}));
  alert.actor = std::string(who);
  alert.source_ip = std::string(str(r, {"sourceIPAddress"}));
  alert.event_id = std::string(event_id);
  alert.raw = std::string(raw);
  // The route, for the formats that are not OCSF (docs/outputs.md, "Route in every format").
  switch (origin.route) {
    case Route::kLocalFile:
      alert.route = AlertRoute::kNone;
      break;
    case Route::kS3Object:
      alert.route = AlertRoute::kS3Object;
      alert.bucket = origin.bucket;
      alert.key = origin.key;
      break;
    case Route::kInlineEvent:
      alert.route = AlertRoute::kInlineEvent;
      alert.eventbridge_event_id = origin.event_id;
      break;
  }
  alert.notification = origin.notification;

  std::string message = rule.title;
  if (!event_name.empty()) message += fmt::format(": {}", event_name);
  if (!who.empty()) message += fmt::format(" by {}", who);
  if (!account.empty()) message += fmt::format(" in account {}", account);
  if (!region.empty()) message += fmt::format(" ({})", region);
  if (unverified) message += " [unverified: EventBridge event, not read from S3]";

  w.begin_object();
  w.field("activity_id", 1).field("activity_name", "Create");
  w.field("category_uid", 2).field("category_name", "Findings");
  w.field("class_uid", 2004).field("class_name", "Detection Finding");
  w.field("type_uid", 200401).field("type_name", "Detection Finding: Create");
  w.field("severity_id", severity_id).field("severity", rules::severity_name(rule.severity));
  w.field("status_id", 1).field("status", "New");
  w.field("is_alert", true);
  w.field("message", std::string_view(message));
  if (has_time) w.field("time", time_ms);
  opt(w, "time_dt", event_time);

  w.key("metadata").begin_object();
  w.field("version", kOcsfVersion);
  w.field("uid", std::string_view(uid));
  w.field("correlation_uid", std::string_view(correlation_uid));
  w.key("product").begin_object();
  w.field("name", "trailwarden").field("vendor_name", "trailwarden");
  w.field("version", TRAILWARDEN_VERSION);
  w.end_object();
  w.key("profiles").begin_array().value("cloud").value("datetime").end_array();
  w.field("log_provider", "AWS CloudTrail");
  if (origin.route == Route::kS3Object)
    w.field("log_name", std::string_view(fmt::format("s3://{}/{}", origin.bucket, origin.key)));
  opt(w, "event_code", str(r, {"eventType"}));
  if (!rule.tags.empty()) {
    w.key("labels").begin_array();
    for (const auto& t : rule.tags) w.value(std::string_view(t));
    w.end_array();
  }
  w.end_object();

  w.key("finding_info").begin_object();
  w.field("uid", std::string_view(uid));
  w.field("title", std::string_view(rule.title));
  opt(w, "desc", rule.description);
  if (!rule.references.empty()) {
    w.key("types").begin_array();
    for (const auto& ref : rule.references) w.value(std::string_view(ref));
    w.end_array();
  }
  w.key("analytic").begin_object();
  w.field("uid", std::string_view(rule.id));
  w.field("name", std::string_view(rule.title));
  w.field("type_id", 1).field("type", "Rule");
  w.field("category", std::string_view(rule.pack));
  w.end_object();
  if (has_time) w.field("first_seen_time", time_ms).field("last_seen_time", time_ms);
  w.key("data_sources").begin_array().value("AWS CloudTrail").end_array();
  if (!event_id.empty()) {
    w.key("related_events").begin_array().begin_object();
    w.field("uid", event_id);
    opt(w, "type", str(r, {"eventType"}));
    w.end_object().end_array();
  }
  w.end_object();

  w.key("cloud").begin_object();
  w.field("provider", "AWS");
  opt(w, "region", region);
  if (!account.empty()) write_account(w, account);
  w.end_object();

  w.key("evidences").begin_array().begin_object();
  write_actor(w, r);
  write_api(w, r);
  write_src_endpoint(w, r);
  std::string_view user_agent = str(r, {"userAgent"});
  if (!user_agent.empty())
    w.key("http_request").begin_object().field("user_agent", user_agent).end_object();
  w.end_object().end_array();

  write_resources(w, r);
  write_route(w, origin);

  if (options.include_raw_data) w.field("raw_data", raw);
  w.end_object();
  return alert;
}

std::string append_detection_finding(std::string& out, const rules::Rule& rule,
                                     std::string_view raw, const dom::element* record,
                                     const OcsfOptions& options) {
  AlertRecord a = make_alert(rule, raw, record, options);
  out += a.ocsf;
  return a.uid;
}

}  // namespace trailwarden
