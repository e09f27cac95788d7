#include "outputs/ecs_document.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <initializer_list>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/normalize/formats.h"
#include "agent/normalize/ocsf.h"
#include "agent/normalize/record_access.h"
#include "outputs/format.h"

namespace trailwarden {

namespace dom = simdjson::dom;

namespace {

std::atomic<uint64_t> g_degraded{0};
std::atomic<uint64_t> g_truncated{0};

// Elastic indexes a flattened object only below this size (its ingest pipeline's limit).
constexpr size_t kFlattenedMaxBytes = 32766;
// ... and only this deep (the flattened type's default depth_limit): deeper, the whole document
// is rejected.
constexpr size_t kFlattenedMaxDepth = 20;
// aws.cloudtrail.resources keeps at most this many distinct entries (the OCSF finding keeps 16).
constexpr size_t kMaxResources = 64;

// ---- lookups (null-safe) ------------------------------------------------------------------

// The record readers of the normalizer (agent/normalize/record_access.h), null-safe here too.
bool lookup(const dom::element* root, std::initializer_list<std::string_view> path,
            dom::element& out) {
  return root && normalize::lookup(*root, path, out);
}

using normalize::str;

// The first element of the finding's evidences (where 1.4 puts actor, api, src_endpoint).
bool first_evidence(const dom::element* finding, dom::element& out) {
  dom::element e;
  dom::array arr;
  if (!lookup(finding, {"evidences"}, e) || e.get_array().get(arr) != simdjson::SUCCESS) return false;
  for (dom::element item : arr) {
    if (!item.is_object()) continue;
    out = item;
    return true;
  }
  return false;
}

std::string_view first_nonempty(std::initializer_list<std::string_view> values) {
  for (auto v : values)
    if (!v.empty()) return v;
  return {};
}

// An address ECS can index as `ip`: what OCSF takes for ip_t, and longer IPv6 forms.
bool is_ip(std::string_view s) { return !normalize::ip_value(s).empty(); }

// A DNS name ("config.amazonaws.com"): letters, digits, '-', '.', with at least one dot.
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
  if (s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
  });
}

// ISO 8601 UTC with milliseconds ("2024-01-02T03:04:05.678Z"); empty outside years 1970-9999.
std::string iso_ms(int64_t ms) {
  if (ms < 0 || ms > int64_t{253402300799999}) return {};
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  if (!gmtime_r(&secs, &tm)) return {};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

void opt(JsonWriter& w, std::string_view key, std::string_view value) {
  if (!value.empty()) w.field(key, value);
}

// A scalar as keyword text: strings as they are, booleans and numbers spelled out; false for
// null, objects and arrays.
bool keyword_text(const dom::element& e, std::string& out) {
  switch (e.type()) {
    case dom::element_type::STRING: out = std::string(e.get_string().value_unsafe()); return true;
    case dom::element_type::BOOL: out = e.get_bool().value_unsafe() ? "true" : "false"; return true;
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: out = simdjson::minify(e); return true;
    default: return false;
  }
}

void opt_keyword(JsonWriter& w, std::string_view key, const dom::element* r,
                 std::initializer_list<std::string_view> path) {
  dom::element e;
  std::string text;
  if (lookup(r, path, e) && keyword_text(e, text) && !text.empty()) w.field(key, std::string_view(text));
}

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes)
    if (s.starts_with(p)) return true;
  return false;
}

// Whether `e`, an object or array at nesting level `depth`, nests no deeper than `limit` levels
// of objects and arrays (arrays counted too, to be safe). Stops at the first level too deep, so
// the recursion is at most `limit` + 1 calls deep.
bool depth_within(const dom::element& e, size_t depth, size_t limit) {
  if (depth > limit) return false;
  dom::object obj;
  dom::array arr;
  if (e.get_object().get(obj) == simdjson::SUCCESS) {
    for (auto field : obj)
      if ((field.value.is_object() || field.value.is_array()) &&
          !depth_within(field.value, depth + 1, limit))
        return false;
  } else if (e.get_array().get(arr) == simdjson::SUCCESS) {
    for (dom::element item : arr)
      if ((item.is_object() || item.is_array()) && !depth_within(item, depth + 1, limit))
        return false;
  }
  return true;
}

// ---- categorisation --------------------------------------------------------------------------

struct Categories {
  std::vector<std::string_view> category;
  std::vector<std::string_view> type;
};

bool is_authentication(std::string_view source, std::string_view name) {
  if (source == "signin.amazonaws.com") return true;
  if (source == "sts.amazonaws.com")
    return starts_with_any(name, {"AssumeRole", "GetSessionToken", "GetFederationToken"});
  if (source == "sso.amazonaws.com") return name == "Authenticate" || name == "Federate";
  return name == "ConsoleLogin";
}

bool is_iam(std::string_view source) {
  static constexpr std::string_view kIam[] = {
      "iam.amazonaws.com",           "sts.amazonaws.com",          "sso.amazonaws.com",
      "sso-directory.amazonaws.com", "identitystore.amazonaws.com", "organizations.amazonaws.com",
      "access-analyzer.amazonaws.com"};
  return std::find(std::begin(kIam), std::end(kIam), source) != std::end(kIam);
}

// The kind of change an API name makes: creation, deletion, info (reads) or change.
std::string_view verb_type(std::string_view name) {
  if (starts_with_any(name, {"Create", "Run", "Allocate", "Import"})) return "creation";
  if (starts_with_any(name, {"Delete", "Terminate", "Release", "ScheduleKeyDeletion", "Deregister"}))
    return "deletion";
  if (starts_with_any(name, {"Get", "List", "Describe", "Head", "Lookup", "Search"})) return "info";
  return "change";
}

// event.category and event.type, from ECS's allowed values; every type is one the ECS
// definition expects for every category listed:
//   sign-in and credential calls (signin, sts AssumeRole*, GetSessionToken, ...)
//                                 authentication / info
//   calls AWS refused (AccessDenied*, *UnauthorizedOperation)   api / denied
//   identity services (iam, sts, sso, identitystore, organizations, access-analyzer)
//                                 iam / creation|deletion|change|info (+ user, group)
//   everything else               configuration / creation|deletion|change|info
Categories categorise(std::string_view source, std::string_view name, std::string_view error_code) {
  Categories c;
  if (is_authentication(source, name)) {
    c.category = {"authentication"};
    c.type = {"info"};
  } else if (is_access_denied(error_code)) {
    c.category = {"api"};
    c.type = {"denied"};
  } else if (is_iam(source)) {
    c.category = {"iam"};
    c.type = {verb_type(name)};
    if (name.find("User") != std::string_view::npos) c.type.push_back("user");
    if (name.find("Group") != std::string_view::npos) c.type.push_back("group");
  } else {
    c.category = {"configuration"};
    c.type = {verb_type(name)};
  }
  return c;
}

// event.outcome as Elastic's CloudTrail integration decides it: a ConsoleLogin says it in
// responseElements.ConsoleLogin; otherwise an error code or message is a failure.
std::string_view outcome(const dom::element* r, std::string_view event_name,
                         std::string_view error_code, std::string_view error_message) {
  if (event_name == "ConsoleLogin") {
    std::string_view v = str(r, {"responseElements", "ConsoleLogin"});
    if (v == "Success") return "success";
    if (v == "Failure") return "failure";
  }
  if (!error_code.empty() || !error_message.empty()) return "failure";
  if (!r) return "unknown";
  return "success";
}

// ---- aws.cloudtrail.* ------------------------------------------------------------------------

// A value Elastic keeps twice: as text (keyword) and, when it is an object small enough, in
// aws.cloudtrail.flattened.<name>.
struct Nested {
  std::string_view ecs_name;
  std::string_view record_key;
  std::string text;
  bool object = false;
  bool flattenable = false;  // an object Elastic's flattened type takes (depth, not yet size)
};

void write_user_identity(JsonWriter& w, const dom::element* r) {
  dom::element ui;
  if (!lookup(r, {"userIdentity"}, ui) || !ui.is_object()) return;
  w.key("user_identity").begin_object();
  opt(w, "type", str(&ui, {"type"}));
  opt(w, "arn", str(&ui, {"arn"}));
  opt(w, "access_key_id", str(&ui, {"accessKeyId"}));
  opt(w, "invoked_by", str(&ui, {"invokedBy"}));
  dom::element sc;
  if (lookup(&ui, {"sessionContext"}, sc) && sc.is_object()) {
    w.key("session_context").begin_object();
    opt_keyword(w, "mfa_authenticated", &sc, {"attributes", "mfaAuthenticated"});
    int64_t created = 0;
    if (parse_event_time(str(&sc, {"attributes", "creationDate"}), created)) {
      const std::string t = iso_ms(created);
      opt(w, "creation_date", t);
    }
    dom::element issuer;
    if (lookup(&sc, {"sessionIssuer"}, issuer) && issuer.is_object()) {
      w.key("session_issuer").begin_object();
      opt(w, "type", str(&issuer, {"type"}));
      opt(w, "principal_id", str(&issuer, {"principalId"}));
      opt(w, "arn", str(&issuer, {"arn"}));
      opt(w, "account_id", str(&issuer, {"accountId"}));
      w.end_object();
    }
    w.end_object();
  }
  w.end_object();
}

// What a document left out of fields too large for it (trailwarden.truncated_fields).
struct Truncations {
  std::vector<std::string_view> fields;
};

using Resource = std::array<std::string_view, 3>;  // arn, account id, type

struct ResourceHash {
  size_t operator()(const Resource& v) const noexcept {
    const std::hash<std::string_view> h;
    size_t seed = h(v[0]);
    seed ^= h(v[1]) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
    seed ^= h(v[2]) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
    return seed;
  }
};

// resources[] as {arn, account_id, type}, duplicates dropped (as Elastic does); "ARN" or "arn".
// At most kMaxResources distinct entries, in the record's order; when there are more, the rest
// are left out and the field is named in `cut`. Linear in the size of resources[].
void write_resources(JsonWriter& w, const dom::element* r, Truncations& cut) {
  dom::element e;
  dom::array arr;
  if (!lookup(r, {"resources"}, e) || e.get_array().get(arr) != simdjson::SUCCESS) return;
  std::vector<Resource> kept;
  std::unordered_set<Resource, ResourceHash> seen;
  for (dom::element item : arr) {
    if (!item.is_object()) continue;
    Resource v = {first_nonempty({str(&item, {"ARN"}), str(&item, {"arn"})}),
                  str(&item, {"accountId"}), str(&item, {"type"})};
    if (v[0].empty() && v[1].empty() && v[2].empty()) continue;
    if (seen.contains(v)) continue;
    if (kept.size() == kMaxResources) {  // a distinct entry beyond the cap
      cut.fields.push_back("aws.cloudtrail.resources");
      break;
    }
    seen.insert(v);
    kept.push_back(v);
  }
  if (kept.empty()) return;
  w.key("resources").begin_array();
  for (const auto& v : kept) {
    w.begin_object();
    opt(w, "arn", v[0]);
    opt(w, "account_id", v[1]);
    opt(w, "type", v[2]);
    w.end_object();
  }
  w.end_array();
}

void write_console_login(JsonWriter& w, const dom::element* r) {
  std::string_view mobile = str(r, {"additionalEventData", "MobileVersion"});
  std::string_view login_to = str(r, {"additionalEventData", "LoginTo"});
  std::string_view mfa = str(r, {"additionalEventData", "MFAUsed"});
  if (mobile.empty() && login_to.empty() && mfa.empty()) return;
  w.key("console_login").begin_object().key("additional_eventdata").begin_object();
  if (!mobile.empty()) w.field("mobile_version", mobile != "No");
  opt(w, "login_to", login_to);
  if (!mfa.empty()) w.field("mfa_used", mfa != "No");
  w.end_object().end_object();
}

void write_cloudtrail(JsonWriter& w, const dom::element* r, Truncations& cut) {
  w.key("aws").begin_object().key("cloudtrail").begin_object();
  opt_keyword(w, "event_version", r, {"eventVersion"});
  opt_keyword(w, "event_category", r, {"eventCategory"});
  write_user_identity(w, r);
  opt_keyword(w, "error_code", r, {"errorCode"});
  opt_keyword(w, "error_message", r, {"errorMessage"});
  std::array<Nested, 5> nested = {Nested{"request_parameters", "requestParameters", {}, false},
                                  Nested{"response_elements", "responseElements", {}, false},
                                  Nested{"additional_eventdata", "additionalEventData", {}, false},
                                  Nested{"service_event_details", "serviceEventDetails", {}, false},
                                  Nested{"insight_details", "insightDetails", {}, false}};
  for (auto& n : nested) {
    dom::element e;
    if (!lookup(r, {n.record_key}, e) || e.is_null()) continue;
    n.object = e.is_object();
    n.flattenable = n.object && depth_within(e, 1, kFlattenedMaxDepth);
    if (n.object || e.is_array()) n.text = simdjson::minify(e);
    else keyword_text(e, n.text);
    // insight_details exists in Elastic only as the flattened object
    if (n.ecs_name != "insight_details") opt(w, n.ecs_name, n.text);
  }
  opt_keyword(w, "request_id", r, {"requestID"});
  opt_keyword(w, "event_type", r, {"eventType"});
  opt_keyword(w, "api_version", r, {"apiVersion"});
  opt_keyword(w, "management_event", r, {"managementEvent"});
  dom::element e;
  if (lookup(r, {"readOnly"}, e)) {
    bool b = false;
    std::string_view s;
    if (e.get_bool().get(b) == simdjson::SUCCESS) w.field("read_only", b);
    else if (e.get_string().get(s) == simdjson::SUCCESS && (s == "true" || s == "false"))
      w.field("read_only", s == "true");
  }
  write_resources(w, r, cut);
  opt_keyword(w, "recipient_account_id", r, {"recipientAccountId"});
  std::string_view shared = first_nonempty({str(r, {"sharedEventID"}), str(r, {"sharedEventId"})});
  opt(w, "shared_event_id", shared);
  opt_keyword(w, "vpc_endpoint_id", r, {"vpcEndpointId"});
  opt_keyword(w, "session_credential_from_console", r, {"sessionCredentialFromConsole"});
  if (str(r, {"eventName"}) == "ConsoleLogin") write_console_login(w, r);
  bool any_flat = false;
  for (const auto& n : nested) {
    if (!n.flattenable || n.text.size() >= kFlattenedMaxBytes) continue;
    if (!any_flat) w.key("flattened").begin_object();
    any_flat = true;
    w.key(n.ecs_name).raw(n.text);
  }
  if (any_flat) w.end_object();
  w.end_object().end_object();
}

// tls.* from tlsDetails ("TLSv1.2" -> version_protocol "tls", version "1.2").
void write_tls(JsonWriter& w, const dom::element* r) {
  std::string_view version = str(r, {"tlsDetails", "tlsVersion"});
  std::string_view cipher = str(r, {"tlsDetails", "cipherSuite"});
  std::string_view host = str(r, {"tlsDetails", "clientProvidedHostHeader"});
  if (version.empty() && cipher.empty() && host.empty()) return;
  w.key("tls").begin_object();
  const size_t v = version.find('v');
  if (v != std::string_view::npos && v > 0 && v + 1 < version.size()) {
    std::string protocol(version.substr(0, v));
    std::transform(protocol.begin(), protocol.end(), protocol.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    w.field("version_protocol", std::string_view(protocol));
    w.field("version", version.substr(v + 1));
  }
  opt(w, "cipher", cipher);
  if (!host.empty()) w.key("client").begin_object().field("server_name", host).end_object();
  w.end_object();
}

// ---- integrity findings ----------------------------------------------------------------------

// A modified log file is a changed file; the other checks (invalid, missing or unreadable
// digests and files, gaps) say what is known about the trail's files.
Categories categorise_integrity(std::string_view check) {
  Categories c;
  c.category = {"file"};
  c.type = {check == "log_file_modified" ? "change" : "info"};
  return c;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// trailwarden.integrity.*: the evidence of an integrity finding (integrity_finding.h), strings
// as they are; from and to only when they are times.
void write_integrity(JsonWriter& w, const dom::element* ev) {
  w.key("integrity").begin_object();
  for (std::string_view key : {"check", "reason", "digest_key", "chain", "expected_sha256",
                               "actual_sha256", "fingerprint", "unit", "error"})
    opt(w, key, str(ev, {key}));
  for (std::string_view key : {"from", "to"}) {
    int64_t ms = 0;
    if (parse_event_time(str(ev, {key}), ms)) opt(w, key, iso_ms(ms));
  }
  w.end_object();
}

// ---- rule.reference --------------------------------------------------------------------------

// The first URL among the rule's references (finding_info.types, remediation.references).
std::string_view first_url(const dom::element* f, std::initializer_list<std::string_view> path) {
  dom::element e;
  dom::array arr;
  if (!lookup(f, path, e) || e.get_array().get(arr) != simdjson::SUCCESS) return {};
  for (dom::element item : arr) {
    std::string_view s;
    if (item.get_string().get(s) == simdjson::SUCCESS &&
        (s.starts_with("https://") || s.starts_with("http://")))
      return s;
  }
  return {};
}

std::string_view rule_reference(const dom::element* f) {
  return first_nonempty(
      {first_url(f, {"finding_info", "types"}), first_url(f, {"remediation", "references"})});
}

void add_unique(std::vector<std::string_view>& v, std::string_view s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

void write_array(JsonWriter& w, std::string_view key, const std::vector<std::string_view>& v) {
  if (v.empty()) return;
  w.key(key).begin_array();
  for (auto s : v) w.value(s);
  w.end_array();
}

}  // namespace

uint64_t ecs_degraded_documents() { return g_degraded.load(std::memory_order_relaxed); }

uint64_t ecs_truncated_documents() { return g_truncated.load(std::memory_order_relaxed); }

namespace {

// What the document is made from: the parsed finding and record (null when absent), what could
// not be parsed, and for summaries the size of the full document.
struct Sources {
  const dom::element* finding = nullptr;
  const dom::element* record = nullptr;
  const dom::element* evidence = nullptr;  // an integrity alert's (AlertRecord::raw)
  bool finding_lost = false;
  bool record_lost = false;
  size_t truncated_from = 0;  // > 0: a summary
};

void write_document(const AlertRecord& a, const Sources& src, int64_t now_ms, std::string& out) {
  const dom::element* f = src.finding;
  const dom::element* r = src.record;
  dom::element ev;
  const dom::element* evidence = first_evidence(f, ev) ? &ev : nullptr;

  // The normalized values: from the finding, else from the AlertRecord.
  // The time: the finding's `time` whenever it has one (1970-01-01T00:00:00Z included), else the
  // alert's event time (0: none), else the time the document is made. The normalizer writes
  // finding_info.first_seen_time exactly when eventTime was a time; without it the finding's
  // time is the processing time, and the document says so (trailwarden.time_unparsed).
  int64_t time_ms = 0;
  bool time_unparsed = false;
  std::string timestamp;
  dom::element e;
  if (lookup(f, {"time"}, e) && e.get_int64().get(time_ms) == simdjson::SUCCESS) {
    timestamp = iso_ms(time_ms);
    time_unparsed = !lookup(f, {"finding_info", "first_seen_time"}, e);
  } else if (a.time_ms > 0) {
    timestamp = iso_ms(a.time_ms);
  } else if (int64_t t = 0; r && parse_event_time(str(r, {"eventTime"}), t)) {
    timestamp = iso_ms(t);
  }
  if (timestamp.empty()) {  // no event time (or one out of ECS's range): the processing time
    time_unparsed = true;
    timestamp = iso_ms(now_ms);
  }
  if (timestamp.empty())  // a caller's clock out of range: @timestamp is required
    timestamp = iso_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
  const std::string_view event_name =
      first_nonempty({str(evidence, {"api", "operation"}), a.event_name, str(r, {"eventName"})});
  const std::string_view event_source = first_nonempty(
      {str(evidence, {"api", "service", "name"}), a.event_source, str(r, {"eventSource"})});
  const std::string_view error_code =
      first_nonempty({str(evidence, {"api", "response", "error"}), str(r, {"errorCode"})});
  const std::string_view error_message =
      first_nonempty({str(evidence, {"api", "response", "error_message"}), str(r, {"errorMessage"})});
  const std::string_view region =
      first_nonempty({str(f, {"cloud", "region"}), a.region, str(r, {"awsRegion"})});
  const std::string_view account = first_nonempty(
      {str(f, {"cloud", "account", "uid"}), a.account, str(r, {"recipientAccountId"})});
  // An AWS service acting on its own (userIdentity.type AWSService) is no user: its principal
  // stays in aws.cloudtrail.user_identity.invoked_by and source.domain (as Elastic does).
  const bool service_actor = str(r, {"userIdentity", "type"}) == "AWSService";
  const std::string_view user_name =
      service_actor ? std::string_view() : str(evidence, {"actor", "user", "name"});
  const std::string_view user_id = first_nonempty(
      {str(evidence, {"actor", "user", "uid_alt"}), str(evidence, {"actor", "user", "uid"})});
  std::string_view source_ip = str(evidence, {"src_endpoint", "ip"});
  // The normalizer writes a source that is not an address as src_endpoint.svc_name
  // (config.amazonaws.com, AWS Internal); a host name among them is ECS's source.domain.
  std::string_view source_domain = first_nonempty(
      {str(evidence, {"src_endpoint", "domain"}), str(evidence, {"src_endpoint", "svc_name"})});
  const std::string_view source_address =
      first_nonempty({str(r, {"sourceIPAddress"}), source_ip, source_domain, a.source_ip});
  if (!f && is_ip(source_address)) source_ip = source_address;
  if (!is_ip(source_ip)) source_ip = {};
  if (!f && source_ip.empty()) source_domain = source_address;
  if (!is_host_name(source_domain)) source_domain = {};
  const std::string_view user_agent =
      first_nonempty({str(evidence, {"http_request", "user_agent"}), str(r, {"userAgent"})});
  const std::string_view target_user = str(r, {"requestParameters", "userName"});
  const std::string_view new_user = str(r, {"requestParameters", "newUserName"});
  // IAM's groupName is a user group; EC2's (a security group) is not.
  const std::string_view group_name = event_source == "iam.amazonaws.com"
                                          ? str(r, {"requestParameters", "groupName"})
                                          : std::string_view();

  JsonWriter w(out);
  w.begin_object();
  w.field("@timestamp", std::string_view(timestamp));
  w.key("ecs").begin_object().field("version", kEcsVersion).end_object();
  w.field("message", first_nonempty({str(f, {"message"}), std::string_view(a.rule_title)}));
  if (!a.tags.empty()) {
    w.key("tags").begin_array();
    for (const auto& t : a.tags) w.value(std::string_view(t));
    w.end_array();
  }

  // event.*
  const bool integrity = a.kind == AlertKind::kIntegrity;
  const dom::element* iv = src.evidence;
  const Categories cat = integrity ? categorise_integrity(a.event_name)
                                   : categorise(event_source, event_name, error_code);
  w.key("event").begin_object();
  w.field("kind", "alert");
  write_array(w, "category", cat.category);
  write_array(w, "type", cat.type);
  opt(w, "action", event_name);
  // An integrity check found the trail not whole: its outcome is a failure.
  w.field("outcome", integrity ? "failure" : outcome(r, event_name, error_code, error_message));
  opt(w, "provider", event_source);
  opt(w, "id", first_nonempty({str(r, {"eventID"}), a.event_id}));
  w.field("dataset", "trailwarden.alert");
  w.field("module", "trailwarden");
  const std::string created = iso_ms(now_ms);
  opt(w, "created", created);
  w.field("severity", a.severity_id);
  static constexpr int kRiskScore[] = {0, 0, 21, 47, 73, 99};  // Elastic's defaults per severity
  if (a.severity_id >= 2 && a.severity_id <= 5) w.field("risk_score", kRiskScore[a.severity_id]);
  if (integrity && iv) opt(w, "original", a.raw);
  else opt(w, "original", str(f, {"raw_data"}));
  w.end_object();

  // rule.*
  w.key("rule").begin_object();
  w.field("id", first_nonempty({str(f, {"finding_info", "analytic", "uid"}), a.rule_id}));
  w.field("name", first_nonempty({str(f, {"finding_info", "analytic", "name"}), a.rule_title}));
  opt(w, "description", str(f, {"finding_info", "desc"}));
  opt(w, "reference", rule_reference(f));
  opt(w, "ruleset", str(f, {"finding_info", "analytic", "category"}));
  w.end_object();

  // cloud.*
  w.key("cloud").begin_object();
  w.field("provider", "aws");
  opt(w, "region", region);
  if (!account.empty()) w.key("account").begin_object().field("id", account).end_object();
  if (!event_source.empty())
    w.key("service").begin_object().field("name", event_source).end_object();
  w.end_object();

  // user.*, group.*
  if (!user_name.empty() || !user_id.empty() || !target_user.empty() || !new_user.empty()) {
    w.key("user").begin_object();
    opt(w, "name", user_name);
    opt(w, "id", user_id);
    if (!target_user.empty())
      w.key("target").begin_object().field("name", target_user).end_object();
    if (!new_user.empty()) w.key("changes").begin_object().field("name", new_user).end_object();
    w.end_object();
  }
  if (!group_name.empty()) w.key("group").begin_object().field("name", group_name).end_object();
  if (!user_agent.empty())
    w.key("user_agent").begin_object().field("original", user_agent).end_object();

  // source.*
  if (!source_address.empty()) {
    w.key("source").begin_object();
    w.field("address", source_address);
    opt(w, "ip", source_ip);
    opt(w, "domain", source_domain);
    w.end_object();
  }

  // file.*: the S3 object an integrity finding is about, and the SHA-256 the agent read of it.
  const std::string_view actual_sha256 = is_sha256_hex(str(iv, {"actual_sha256"}))
                                              ? str(iv, {"actual_sha256"})
                                              : std::string_view();
  if (integrity && !a.bucket.empty()) {
    w.key("file").begin_object();
    const std::string path = fmt::format("s3://{}/{}", a.bucket, a.key);
    w.field("path", std::string_view(path));
    const size_t slash = a.key.rfind('/');
    opt(w, "name", slash == std::string::npos ? std::string_view(a.key)
                                              : std::string_view(a.key).substr(slash + 1));
    if (!actual_sha256.empty())
      w.key("hash").begin_object().field("sha256", actual_sha256).end_object();
    w.end_object();
  }

  // related.*
  std::vector<std::string_view> users, ips, hosts, hashes;
  add_unique(hashes, actual_sha256);
  add_unique(users, user_name);
  add_unique(users, target_user);
  add_unique(users, new_user);
  add_unique(ips, source_ip);
  add_unique(hosts, source_domain);
  if (!users.empty() || !ips.empty() || !hosts.empty() || !hashes.empty()) {
    w.key("related").begin_object();
    write_array(w, "user", users);
    write_array(w, "ip", ips);
    write_array(w, "hosts", hosts);
    write_array(w, "hash", hashes);
    w.end_object();
  }

  // trailwarden itself
  w.key("observer").begin_object();
  w.field("vendor", "trailwarden").field("product", "trailwarden");
  w.field("version", TRAILWARDEN_VERSION);
  w.end_object();
  w.key("agent").begin_object();
  w.field("type", "trailwarden").field("version", TRAILWARDEN_VERSION);
  w.end_object();

  Truncations cut;
  if (r) {
    write_tls(w, r);
    write_cloudtrail(w, r, cut);
  }

  // trailwarden.*: the finding's identity, the route, and what could not be read
  w.key("trailwarden").begin_object();
  w.field("finding_uid", first_nonempty({str(f, {"metadata", "uid"}), a.uid}));
  opt(w, "correlation_uid", str(f, {"metadata", "correlation_uid"}));
  w.field("severity", a.severity());
  if (a.kind != AlertKind::kRecord) w.field("kind", alert_kind_name(a.kind));
  write_route_fields(w, a);
  if (iv) write_integrity(w, iv);
  if (src.finding_lost || src.record_lost) {
    w.key("ecs_degraded").begin_array();
    if (src.finding_lost) w.value("finding");
    if (src.record_lost) w.value("record");
    w.end_array();
  }
  if (src.truncated_from > 0) {
    w.field("truncated", true);
    w.field("original_bytes", static_cast<uint64_t>(src.truncated_from));
  }
  if (!cut.fields.empty()) {
    g_truncated.fetch_add(1, std::memory_order_relaxed);
    write_array(w, "truncated_fields", cut.fields);
  }
  if (time_unparsed) {
    w.field("time_unparsed", true);
    opt(w, "original_time",
        first_nonempty({str(f, {"metadata", "original_time"}), str(r, {"eventTime"})}));
  }
  w.end_object();

  w.end_object();
}

}  // namespace

void append_ecs_document(const AlertRecord& a, int64_t now_ms, std::string& out) {
  thread_local dom::parser finding_parser;
  thread_local dom::parser record_parser;
  dom::element finding_root, record_root;
  Sources src;
  if (!a.ocsf.empty() && finding_parser.parse(a.ocsf).get(finding_root) == simdjson::SUCCESS &&
      finding_root.is_object())
    src.finding = &finding_root;
  // Only a record alert has a CloudTrail record; an integrity alert's raw is its evidence, an
  // alarm's is empty (neither is lost).
  const dom::element** raw_root =
      a.kind == AlertKind::kRecord ? &src.record
      : a.kind == AlertKind::kIntegrity ? &src.evidence
                                        : nullptr;
  if (raw_root && !a.raw.empty() &&
      record_parser.parse(a.raw).get(record_root) == simdjson::SUCCESS && record_root.is_object())
    *raw_root = &record_root;
  src.finding_lost = !src.finding;
  src.record_lost = raw_root && !*raw_root;
  if (src.finding_lost || src.record_lost) {
    g_degraded.fetch_add(1, std::memory_order_relaxed);
    const char* raw_name =
        a.kind == AlertKind::kIntegrity ? "integrity evidence" : "CloudTrail record";
    const std::string what = src.finding_lost && src.record_lost
                                 ? fmt::format("OCSF finding and {}", raw_name)
                             : src.finding_lost ? std::string("OCSF finding")
                                                : std::string(raw_name);
    spdlog::warn("format ecs: finding {} (rule {}, event {}): its {} cannot be parsed; the ECS "
                 "document is made from the alert's own fields (trailwarden.ecs_degraded)",
                 a.uid, a.rule_id, a.event_id, what);
  }
  write_document(a, src, now_ms, out);
}

void append_ecs_summary(const AlertRecord& a, size_t original_bytes, int64_t now_ms,
                        std::string& out) {
  Sources src;
  src.truncated_from = original_bytes;
  write_document(a, src, now_ms, out);
}

}  // namespace trailwarden
