#include "agent/normalize/integrity_finding.h"

#include <openssl/evp.h>

#include <iterator>

#include <fmt/format.h>

#include "agent/aws/names.h"
#include "agent/common/json_writer.h"
#include "agent/normalize/event_time.h"
#include "agent/normalize/observables.h"
#include "agent/normalize/ocsf.h"
#include "agent/normalize/ocsf_parts.h"

namespace trailwarden {

namespace {

using normalize::ObservableType;

struct CheckInfo {
  std::string_view rule_id;
  std::string_view title;
  std::string_view remediation;
};

const CheckInfo& info(IntegrityCheck check) {
  static const CheckInfo kInfo[] = {
      {"integrity.digest_invalid", "CloudTrail digest file invalid",
       "Find out who wrote the digest file (S3 server access logs or data events of the trail's "
       "bucket) and restrict write access to the bucket; the log files it lists cannot be trusted "
       "until they are checked against a valid digest."},
      {"integrity.digest_chain_broken", "CloudTrail digest chain broken",
       "A digest file was deleted or replaced: find out who wrote to or deleted from the trail's "
       "bucket, and protect it (S3 Object Lock, MFA delete, a bucket policy denying deletes)."},
      {"integrity.digest_chain_restarted", "CloudTrail digest chain restarted",
       "Logging or log file validation was stopped and started again: look for StopLogging and "
       "UpdateTrail in the gap, and for what happened while nothing was logged."},
      {"integrity.log_file_modified", "CloudTrail log file modified",
       "A log file's content differs from what CloudTrail signed: treat the events it holds as "
       "forged, find out who wrote it (S3 server access logs or data events), and restrict write "
       "access to the trail's bucket."},
      {"integrity.log_file_unreadable", "CloudTrail log file unreadable",
       "A log file listed by a valid digest was deleted or cannot be read: find out who deleted "
       "or replaced it, and check the agent's access (s3:GetObject, KMS) to the trail's bucket."},
      {"integrity.digest_delivery_stopped", "CloudTrail digest delivery stopped",
       "No digest file arrived for over an hour: check that the trail is logging with log file "
       "validation on (GetTrailStatus), that its bucket policy lets CloudTrail write, and that "
       "the bucket still notifies the agent."},
  };
  const auto i = static_cast<size_t>(check);
  return kInfo[i < std::size(kInfo) ? i : 0];
}

// The last segment of an S3 key ("..._20261120T0145Z_x.json.gz"); the key itself when it
// ends with '/'; "" for an empty key.
std::string_view base_name(std::string_view key) {
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == key.size()) return key;
  return key.substr(slash + 1);
}

// A SHA-256 as hex (OCSF's file_hash_t is hex only).
bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

// "aws" unless the region names another partition ("aws-cn", "aws-us-gov", ...).
std::string_view partition_of_region(std::string_view region) {
  if (!aws::is_valid_region(region)) return {};
  return aws::partition_of(region).name;
}

std::string s3_uri(const IntegrityFindingInput& in) {
  return fmt::format("s3://{}/{}", in.bucket, in.key);
}

std::string s3_arn(const IntegrityFindingInput& in) {
  std::string_view partition = partition_of_region(in.region);
  return fmt::format("arn:{}:s3:::{}/{}", partition.empty() ? "aws" : partition, in.bucket,
                     in.key);
}

// The evidence as one object (AlertRecord::raw, the OCSF evidences[0].data): check, reason,
// bucket and key always; the others when known.
std::string evidence_json(const IntegrityFindingInput& in) {
  std::string out;
  JsonWriter w(out);
  auto opt = [&w](std::string_view key, const std::string& value) {
    if (!value.empty()) w.field(key, std::string_view(value));
  };
  w.begin_object();
  w.field("check", integrity_check_name(in.check));
  w.field("reason", std::string_view(in.reason));
  w.field("bucket", std::string_view(in.bucket));
  w.field("key", std::string_view(in.key));
  opt("digest_key", in.digest_key);
  opt("chain", in.chain);
  opt("expected_sha256", in.expected_sha256);
  opt("actual_sha256", in.actual_sha256);
  opt("fingerprint", in.fingerprint);
  if (in.from_ms > 0) w.field("from", std::string_view(format_datetime(in.from_ms)));
  if (in.to_ms > 0) w.field("to", std::string_view(format_datetime(in.to_ms)));
  opt("unit", in.unit);
  opt("error", in.error);
  w.end_object();
  return out;
}

}  // namespace

std::string_view integrity_rule_id(IntegrityCheck check) { return info(check).rule_id; }

std::string_view integrity_rule_title(IntegrityCheck check) { return info(check).title; }

std::string_view integrity_check_name(IntegrityCheck check) {
  return integrity_rule_id(check).substr(std::string_view("integrity.").size());
}

int integrity_severity(IntegrityCheck check) {
  return check == IntegrityCheck::kLogFileModified ? 5 : 4;
}

std::string integrity_finding_uid(const IntegrityFindingInput& in) {
  // Each part followed by a NUL: distinct tuples never hash the same text. kDeliveryStopped's
  // `to` is when the stop was noticed (each agent, each tick another time): not hashed. A
  // modified log file's hash read is: a second, different change is another finding.
  const std::string from = std::to_string(in.from_ms);
  const std::string to =
      in.check == IntegrityCheck::kDeliveryStopped ? std::string() : std::to_string(in.to_ms);
  const std::string_view actual =
      in.check == IntegrityCheck::kLogFileModified ? std::string_view(in.actual_sha256)
                                                   : std::string_view();
  std::string text;
  for (std::string_view part :
       {std::string_view("trailwarden integrity v1"), integrity_rule_id(in.check),
        std::string_view(in.bucket), std::string_view(in.key), std::string_view(in.digest_key),
        std::string_view(in.expected_sha256), std::string_view(from), std::string_view(to),
        actual}) {
    text.append(part);
    text.push_back('\0');
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  return hex_uuid_v8(digest);
}

AlertRecord make_integrity_alert(const IntegrityFindingInput& in) {
  const CheckInfo& check = info(in.check);
  const std::string uri = s3_uri(in);
  const std::string arn = s3_arn(in);
  const bool valid_account = aws::is_valid_account_id(in.account);
  const std::string_view partition = partition_of_region(in.region);

  AlertRecord a;
  a.kind = AlertKind::kIntegrity;
  a.uid = integrity_finding_uid(in);
  a.rule_id = std::string(check.rule_id);
  a.rule_title = std::string(check.title);
  a.severity_id = integrity_severity(in.check);
  a.tags = {"integrity", "cloudtrail"};
  a.time_ms = in.time_ms;
  a.account = in.account;
  a.region = in.region;
  a.event_name = std::string(integrity_check_name(in.check));
  a.route = AlertRoute::kS3Object;
  a.bucket = in.bucket;
  a.key = in.key;
  a.raw = evidence_json(in);

  std::string message = fmt::format("{}: {} ({})", check.title, in.reason, uri);
  if (!in.account.empty()) message += fmt::format(" in account {}", in.account);
  if (!in.region.empty()) message += fmt::format(" ({})", in.region);

  JsonWriter w(a.ocsf);
  w.begin_object();
  w.field("activity_id", 1).field("activity_name", "Create");
  w.field("category_uid", 2).field("category_name", "Findings");
  w.field("class_uid", 2004).field("class_name", "Detection Finding");
  w.field("type_uid", 200401).field("type_name", "Detection Finding: Create");
  w.field("severity_id", a.severity_id).field("severity", a.severity());
  w.field("status_id", 1).field("status", "New");
  w.field("is_alert", true);
  w.field("message", std::string_view(message));
  w.field("time", in.time_ms);
  w.field("time_dt", std::string_view(format_datetime(in.time_ms)));
  // The period concerned (a digest's hour, a gap, the time since the last digest).
  if (in.from_ms > 0) {
    w.field("start_time", in.from_ms);
    w.field("start_time_dt", std::string_view(format_datetime(in.from_ms)));
  }
  if (in.to_ms > 0) {
    w.field("end_time", in.to_ms);
    w.field("end_time_dt", std::string_view(format_datetime(in.to_ms)));
  }
  // Hashes and signatures compared: certain.
  w.field("confidence_id", 3).field("confidence", "High");

  w.key("metadata").begin_object();
  w.field("version", kOcsfVersion);
  w.field("uid", std::string_view(a.uid));
  write_ocsf_product(w);
  w.field("log_name", std::string_view(uri));
  w.field("event_code", std::string_view(a.event_name));
  write_ocsf_labels(w, a.tags);
  w.end_object();

  w.key("finding_info").begin_object();
  w.field("uid", std::string_view(a.uid));
  w.field("title", check.title);
  w.field("desc", std::string_view(in.reason));
  w.key("types").begin_array().value("Integrity").end_array();
  w.key("analytic").begin_object();
  w.field("uid", check.rule_id);
  w.field("name", check.title);
  w.field("type_id", 1).field("type", "Rule");
  w.field("category", "integrity");
  w.end_object();
  // When the agent found it (ECS reads a finding without it as one whose time is unknown).
  w.field("first_seen_time", in.time_ms).field("last_seen_time", in.time_ms);
  w.key("data_sources").begin_array().value("AWS CloudTrail digest files").end_array();
  w.end_object();

  w.key("remediation").begin_object().field("desc", check.remediation).end_object();

  w.key("cloud").begin_object();
  w.field("provider", "AWS");
  if (!in.region.empty()) w.field("region", std::string_view(in.region));
  if (valid_account) write_ocsf_account(w, in.account);
  if (!partition.empty()) w.field("cloud_partition", partition);
  w.end_object();

  // The object the finding is about.
  w.key("resources").begin_array().begin_object();
  w.field("uid", std::string_view(arn));
  w.field("name", std::string_view(in.key));
  w.field("type", "AWS::S3::Object");
  if (!partition.empty()) w.field("cloud_partition", partition);
  w.end_object().end_array();

  // The evidence: the object as a file (what the agent read of it) and every value compared.
  w.key("evidences").begin_array().begin_object();
  w.key("file").begin_object();
  w.field("name", base_name(in.key));
  w.field("path", std::string_view(uri));
  w.field("type_id", 1).field("type", "Regular File");
  if (is_sha256_hex(in.actual_sha256)) {  // anything else stays in the evidence only
    w.key("hashes").begin_array().begin_object();
    w.field("algorithm_id", 3).field("algorithm", "SHA-256");
    w.field("value", std::string_view(in.actual_sha256));
    w.end_object().end_array();
  }
  w.end_object();
  w.key("data").raw(a.raw);
  w.end_object().end_array();

  normalize::Observables observables;
  observables.add("resources[0].uid", ObservableType::kResourceUid, arn);
  observables.add("resources[0].name", ObservableType::kResourceName, in.key);
  if (valid_account) observables.add("cloud.account.uid", ObservableType::kAccountUid, in.account);
  observables.write(w);

  // As for a record read from S3 (ocsf.cpp): the route the formats that are not OCSF say too.
  w.key("unmapped").begin_object().key("trailwarden").begin_object();
  w.field("route", "s3").field("verified", true);
  w.field("bucket", std::string_view(in.bucket)).field("key", std::string_view(in.key));
  w.end_object().end_object();
  w.end_object();
  return a;
}

}  // namespace trailwarden
