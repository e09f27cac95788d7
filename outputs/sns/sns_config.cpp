#include "outputs/sns/sns_config.h"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>

#include "agent/aws/names.h"
#include "agent/config/toml_util.h"
#include "agent/http/http.h"

namespace trailwarden {

namespace {

struct FieldName {
  SnsField field;
  std::string_view name;
};
constexpr FieldName kFields[] = {
    {SnsField::kRuleId, "rule_id"},         {SnsField::kRuleTitle, "rule_title"},
    {SnsField::kSeverity, "severity"},      {SnsField::kSeverityId, "severity_id"},
    {SnsField::kAccount, "account"},        {SnsField::kRegion, "region"},
    {SnsField::kEventName, "event_name"},   {SnsField::kEventSource, "event_source"},
    {SnsField::kActor, "actor"},            {SnsField::kSourceIp, "source_ip"},
    {SnsField::kEventId, "event_id"},       {SnsField::kFindingUid, "finding_uid"},
};

std::string field_list() {
  std::string s;
  for (const auto& f : kFields) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

// Fails with the position of `key` in the table (the key's: copies keep only those).
[[noreturn]] void fail_at(const OutputSettings& s, std::string_view key, const std::string& msg) {
  for (const auto& [k, v] : *s.table)
    if (k.str() == key)
      throw std::runtime_error(fmt::format("{}: {}", toml_where(s.config_file, k.source()), msg));
  throw std::runtime_error(fmt::format("{}: {}", s.origin, msg));
}

bool topic_name_ok(std::string_view name, bool fifo) {
  std::string_view base = fifo ? name.substr(0, name.size() - 5) : name;
  if (base.empty() || name.size() > 256) return false;
  for (char c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

bool parse_sns_field(std::string_view name, SnsField& out) {
  for (const auto& f : kFields)
    if (f.name == name) {
      out = f.field;
      return true;
    }
  return false;
}

std::string_view sns_field_name(SnsField f) {
  for (const auto& e : kFields)
    if (e.field == f) return e.name;
  return "?";
}

std::vector<SnsField> sns_default_attributes() {
  return {SnsField::kSeverity, SnsField::kSeverityId, SnsField::kRuleId, SnsField::kAccount,
          SnsField::kRegion, SnsField::kEventName};
}

bool parse_sns_topic_arn(std::string_view arn, SnsTopicArn& out, std::string& error) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const size_t colon = arn.find(':', start);
    if (colon == std::string_view::npos) break;
    parts.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  if (parts.size() != 5) {
    error = "not an ARN (arn:aws:sns:<region>:<account>:<topic>)";
    return false;
  }
  parts.push_back(arn.substr(start));
  if (parts[0] != "arn" || parts[2] != "sns") {
    error = "not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)";
    return false;
  }
  if (!aws::is_valid_region(parts[3])) {
    error = fmt::format("'{}' is not an AWS region name", http::printable_excerpt(parts[3], 64));
    return false;
  }
  const aws::Partition partition = aws::partition_of(parts[3]);
  if (parts[1] != partition.name) {
    error = fmt::format("region {} is in partition {}, not '{}'", parts[3], partition.name,
                        http::printable_excerpt(parts[1], 64));
    return false;
  }
  if (!aws::is_valid_account_id(parts[4])) {
    error = fmt::format("'{}' is not a 12-digit account id", http::printable_excerpt(parts[4], 64));
    return false;
  }
  const std::string_view name = parts[5];
  const bool fifo = name.size() > 5 && name.ends_with(".fifo");
  if (!topic_name_ok(name, fifo)) {
    error = fmt::format(
        "'{}' is not a topic name (1-256 letters, digits, hyphens and underscores, FIFO topics "
        "ending in .fifo)",
        http::printable_excerpt(name, 80));
    return false;
  }
  out.arn = std::string(arn);
  out.partition = std::string(parts[1]);
  out.region = std::string(parts[3]);
  out.account = std::string(parts[4]);
  out.name = std::string(name);
  out.fifo = fifo;
  return true;
}

bool parse_sns_subject(std::string_view text, SnsSubjectTemplate& out, std::string& error) {
  out.parts.clear();
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.parts.push_back({false, std::move(literal), SnsField::kRuleId});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      const size_t close = text.find('}', i);
      if (close == std::string_view::npos) {
        error = "unclosed '{' (write {{ for a literal brace)";
        return false;
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      SnsField f;
      if (!parse_sns_field(name, f)) {
        error = fmt::format("unknown field {{{}}} (known: {})", http::printable_excerpt(name, 40),
                            field_list());
        return false;
      }
      flush();
      out.parts.push_back({true, {}, f});
      i = close;
    } else if (c == '}') {
      error = "unmatched '}' (write }} for a literal brace)";
      return false;
    } else {
      literal += c;
    }
  }
  flush();
  return true;
}

SnsOptions parse_sns_config(const OutputSettings& s, const aws::EndpointConfig& endpoints,
                            const aws::Environment& env) {
  SnsOptions o;
  const toml::table& table = *s.table;
  TomlReader r(s.config_file, table, "outputs");
  mark_common_output_keys(r);
  std::string topic_arn, region, endpoint_url, subject(kSnsDefaultSubject), group_id = "rule_id";
  std::vector<std::string> attributes;
  bool attributes_given = false;
  size_t timeout_ms = 10000;
  r.read("topic_arn", topic_arn);
  r.read("region", region);
  r.read("endpoint_url", endpoint_url);
  r.read("subject", subject);
  if (table.get("message_attributes")) attributes_given = true;
  r.read("message_attributes", attributes);
  r.read("message_group_id", group_id);
  r.read("batch", o.batch);
  r.read("timeout_ms", timeout_ms, 100);
  r.finish();
  o.timeout = std::chrono::milliseconds(timeout_ms);
  o.format = s.format;
  const std::string what = fmt::format("sns output '{}'", s.name);

  if (topic_arn.empty())
    throw std::runtime_error(fmt::format(
        "{}: {} needs topic_arn (\"arn:aws:sns:us-east-1:123456789012:alerts\")", s.origin, what));
  std::string error;
  if (!parse_sns_topic_arn(topic_arn, o.topic, error)) fail_at(s, "topic_arn", "topic_arn: " + error);

  o.region = o.topic.region;
  if (!region.empty()) {
    if (!aws::is_valid_region(region))
      fail_at(s, "region", fmt::format("region: '{}' is not an AWS region name",
                                       http::printable_excerpt(region, 64)));
    if (aws::partition_of(region).name != o.topic.partition)
      fail_at(s, "region", fmt::format("region: {} is not in the topic's partition {}", region,
                                       o.topic.partition));
    o.region = region;
  }

  aws::EndpointSettings settings;
  if (!aws::endpoint_settings(aws::AwsService::kSns, endpoints, env, settings, error))
    throw std::runtime_error(fmt::format("{}: {}: {}", s.origin, what, error));
  if (!endpoint_url.empty()) {
    settings.url = endpoint_url;
    settings.source = "endpoint_url";
  }
  std::string url;
  if (!aws::resolve_endpoint_url(aws::AwsService::kSns, o.region, settings, url, error))
    fail_at(s, endpoint_url.empty() ? "topic_arn" : "endpoint_url", error);
  http::HttpRequest base;
  if (!http::parse_endpoint_url(url, base, error))
    fail_at(s, "endpoint_url", "endpoint_url: " + error);
  if (base.scheme == "http" && !http::is_loopback_host(base.host))
    fail_at(s, "endpoint_url",
            "endpoint_url: plain http would send signed requests in clear text: use https (http "
            "is accepted for 127.0.0.1 and localhost only)");
  o.scheme = base.scheme;
  o.host = base.host;
  o.path = base.path;
  // A region named by the endpoint's host signs (an endpoint serves one region).
  const std::string endpoint_region = aws::region_from_endpoint_url(aws::AwsService::kSns, url);
  if (!endpoint_region.empty()) o.region = endpoint_region;

  if (!parse_sns_subject(subject, o.subject, error)) fail_at(s, "subject", "subject: " + error);

  if (attributes_given) {
    for (const std::string& a : attributes) {
      SnsField f;
      if (!parse_sns_field(a, f))
        fail_at(s, "message_attributes",
                fmt::format("message_attributes: unknown field '{}' (known: {})",
                            http::printable_excerpt(a, 40), field_list()));
      o.attributes.push_back(f);
    }
    if (o.attributes.size() > 10)
      fail_at(s, "message_attributes", "message_attributes: SNS allows at most 10 attributes");
  } else {
    o.attributes = sns_default_attributes();
  }
  if (!parse_sns_field(group_id, o.group_id))
    fail_at(s, "message_group_id", fmt::format("message_group_id: unknown field '{}' (known: {})",
                                               http::printable_excerpt(group_id, 40), field_list()));
  if (table.get("message_group_id") && !o.topic.fifo)
    fail_at(s, "message_group_id", "message_group_id: only for FIFO topics (names ending .fifo)");
  return o;
}

}  // namespace trailwarden
