// Config: the agent's configuration, loaded from TOML (conf/trailwarden.toml documents every
// key). Loading happens once at start-up and reports errors by throwing std::runtime_error with
// "file:line:column: message"; the resulting value is immutable and shared read-only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config/duration.h"
#include "agent/config/interpolate.h"
#include "agent/config/output_table.h"
#include "agent/decode/limits.h"

namespace trailwarden {


struct AwsConfig {
  std::string region;             // "": AWS_REGION, AWS_DEFAULT_REGION, then the queue URL
  std::string profile;            // "": AWS_PROFILE, then "default"
  std::string role_arn;           // assumed with STS on top of the credential chain
  std::string external_id;
  std::string role_session_name;
  std::string endpoint_url;       // every service (emulators, VPC endpoints)
  std::string sqs_endpoint_url;   // per service; wins over endpoint_url
  std::string s3_endpoint_url;
  std::string sts_endpoint_url;
  std::string cloudtrail_endpoint_url;  // ListPublicKeys (digest validation), every region
  bool use_fips_endpoint = false;       // or AWS_USE_FIPS_ENDPOINT=true (agent/aws/endpoints.h)
  bool use_dualstack_endpoint = false;  // or AWS_USE_DUALSTACK_ENDPOINT=true
  // or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true: the *endpoint_url keys and variables are ignored
  bool ignore_configured_endpoint_urls = false;
  std::string ca_file;            // extra CA bundle for TLS verification
};

struct SqsSourceConfig {
  std::string queue_url;
  size_t max_messages = 10;
  size_t wait_time_seconds = 20;
  size_t visibility_timeout_seconds = 300;
  size_t heartbeat_seconds = 0;  // 0: a third of the visibility timeout
  size_t max_in_flight_messages = 32;
  size_t workers = 0;            // 0: one per CPU core
  std::vector<std::string> allowed_buckets;
  std::vector<std::string> key_prefixes;
  bool include_digest = false;
  bool include_insights = false;
  std::string expected_bucket_owner;
  // EventBridge CloudTrail events matched without reading S3 (docs/aws.md): off by default;
  // when on, only AWS service sources of these accounts (and regions, if any are named).
  bool inline_events = false;
  bool inline_events_via_sns = false;  // also when relayed by an SNS topic
  std::vector<std::string> inline_accounts;
  std::vector<std::string> inline_regions;
  size_t shutdown_timeout_seconds = 20;
  size_t dedup_window = 200000;
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9731";  // host:port of /metrics, /healthz, /readyz; "": off
  // /readyz fails when no SQS poll succeeded for this long (a stuck or unreachable queue).
  size_t ready_poll_timeout_seconds = 120;
};

// [alarms.dynamodb]: the DynamoDB table several agents share for alarm state (docs/alarms.md,
// "The DynamoDB store").
struct DynamoDbStoreConfig {
  std::string table;     // required when [alarms] store = "dynamodb"
  std::string region;    // "": the agent's region ([aws] region, AWS_REGION, ...)
  std::string endpoint;  // "": resolved like every AWS endpoint ([aws] endpoint_url, ...)
};

// [alarms]: which rules' alarms run, and where their state is kept.
struct AlarmsConfig {
  // Rule ids or globs whose alarm to switch on / off, after the packs' and rule files' defaults
  // and after [rules] enable/disable; each must match a rule with an alarm.
  std::vector<std::string> enable;
  std::vector<std::string> disable;
  std::string store = "state";  // "state" (general.state_dir) or "dynamodb"
  DynamoDbStoreConfig dynamodb;
};

// [integrity]: `run` checks CloudTrail digest files as they arrive and reads the log files a
// digest lists that no notification brought (docs/integrity.md, "In run"). Durations in
// milliseconds (agent/config/duration.h). parse_integrity checks the bounds stated here.
struct IntegrityConfig {
  bool enabled = false;
  // A chain is late ("digest delivery stopped") when no digest came for an hour plus this.
  ConfigDuration digest_grace = std::chrono::hours(1);
  // A log file a valid digest lists and the agent has not read by then is backfilled.
  ConfigDuration backfill_delay = std::chrono::minutes(15);
  // State older than this is dropped; more than digest_grace + backfill_delay + 1 h, so that a
  // digest's log files and the chain's last digest are still known when they are needed.
  ConfigDuration retention = std::chrono::hours(6);
  size_t max_entries = 1'000'000;  // log files remembered (read, or listed and expected), >= 1
  size_t backfill_attempts = 3;    // tries of one backfilled log file (1 to 100)
  ConfigDuration backfill_retry_after = std::chrono::minutes(5);  // between tries, > 0
  size_t backfill_max_pending = 100'000;  // backfilled files queued or in flight, >= 1
  // "" or an ISO 8601 UTC time: log files listed by digests whose hour began before it, and not
  // read by this agent, are neither backfilled nor reported. "": when the agent started (an
  // earlier run may have read them; the ledger is in memory).
  std::string since;
  // Where the ledger is kept: "state" (the state directory: one agent per queue) or "dynamodb"
  // (shared by the agents on one queue, in the table of [alarms.dynamodb]).
  std::string store = "state";
};

struct Config {
  std::string source = "builtin:trailwarden.toml";  // where it was loaded from
  std::string log_level = "info";
  std::string log_format = "auto";  // text | json | journal | auto
  size_t log_rate_limit_burst = 10;  // identical messages per interval (0: unlimited)
  size_t log_rate_limit_interval_seconds = 60;
  std::string state_dir = "/var/lib/trailwarden";
  bool allow_core_dumps = false;  // `run`: stay dumpable (core files, ptrace by the same user)
  MetricsConfig metrics;
  AwsConfig aws;
  SqsSourceConfig sqs;
  DecodeLimits limits;
  struct Rules {
    std::vector<std::string> packs = {"cis-aws-foundations"};  // built-in packs to load
    std::vector<std::string> files;    // extra rule files (globs allowed)
    std::vector<std::string> enable = {"cis-4.9"};  // selectors
    std::vector<std::string> disable;  // selectors
  } rules;
  AlarmsConfig alarms;
  IntegrityConfig integrity;
  bool include_raw_data = true;
  size_t replay_workers = 0;  // 0: one per CPU core
  // [[outputs]] as written: each output parses its own table (outputs/settings.h), which the
  // loading command does right after parse_config (agent/cli/cli_util.h).
  std::vector<OutputTable> outputs;
  // [source.kafka] as written, sharing the document: the Kafka source parses its own keys
  // (agent/sources/kafka/kafka_source_config.h) when `run` builds it; null when absent.
  std::shared_ptr<const toml::table> kafka_source;
  // Secret values found while loading (from ${VAR} with a secret-looking name, or under a
  // secret-looking key): masked in logs and redacted by render_effective_config().
  std::vector<std::string> secrets;
};

// Parses a configuration document; `origin` names it in messages. ${VAR} references are
// resolved from `env` (default: the process environment; see interpolate.h).
Config parse_config(std::string_view content, const std::string& origin,
                    const EnvLookup& env = process_env());
// Reads and parses a configuration file.
Config load_config_file(const std::string& path);
// The built-in default configuration (conf/trailwarden.toml compiled into the binary).
Config default_config();

// Settings that are valid but very likely not what was meant, one sentence each (empty: none).
// check-config prints them as warnings and `run` logs them at WARN when it starts.
std::vector<std::string> config_advisories(const Config& config);

// Facts the configuration implies without saying them, one sentence each (empty: none):
// check-config prints them as INFO, `run` logs them at INFO when it starts. Today: digests read
// because [integrity] needs them although source.sqs.include_digest is false.
std::vector<std::string> config_notes(const Config& config);

// Whether `run` reads CloudTrail-Digest/ objects named by notifications: when
// [source.sqs] include_digest says so, and always when [integrity] is enabled (it checks them,
// whatever include_digest says). The SQS source's filter takes this value, not include_digest.
bool reads_digests(const Config& config);

// Whether a notification for a digest key can pass [source.sqs] key_prefixes: [] passes every
// key; a prefix passes digests unless it already names another CloudTrail folder
// ("AWSLogs/111122223333/CloudTrail/", ".../CloudTrail-Insight/").
bool key_prefixes_admit_digests(const std::vector<std::string>& key_prefixes);

// Splits "host:port" or "[v6-address]:port"; false if malformed or the port is over 65535
// (0 asks the system for a free port).
bool split_host_port(std::string_view text, std::string& host, int& port);

// Replaces every secret value of the configuration found in `text` with "[redacted]": for
// error messages that quote a value.
void scrub_secrets(std::string& text, const std::vector<std::string>& secrets);

class TomlEmitter;
// Prints one [[outputs]] table (its header included) into the effective configuration.
using OutputRenderer = std::function<void(const OutputTable&, TomlEmitter&)>;

// The effective configuration as TOML: every key of the agent's own sections with its value
// (defaults included), then each output's table through `render_output` (the outputs' own
// renderer resolves their keys: outputs/effective_config.h); without one, the tables as written.
// Values of secret-looking keys and values holding a secret are printed as "<redacted>".
std::string render_effective_config(const Config& config, const OutputRenderer& render_output);

}  // namespace trailwarden
