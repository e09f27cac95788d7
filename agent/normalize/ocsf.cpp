#include "agent/normalize/ocsf.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <chrono>
#include <fmt/format.h>

#include "agent/aws/names.h"
#include "agent/common/json_writer.h"
#include "agent/normalize/actor.h"
#include "agent/normalize/formats.h"
#include "agent/normalize/observables.h"
#include "agent/normalize/ocsf_parts.h"
#include "agent/normalize/record_access.h"
#include "agent/normalize/resources.h"

namespace trailwarden {

namespace dom = simdjson::dom;

namespace {

using normalize::ObservableType;
using normalize::str;

// Writes key: value only when the value is non-empty.
void opt(JsonWriter& w, std::string_view key, std::string_view value) {
  if (!value.empty()) w.field(key, value);
}


// api: only with an eventName (api.operation is required).
bool write_api(JsonWriter& w, const dom::element* r) {
  std::string_view operation = str(r, {"eventName"});
  if (operation.empty()) return false;
  w.key("api").begin_object();
  w.field("operation", operation);
  std::string_view service = str(r, {"eventSource"});
  if (!service.empty()) w.key("service").begin_object().field("name", service).end_object();
  opt(w, "version", str(r, {"apiVersion"}));
  std::string_view request_id = str(r, {"requestID"});
  if (!request_id.empty()) w.key("request").begin_object().field("uid", request_id).end_object();
  std::string_view error = str(r, {"errorCode"});
  std::string_view message = str(r, {"errorMessage"});
  if (!error.empty() || !message.empty()) {
    w.key("response").begin_object();
    if (is_access_denied(error)) w.field("code", 403);
    opt(w, "error", error);
    opt(w, "error_message", message);
    w.end_object();
  }
  w.end_object();
  return true;
}

// src_endpoint: sourceIPAddress is an IP (ip) or the name of an AWS service
// ("config.amazonaws.com", "AWS Internal": svc_name; formats.h says what an IP is);
// vpcEndpointId is the uid.
bool write_src_endpoint(JsonWriter& w, std::string_view source, std::string_view vpce) {
  if (source.empty() && vpce.empty()) return false;
  w.key("src_endpoint").begin_object();
  const std::string ip = normalize::ip_value(source);
  if (!ip.empty()) w.field("ip", std::string_view(ip));
  else if (!source.empty()) w.field("svc_name", source);
  opt(w, "uid", vpce);
  w.end_object();
  return true;
}

void write_resources(JsonWriter& w, const std::vector<normalize::Resource>& resources) {
  if (resources.empty()) return;
  w.key("resources").begin_array();
  for (const normalize::Resource& res : resources) {
    w.begin_object();
    opt(w, "uid", res.uid);
    opt(w, "name", res.name);
    opt(w, "type", res.type);
    opt(w, "region", res.region);
    opt(w, "cloud_partition", res.partition);
    if (!res.account.empty()) {
      w.key("owner").begin_object();
      write_ocsf_account(w, res.account);
      w.end_object();
    }
    w.end_object();
  }
  w.end_array();
}

// The partition of the record's region ("aws", "aws-cn", ...), empty for an invalid region.
std::string_view partition_of_region(std::string_view region) {
  if (!aws::is_valid_region(region)) return {};
  return aws::partition_of(region).name;
}

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// unmapped.trailwarden: the route the record came by and whether it is verified.
void write_route(JsonWriter& w, const RecordOrigin& o) {
  using Route = RecordOrigin::Route;
  if (o.route == Route::kLocalFile) return;
  w.key("unmapped").begin_object().key("trailwarden").begin_object();
  if (o.route == Route::kS3Object) {
    w.field("route", "s3").field("verified", true);
    w.field("bucket", std::string_view(o.bucket)).field("key", std::string_view(o.key));
  } else if (o.route == Route::kKafka) {
    w.field("route", "kafka").field("verified", false);
    opt(w, "kafka_topic", o.topic);
    if (o.partition >= 0) w.field("kafka_partition", static_cast<int64_t>(o.partition));
    if (o.offset >= 0) w.field("kafka_offset", o.offset);
  } else {
    w.field("route", "eventbridge").field("verified", false);
    opt(w, "eventbridge_event_id", o.event_id);
    opt(w, "eventbridge_source", o.source);
    opt(w, "eventbridge_account", o.account);
    opt(w, "eventbridge_region", o.region);
  }
  opt(w, "notification", o.notification);
  if (o.route != Route::kKafka) opt(w, "sqs_message_id", o.message_id);
  w.end_object().end_object();
}

}  // namespace

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

bool is_access_denied(std::string_view code) {
  return code.starts_with("AccessDenied") || code.ends_with("UnauthorizedOperation") ||
         code == "UnauthorizedAccess";
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
                       const OcsfOptions& options, const RecordOrigin& origin, NormalizeNotes* notes) {
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
  // cloud.account (optional in OCSF): the recipient account, else the caller's; only a 12-digit
  // account id.
  std::string_view account = str(r, {"recipientAccountId"});
  if (!aws::is_valid_account_id(account)) account = str(r, {"userIdentity", "accountId"});
  if (!aws::is_valid_account_id(account)) account = {};
  std::string_view who = str(r, {"userIdentity", "arn"});
  if (who.empty()) who = str(r, {"userIdentity", "invokedBy"});
  if (who.empty()) who = str(r, {"userIdentity", "type"});
  using Route = RecordOrigin::Route;
  const bool unverified = origin.route == Route::kInlineEvent || origin.route == Route::kKafka;
  const std::string correlation_uid = finding_uid(rule.id, event_id, raw);
  const std::string uid = unverified ? finding_uid(rule.id, event_id, raw, true) : correlation_uid;
  int64_t time_ms = 0;
  const bool has_time = parse_event_time(event_time, time_ms);
  // `time` is required: without a usable eventTime it is the processing time (counted by the
  // caller; metadata.original_time keeps the raw text).
  const int64_t finding_time = has_time ? time_ms : (options.now_ms ? options.now_ms() : system_now_ms());
  if (notes) notes->time_unparsed = !has_time;
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
    case Route::kKafka:
      alert.route = AlertRoute::kKafka;
      alert.kafka_message = origin.message_id;
      break;
  }
  alert.notification = origin.notification;

  std::string message = rule.title;
  if (!event_name.empty()) message += fmt::format(": {}", event_name);
  if (!who.empty()) message += fmt::format(" by {}", who);
  if (!account.empty()) message += fmt::format(" in account {}", account);
  if (!region.empty()) message += fmt::format(" ({})", region);
  if (origin.route == Route::kInlineEvent)
    message += " [unverified: EventBridge event, not read from S3]";
  else if (unverified)
    message += " [unverified: Kafka message, not read from S3]";

  w.begin_object();
  w.field("activity_id", 1).field("activity_name", "Create");
  w.field("category_uid", 2).field("category_name", "Findings");
  w.field("class_uid", 2004).field("class_name", "Detection Finding");
  w.field("type_uid", 200401).field("type_name", "Detection Finding: Create");
  w.field("severity_id", severity_id).field("severity", rules::severity_name(rule.severity));
  w.field("status_id", 1).field("status", "New");
  w.field("is_alert", true);
  w.field("message", std::string_view(message));
  w.field("time", finding_time);
  w.field("time_dt", std::string_view(format_datetime(finding_time)));
  // A literal filter-pattern match is certain.
  w.field("confidence_id", 3).field("confidence", "High");

  w.key("metadata").begin_object();
  w.field("version", kOcsfVersion);
  w.field("uid", std::string_view(uid));
  w.field("correlation_uid", std::string_view(correlation_uid));
  write_ocsf_product(w);
  if (origin.route == Route::kS3Object)
    w.field("log_name", std::string_view(fmt::format("s3://{}/{}", origin.bucket, origin.key)));
  else if (origin.route == Route::kLocalFile)
    opt(w, "log_name", origin.path);
  else if (origin.route == Route::kKafka)
    opt(w, "log_name", origin.message_id);  // kafka://topic/partition@offset
  opt(w, "original_time", event_time);
  opt(w, "log_version", str(r, {"eventVersion"}));
  opt(w, "event_code", str(r, {"eventType"}));
  write_ocsf_labels(w, rule.tags);
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
  if (!account.empty()) write_ocsf_account(w, account);
  if (!region.empty()) {
    std::string_view partition = partition_of_region(region);
    opt(w, "cloud_partition", partition);
  }
  w.end_object();

  // One evidence: the actor, the API call, where it came from and the user agent. OCSF needs
  // at least one of the first three; a record with none of them has no evidences.
  normalize::Observables observables;
  std::string_view source = str(r, {"sourceIPAddress"});
  std::string_view vpce = str(r, {"vpcEndpointId"});
  std::string_view user_agent = str(r, {"userAgent"});
  std::string evidence;
  JsonWriter ew(evidence);
  ew.begin_object();
  const normalize::ActorFacts actor = normalize::write_actor(ew, r);
  const bool has_api = write_api(ew, r);
  const bool has_src = write_src_endpoint(ew, source, vpce);
  if (!user_agent.empty())
    ew.key("http_request").begin_object().field("user_agent", user_agent).end_object();
  ew.end_object();
  if (actor.written || has_api || has_src) {
    w.key("evidences").begin_array().raw(evidence).end_array();
    observables.add("evidences[0].actor.user.uid", ObservableType::kUserUid, actor.arn);
    observables.add("evidences[0].actor.user.name", ObservableType::kUserName, actor.name);
    observables.add("evidences[0].actor.user.credential_uid", ObservableType::kCredentialUid,
                    actor.access_key);
    observables.add("evidences[0].actor.user.account.uid", ObservableType::kAccountUid, actor.account);
    observables.add("evidences[0].src_endpoint.ip", ObservableType::kIpAddress, normalize::ip_value(source));
    observables.add("evidences[0].http_request.user_agent", ObservableType::kUserAgent, user_agent);
  }
  observables.add("cloud.account.uid", ObservableType::kAccountUid, account);
  observables.add("cloud.region", ObservableType::kOther, region);

  const std::vector<normalize::Resource> resources = normalize::collect_resources(r);
  write_resources(w, resources);
  for (size_t i = 0; i < resources.size(); ++i) {
    observables.add(fmt::format("resources[{}].uid", i), ObservableType::kResourceUid, resources[i].uid);
    observables.add(fmt::format("resources[{}].name", i), ObservableType::kResourceName, resources[i].name);
  }
  observables.write(w);
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
