#include "agent/config/sections.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <span>

#include "agent/aws/names.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

constexpr std::array<std::string_view, 6> kLogLevels = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};
constexpr std::array<std::string_view, 4> kLogFormats = {"auto", "text", "json", "journal"};

bool one_of(std::span<const std::string_view> names, const std::string& value) {
  return std::find(names.begin(), names.end(), value) != names.end();
}

// Each element of the list `key` must pass `valid`; the error points at the element.
void check_each(const TomlReader& r, std::string_view key, bool (*valid)(std::string_view),
                std::string_view what) {
  const toml::node* n = r.table().get(key);
  const toml::array* arr = n ? n->as_array() : nullptr;
  if (!arr) return;
  for (const auto& el : *arr)
    if (!valid(*el.value<std::string>()))
      r.fail(el, fmt::format("source.sqs.{}: \"{}\" is not {}", key, *el.value<std::string>(),
                             what));
}

}  // namespace

void parse_general(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "general");
  r.read("log_level", c.log_level);
  r.read("log_format", c.log_format);
  r.read("log_rate_limit_burst", c.log_rate_limit_burst, 0);
  r.read("log_rate_limit_interval_seconds", c.log_rate_limit_interval_seconds, 1);
  r.read("state_dir", c.state_dir);
  r.read("allow_core_dumps", c.allow_core_dumps);
  r.finish();
  if (!one_of(kLogLevels, c.log_level))
    r.fail(*t.get("log_level"), fmt::format("unknown log level '{}'", c.log_level));
  if (!one_of(kLogFormats, c.log_format))
    r.fail(*t.get("log_format"),
           fmt::format("unknown log format '{}' (auto, text, json, journal)", c.log_format));
  if (c.state_dir.empty()) r.fail(*t.get("state_dir"), "general.state_dir must not be empty");
}

void parse_metrics(const std::string& origin, const toml::table& t, MetricsConfig& m) {
  TomlReader r(origin, t, "metrics");
  r.read("listen", m.listen);
  r.read("ready_poll_timeout_seconds", m.ready_poll_timeout_seconds, 1);
  r.finish();
  std::string host;
  int port = 0;
  if (!m.listen.empty() && !split_host_port(m.listen, host, port))
    r.fail(*t.get("listen"),
           fmt::format("metrics.listen must be HOST:PORT (\"127.0.0.1:9731\", \"[::1]:9731\") or "
                       "\"\" to turn the endpoint off, not \"{}\"",
                       m.listen));
}

void parse_aws(const std::string& origin, const toml::table& t, AwsConfig& a) {
  TomlReader r(origin, t, "aws");
  r.read("region", a.region);
  r.read("profile", a.profile);
  r.read("role_arn", a.role_arn);
  r.read("external_id", a.external_id);
  r.read("role_session_name", a.role_session_name);
  r.read("endpoint_url", a.endpoint_url);
  r.read("sqs_endpoint_url", a.sqs_endpoint_url);
  r.read("s3_endpoint_url", a.s3_endpoint_url);
  r.read("sts_endpoint_url", a.sts_endpoint_url);
  r.read("use_fips_endpoint", a.use_fips_endpoint);
  r.read("use_dualstack_endpoint", a.use_dualstack_endpoint);
  r.read("ignore_configured_endpoint_urls", a.ignore_configured_endpoint_urls);
  r.read("ca_file", a.ca_file);
  r.finish();
  if (!a.region.empty() && !aws::is_valid_region(a.region))
    r.fail(*t.get("region"), fmt::format("aws.region \"{}\" is not an AWS region name like "
                                         "\"us-east-1\" (S3 and STS host names are built from it)",
                                         a.region));
}

void parse_sqs(const std::string& origin, const toml::table& t, SqsSourceConfig& q) {
  TomlReader r(origin, t, "source.sqs");
  r.read("queue_url", q.queue_url);
  r.read("max_messages", q.max_messages, 1);
  r.read("wait_time_seconds", q.wait_time_seconds, 0);
  r.read("visibility_timeout_seconds", q.visibility_timeout_seconds, 1);
  r.read("heartbeat_seconds", q.heartbeat_seconds, 0);
  r.read("max_in_flight_messages", q.max_in_flight_messages, 1);
  r.read("workers", q.workers, 0);
  r.read("allowed_buckets", q.allowed_buckets);
  r.read("key_prefixes", q.key_prefixes);
  r.read("include_digest", q.include_digest);
  r.read("include_insights", q.include_insights);
  r.read("expected_bucket_owner", q.expected_bucket_owner);
  r.read("inline_events", q.inline_events);
  r.read("inline_events_via_sns", q.inline_events_via_sns);
  r.read("inline_accounts", q.inline_accounts);
  r.read("inline_regions", q.inline_regions);
  r.read("shutdown_timeout_seconds", q.shutdown_timeout_seconds, 0);
  r.read("dedup_window", q.dedup_window, 1);
  r.finish();
  if (q.max_messages > 10) r.fail(*t.get("max_messages"), "source.sqs.max_messages must be 1 to 10");
  if (q.wait_time_seconds > 20)
    r.fail(*t.get("wait_time_seconds"), "source.sqs.wait_time_seconds must be 0 to 20");
  if (q.visibility_timeout_seconds > 43200)
    r.fail(*t.get("visibility_timeout_seconds"),
           "source.sqs.visibility_timeout_seconds must be at most 43200 (12 hours)");
  check_each(r, "allowed_buckets", aws::is_valid_bucket_name, "a valid S3 bucket name");
  check_each(r, "inline_accounts", aws::is_valid_account_id, "a 12-digit account id");
  check_each(r, "inline_regions", aws::is_valid_region, "an AWS region name like \"us-east-1\"");
  if (!q.expected_bucket_owner.empty() && !aws::is_valid_account_id(q.expected_bucket_owner))
    r.fail(*t.get("expected_bucket_owner"),
           "source.sqs.expected_bucket_owner must be a 12-digit account id");
  if (q.inline_events && q.inline_accounts.empty())
    r.fail(*t.get("inline_events"),
           "source.sqs.inline_events = true needs source.sqs.inline_accounts: the accounts "
           "whose EventBridge CloudTrail events may be matched without reading S3");
}

void parse_limits(const std::string& origin, const toml::table& t, DecodeLimits& l) {
  TomlReader r(origin, t, "limits");
  r.read("max_compressed_bytes", l.max_compressed_bytes, 1024);
  r.read("max_decompressed_bytes", l.max_decompressed_bytes, 1024);
  r.read("max_records_per_file", l.max_records_per_file, 1);
  r.read("max_record_bytes", l.max_record_bytes, 1024);
  r.read("max_depth", l.max_depth, 4);
  r.finish();
}

void parse_rules(const std::string& origin, const toml::table& t, Config::Rules& rules) {
  TomlReader r(origin, t, "rules");
  r.read("packs", rules.packs);
  r.read("files", rules.files);
  r.read("enable", rules.enable);
  r.read("disable", rules.disable);
  r.finish();
}

void parse_alerts(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "alerts");
  r.read("include_raw_data", c.include_raw_data);
  r.finish();
}

void parse_replay(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "replay");
  r.read("workers", c.replay_workers, 0);
  r.finish();
}

}  // namespace trailwarden
