// The SNS output's [[outputs]] keys (docs/outputs.md, "sns"; conf/trailwarden.toml), parsed and
// checked at start-up with file:line:column into SnsOptions (what SnsOutput, sns_output.h, is
// built with):
//
//   topic_arn            arn:<partition>:sns:<region>:<account>:<name>[.fifo] (required); the
//                        region that signs and the partition come from it, as in the AWS SDKs
//   region               signing region override (must be in the ARN's partition)
//   endpoint_url         where requests go (else [aws] endpoint_url, AWS_ENDPOINT_URL_SNS,
//                        AWS_ENDPOINT_URL, the region's SNS host: agent/aws/endpoints.h)
//   subject              template of the Subject ({rule_id}, {rule_title}, {severity}, ...);
//                        "" sends none. Made SNS-safe (ASCII printable, one line, <= 100 chars)
//   message_attributes   fields sent as String message attributes (filter policies)
//   message_group_id     FIFO topics: the field whose value groups messages (default rule_id)
//   batch                PublishBatch (<= 10 entries, <= 256 KiB) instead of one Publish each
//   timeout_ms           per request
// plus the keys every output has (outputs/settings.h): format, buffer, retries ...
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "agent/aws/endpoints.h"
#include "outputs/factory.h"
#include "outputs/format.h"
#include "outputs/settings.h"

namespace trailwarden {

// An alert field usable in subject templates, message attributes and message_group_id.
enum class SnsField {
  kRuleId, kRuleTitle, kSeverity, kSeverityId, kAccount, kRegion, kEventName, kEventSource,
  kActor, kSourceIp, kEventId, kFindingUid
};
// "rule_id", "rule_title", "severity", "severity_id", "account", "region", "event_name",
// "event_source", "actor", "source_ip", "event_id", "finding_uid"; false if unknown.
bool parse_sns_field(std::string_view name, SnsField& out);
std::string_view sns_field_name(SnsField f);

// A parsed topic ARN.
struct SnsTopicArn {
  std::string arn, partition, region, account, name;
  bool fifo = false;  // the name ends in ".fifo"
};
// arn:<partition>:sns:<region>:<12-digit account>:<name>, the name 1-256 letters, digits,
// hyphens and underscores (FIFO: ending in ".fifo"), the region valid and of that partition.
// false with `error` saying what is wrong.
bool parse_sns_topic_arn(std::string_view arn, SnsTopicArn& out, std::string& error);

// A subject template: literal text and {field} placeholders.
struct SnsSubjectTemplate {
  struct Part {
    bool is_field = false;
    std::string text;  // literal text
    SnsField field = SnsField::kRuleId;
  };
  std::vector<Part> parts;
};
// "{severity}: {rule_title}"; "{{" and "}}" are literal braces. false with `error` on an
// unknown field or an unbalanced brace.
bool parse_sns_subject(std::string_view text, SnsSubjectTemplate& out, std::string& error);

struct SnsOptions {
  SnsTopicArn topic;
  std::string region;  // signs requests: the ARN's, or the `region` key
  // Endpoint: scheme, host and path requests go to.
  std::string scheme = "https";
  std::string host;
  std::string path = "/";
  AlertFormat format = AlertFormat::kOcsf;
  SnsSubjectTemplate subject;  // empty: no Subject
  std::vector<SnsField> attributes;
  SnsField group_id = SnsField::kRuleId;  // FIFO topics only
  bool batch = true;
  std::chrono::milliseconds timeout{10000};
};

// The default subject template and message attributes.
inline constexpr std::string_view kSnsDefaultSubject = "trailwarden {severity}: {rule_title}";
std::vector<SnsField> sns_default_attributes();

// Reads the output's keys from settings.table (after the common ones): throws
// std::runtime_error with file:line:column on a bad or unknown key. `endpoints` is [aws] as the
// endpoint helper takes it; `env` the environment (AWS_ENDPOINT_URL_SNS ...).
SnsOptions parse_sns_config(const OutputSettings& settings, const aws::EndpointConfig& endpoints,
                            const aws::Environment& env);

}  // namespace trailwarden
