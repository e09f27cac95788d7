#include "agent/config/sections.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <span>

#include "agent/aws/names.h"
#include "agent/aws/time_util.h"
#include "agent/http/http.h"

namespace trailwarden {

namespace {

// DynamoDB's TableName: 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'.
bool is_dynamodb_table_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

// clang-format off
constexpr ConfigKey<Config> kGeneral[] = {
    {.name = "log_level", .member = &Config::log_level},
    {.name = "log_format", .member = &Config::log_format},
    {.name = "log_rate_limit_burst", .member = &Config::log_rate_limit_burst},
    {.name = "log_rate_limit_interval_seconds", .member = &Config::log_rate_limit_interval_seconds, .min = 1},
    {.name = "state_dir", .member = &Config::state_dir},
    {.name = "allow_core_dumps", .member = &Config::allow_core_dumps},
};

constexpr ConfigKey<MetricsConfig> kMetrics[] = {
    {.name = "listen", .member = &MetricsConfig::listen},
    {.name = "ready_poll_timeout_seconds", .member = &MetricsConfig::ready_poll_timeout_seconds, .min = 1},
};

constexpr ConfigKey<AwsConfig> kAws[] = {
    {.name = "region", .member = &AwsConfig::region},
    {.name = "profile", .member = &AwsConfig::profile},
    {.name = "role_arn", .member = &AwsConfig::role_arn},
    {.name = "external_id", .member = &AwsConfig::external_id},
    {.name = "role_session_name", .member = &AwsConfig::role_session_name},
    {.name = "endpoint_url", .member = &AwsConfig::endpoint_url},
    {.name = "sqs_endpoint_url", .member = &AwsConfig::sqs_endpoint_url},
    {.name = "s3_endpoint_url", .member = &AwsConfig::s3_endpoint_url},
    {.name = "sts_endpoint_url", .member = &AwsConfig::sts_endpoint_url},
    {.name = "cloudtrail_endpoint_url", .member = &AwsConfig::cloudtrail_endpoint_url},
    {.name = "use_fips_endpoint", .member = &AwsConfig::use_fips_endpoint},
    {.name = "use_dualstack_endpoint", .member = &AwsConfig::use_dualstack_endpoint},
    {.name = "ignore_configured_endpoint_urls", .member = &AwsConfig::ignore_configured_endpoint_urls},
    {.name = "ca_file", .member = &AwsConfig::ca_file},
};

using Sqs = SqsSourceConfig;
constexpr ConfigKey<Sqs> kSqs[] = {
    {.name = "queue_url", .member = &Sqs::queue_url},
    {.name = "max_messages", .member = &Sqs::max_messages, .min = 1, .max = 10,
     .over_max = "must be 1 to 10"},
    {.name = "wait_time_seconds", .member = &Sqs::wait_time_seconds, .max = 20,
     .over_max = "must be 0 to 20"},
    {.name = "visibility_timeout_seconds", .member = &Sqs::visibility_timeout_seconds, .min = 1,
     .max = 43200, .over_max = "must be at most 43200 (12 hours)"},
    {.name = "heartbeat_seconds", .member = &Sqs::heartbeat_seconds},
    {.name = "max_in_flight_messages", .member = &Sqs::max_in_flight_messages, .min = 1},
    {.name = "workers", .member = &Sqs::workers},
    {.name = "allowed_buckets", .member = &Sqs::allowed_buckets,
     .valid = aws::is_valid_bucket_name, .what = "a valid S3 bucket name"},
    {.name = "key_prefixes", .member = &Sqs::key_prefixes},
    {.name = "include_digest", .member = &Sqs::include_digest},
    {.name = "include_insights", .member = &Sqs::include_insights},
    {.name = "expected_bucket_owner", .member = &Sqs::expected_bucket_owner,
     .valid = aws::is_valid_account_id, .what = "a 12-digit account id"},
    {.name = "inline_events", .member = &Sqs::inline_events},
    {.name = "inline_events_via_sns", .member = &Sqs::inline_events_via_sns},
    {.name = "inline_accounts", .member = &Sqs::inline_accounts,
     .valid = aws::is_valid_account_id, .what = "a 12-digit account id"},
    {.name = "inline_regions", .member = &Sqs::inline_regions,
     .valid = aws::is_valid_region, .what = "an AWS region name like \"us-east-1\""},
    {.name = "shutdown_timeout_seconds", .member = &Sqs::shutdown_timeout_seconds},
    {.name = "dedup_window", .member = &Sqs::dedup_window, .min = 1},
};

constexpr ConfigKey<DecodeLimits> kLimits[] = {
    {.name = "max_compressed_bytes", .member = &DecodeLimits::max_compressed_bytes, .min = 1024},
    {.name = "max_decompressed_bytes", .member = &DecodeLimits::max_decompressed_bytes, .min = 1024},
    {.name = "max_records_per_file", .member = &DecodeLimits::max_records_per_file, .min = 1},
    {.name = "max_record_bytes", .member = &DecodeLimits::max_record_bytes, .min = 1024},
    {.name = "max_depth", .member = &DecodeLimits::max_depth, .min = 4},
};

constexpr ConfigKey<Config::Rules> kRules[] = {
    {.name = "packs", .member = &Config::Rules::packs},
    {.name = "files", .member = &Config::Rules::files},
    {.name = "enable", .member = &Config::Rules::enable},
    {.name = "disable", .member = &Config::Rules::disable},
};

constexpr ConfigKey<AlarmsConfig> kAlarms[] = {
    {.name = "enable", .member = &AlarmsConfig::enable},
    {.name = "disable", .member = &AlarmsConfig::disable},
    {.name = "store", .member = &AlarmsConfig::store},
};

using DynamoDb = DynamoDbStoreConfig;
constexpr ConfigKey<DynamoDb> kAlarmsDynamoDb[] = {
    {.name = "table", .member = &DynamoDb::table, .valid = is_dynamodb_table_name,
     .what = "a DynamoDB table name: 3 to 255 letters, digits, '_', '-' and '.'"},
    {.name = "region", .member = &DynamoDb::region,
     .valid = aws::is_valid_region, .what = "an AWS region name like \"us-east-1\""},
    {.name = "endpoint", .member = &DynamoDb::endpoint},
};

using Integrity = IntegrityConfig;
constexpr ConfigKey<Integrity> kIntegrity[] = {
    {.name = "enabled", .member = &Integrity::enabled},
    {.name = "digest_grace", .member = &Integrity::digest_grace},
    {.name = "backfill_delay", .member = &Integrity::backfill_delay},
    {.name = "retention", .member = &Integrity::retention},
    {.name = "max_entries", .member = &Integrity::max_entries, .min = 1},
    {.name = "backfill_attempts", .member = &Integrity::backfill_attempts, .min = 1, .max = 100,
     .over_max = "must be 1 to 100"},
    {.name = "backfill_retry_after", .member = &Integrity::backfill_retry_after},
    {.name = "backfill_max_pending", .member = &Integrity::backfill_max_pending, .min = 1},
    {.name = "since", .member = &Integrity::since},
    {.name = "store", .member = &Integrity::store},
};

constexpr ConfigKey<Config> kAlerts[] = {
    {.name = "include_raw_data", .member = &Config::include_raw_data},
};

constexpr ConfigKey<Config> kReplay[] = {
    {.name = "workers", .member = &Config::replay_workers},
};
// clang-format on

constexpr std::array<std::string_view, 6> kLogLevels = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};
constexpr std::array<std::string_view, 4> kLogFormats = {"auto", "text", "json", "journal"};
constexpr std::array<std::string_view, 2> kStores = {"state", "dynamodb"};

bool one_of(std::span<const std::string_view> names, const std::string& value) {
  return std::find(names.begin(), names.end(), value) != names.end();
}

}  // namespace

ConfigKeys<Config> general_keys() { return kGeneral; }
ConfigKeys<MetricsConfig> metrics_keys() { return kMetrics; }
ConfigKeys<AwsConfig> aws_keys() { return kAws; }
ConfigKeys<SqsSourceConfig> sqs_keys() { return kSqs; }
ConfigKeys<DecodeLimits> limits_keys() { return kLimits; }
ConfigKeys<Config::Rules> rules_keys() { return kRules; }
ConfigKeys<AlarmsConfig> alarms_keys() { return kAlarms; }
ConfigKeys<DynamoDbStoreConfig> alarms_dynamodb_keys() { return kAlarmsDynamoDb; }
ConfigKeys<IntegrityConfig> integrity_keys() { return kIntegrity; }
ConfigKeys<Config> alerts_keys() { return kAlerts; }
ConfigKeys<Config> replay_keys() { return kReplay; }

void parse_general(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "general");
  parse_keys(r, general_keys(), c);
  if (!one_of(kLogLevels, c.log_level))
    r.fail(*t.get("log_level"), fmt::format("unknown log level '{}'", c.log_level));
  if (!one_of(kLogFormats, c.log_format))
    r.fail(*t.get("log_format"),
           fmt::format("unknown log format '{}' (auto, text, json, journal)", c.log_format));
  if (c.state_dir.empty()) r.fail(*t.get("state_dir"), "general.state_dir must not be empty");
}

void parse_metrics(const std::string& origin, const toml::table& t, MetricsConfig& m) {
  TomlReader r(origin, t, "metrics");
  parse_keys(r, metrics_keys(), m);
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
  parse_keys(r, aws_keys(), a);
  if (!a.region.empty() && !aws::is_valid_region(a.region))
    r.fail(*t.get("region"), fmt::format("aws.region \"{}\" is not an AWS region name like "
                                         "\"us-east-1\" (S3 and STS host names are built from it)",
                                         a.region));
}

void parse_sqs(const std::string& origin, const toml::table& t, SqsSourceConfig& q) {
  TomlReader r(origin, t, "source.sqs");
  parse_keys(r, sqs_keys(), q);
  if (q.inline_events && q.inline_accounts.empty())
    r.fail(*t.get("inline_events"),
           "source.sqs.inline_events = true needs source.sqs.inline_accounts: the accounts "
           "whose EventBridge CloudTrail events may be matched without reading S3");
}

void parse_limits(const std::string& origin, const toml::table& t, DecodeLimits& l) {
  TomlReader r(origin, t, "limits");
  parse_keys(r, limits_keys(), l);
}

void parse_rules(const std::string& origin, const toml::table& t, Config::Rules& rules) {
  TomlReader r(origin, t, "rules");
  parse_keys(r, rules_keys(), rules);
}

void parse_alarms(const std::string& origin, const toml::table& t, AlarmsConfig& a) {
  TomlReader r(origin, t, "alarms");
  if (const toml::node* n = r.get("dynamodb")) {
    const toml::table* dt = n->as_table();
    if (!dt) r.fail(*n, "[alarms.dynamodb] must be a table");
    TomlReader d(origin, *dt, "alarms.dynamodb");
    parse_keys(d, alarms_dynamodb_keys(), a.dynamodb);
    if (!a.dynamodb.endpoint.empty()) {
      http::HttpRequest request;
      std::string error;
      if (!http::parse_endpoint_url(a.dynamodb.endpoint, request, error))
        d.fail(*dt->get("endpoint"),
               fmt::format("alarms.dynamodb.endpoint must be an endpoint URL such as "
                           "\"https://dynamodb.eu-west-1.amazonaws.com\": {}",
                           error));
    }
  }
  parse_keys(r, alarms_keys(), a);
  if (!one_of(kStores, a.store))
    r.fail(*t.get("store"),
           fmt::format("unknown alarms.store \"{}\" (\"state\": the state directory, or "
                       "\"dynamodb\": a table several agents share)",
                       a.store));
  if (a.store == "dynamodb" && a.dynamodb.table.empty())
    r.fail(*t.get("store"), "alarms.store = \"dynamodb\" needs [alarms.dynamodb] table: the "
                            "table that holds the alarms' state (docs/alarms.md, \"The DynamoDB "
                            "store\")");
}

void parse_integrity(const std::string& origin, const toml::table& t, IntegrityConfig& i,
                     const AlarmsConfig& alarms) {
  TomlReader r(origin, t, "integrity");
  parse_keys(r, integrity_keys(), i);
  // The node to blame: the first of `keys` written, else the section itself (the values that
  // break a rule may all be defaults but one).
  const auto at = [&](std::initializer_list<std::string_view> keys) -> const toml::node& {
    for (std::string_view k : keys)
      if (const toml::node* n = t.get(k)) return *n;
    return t;
  };
  if (!one_of(kStores, i.store))
    r.fail(at({"store"}),
           fmt::format("unknown integrity.store \"{}\" (\"state\": the state directory, one agent "
                       "per queue, or \"dynamodb\": shared by the agents on one queue in the "
                       "table of [alarms.dynamodb])",
                       i.store));
  else if (i.store == "dynamodb" && alarms.dynamodb.table.empty())
    r.fail(at({"store"}), "integrity.store = \"dynamodb\" needs [alarms.dynamodb] table: the "
                          "table the agents on one queue share (docs/integrity.md, \"Several "
                          "agents on one queue\")");
  if (aws::TimePoint tp; !i.since.empty() && !aws::parse_iso8601(i.since, tp))
    r.fail(at({"since"}), "integrity.since must be \"\" or a UTC time like "
                          "\"2026-01-01T00:00:00Z\"");
  if (i.backfill_retry_after.count() <= 0)
    r.fail(at({"backfill_retry_after"}),
           "integrity.backfill_retry_after must be more than 0 (the wait before a backfilled log "
           "file that could not be read is tried again)");
  const ConfigDuration floor = i.digest_grace + i.backfill_delay + std::chrono::hours(1);
  if (i.retention <= floor)
    r.fail(at({"retention", "digest_grace", "backfill_delay"}),
           fmt::format("integrity.retention ({}) must be more than digest_grace + backfill_delay "
                       "+ 1h ({} + {} + 1h = {}): state is kept at least until a digest's log "
                       "files are backfilled and its chain's next digest is late",
                       format_duration(i.retention), format_duration(i.digest_grace),
                       format_duration(i.backfill_delay), format_duration(floor)));
}

void parse_alerts(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "alerts");
  parse_keys(r, alerts_keys(), c);
}

void parse_replay(const std::string& origin, const toml::table& t, Config& c) {
  TomlReader r(origin, t, "replay");
  parse_keys(r, replay_keys(), c);
}

}  // namespace trailwarden
