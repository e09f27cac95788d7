// How `trailwarden run` builds the agent from its configuration (agent/cli/run.cpp is the
// outline): the checks before anything starts, the HTTP pools and AWS clients, the source the
// engine reads, the engine's options, the outputs' start and the metrics of the running agent.
// Each function throws std::runtime_error naming what is wrong (the configuration file, the
// state directory, the output) and does nothing else on failure. Start-up only: not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/alarms/alarm_stage.h"
#include "agent/alarms/state_dir_alarm_store.h"
#include "agent/aws/credentials.h"
#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/run_status.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/http/http_pool.h"
#include "agent/metrics/metrics.h"
#include "agent/metrics/status_server.h"
#include "agent/core/record_dead_letter.h"
#include "agent/sources/kafka/kafka_source.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/source.h"
#include "agent/sources/sqs/sqs_source.h"
#include "agent/sources/sqs_client.h"
#include "agent/store/dynamodb_alarm_store.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden::cli {

// Core dumps off before any secret is read, the configuration loaded (logging set up from it),
// [general] allow_core_dumps applied, its advisories logged, and the source `run` needs checked:
// exactly one of [source.sqs] queue_url (with allowed_buckets) and [source.kafka].
Config load_run_config(const Global& g);

// Regions and endpoints (aws_endpoints.h), their warnings logged.
AwsEndpoints plan_run_endpoints(const Config& c);

// [source.sqs] workers, or one per CPU.
size_t worker_count(const Config& c);

// Creates [general] state_dir if it is missing.
void ensure_state_dir(const Config& c);

// The HTTP connections: `control` for SQS (long poll, deletes, heartbeats), STS and metadata;
// `objects` for S3 reads, one per worker, bounded by [limits] max_compressed_bytes.
struct HttpPools {
  std::shared_ptr<http::HttpClientPool> control;
  std::shared_ptr<http::HttpClientPool> objects;
  // The integrity ledger's DynamoDB table (a call per log file from each worker, and the
  // tick's): its own connections, so that a slow table never holds up SQS's polls and deletes.
  std::shared_ptr<http::HttpClientPool> table;
};
HttpPools make_http_pools(const Config& c, size_t workers);

// The status server on [metrics] listen (null when it is not set), answering from `live`.
std::unique_ptr<StatusServer> start_status_server(const Config& c, LiveStatus& live);

// Waits for the AWS credentials (credential_wait.h), /readyz and systemd's STATUS= saying so.
// True when they are there; false when SIGTERM/SIGINT came first. Throws when they cannot
// be had (a permanent failure).
bool await_credentials(aws::CredentialsSource& credentials, const sigset_t& signals,
                       std::atomic<bool>& cancel, LiveStatus& live);
// Logs the identity the agent runs as (the first thing to check on an AccessDenied).
void log_identity(aws::CredentialsSource& credentials);

// The AWS clients the agent reads with (no SQS client with a Kafka source).
struct AwsClients {
  std::unique_ptr<SqsClient> sqs;
  std::unique_ptr<S3Client> s3;
};
AwsClients make_aws_clients(const Config& c, const AwsEndpoints& endpoints, const HttpPools& http,
                            std::shared_ptr<aws::CredentialsSource> credentials);

// True unless the agent can run without AWS credentials: a Kafka source without msk_iam.
bool run_needs_aws_credentials(const Config& c);

// The source the engine reads, as the configuration chooses it: the SQS queue of [source.sqs]
// (through `clients.sqs`, which must outlive it), or the Kafka topics of [source.kafka] (parsed
// here, consumer started; `region` and `credentials` for msk_iam). `view` points at the same
// object: the status server, systemd's STATUS= and the last log line read its counters
// (run_status.h).
struct RunSource {
  std::unique_ptr<RecordDeadLetterFile> kafka_bad_records;  // oversized Kafka messages
  std::unique_ptr<Source> source;
  RunSourceView view;
  size_t max_in_flight = 0;  // the source table's bound on units in work
};
RunSource make_source(const Config& c, AwsClients& clients, const std::string& region,
                      std::shared_ptr<aws::CredentialsSource> credentials);

// The engine as the source's table ([source.sqs] or [source.kafka]: max in flight, shutdown
// deadline), [limits] and the state directory configure it.
EngineOptions engine_options(const Config& c, size_t workers, const RunSource& source);

// Starts the outputs: the alerts a previous run left in the buffers go into the engine's
// de-duplication window before anything is delivered or received (kill -9 does not re-alert).
void start_outputs(DeliveryPipeline& outputs, Engine& engine);

// Every metric of the running agent (run_status.h) plus the S3 client's and the signing
// clock's (none when there is no S3 client: a Kafka source without AWS). Everything referenced
// must outlive `registry`.
void register_run_metrics(MetricsRegistry& registry, const Engine& engine,
                          const RunSourceView& source,
                          const DeliveryPipeline& outputs,
                          const aws::CredentialsSource& credentials, const S3Client* s3_client,
                          const StatusServer* status, int64_t started_ms);
void register_s3_metrics(MetricsRegistry& registry, const S3Client& s3);

// The engine's stage for `run` and `replay`: the alarm stage when any enabled rule counts for
// an alarm (Rule::counts_for_alarm), else null (the engine keeps PassThroughStage: no cost).
// `enabled` must outlive the stage. `replay`: state in memory (each run reads its input once).
std::unique_ptr<alarms::AlarmStage> make_alarm_stage(const std::vector<const rules::Rule*>& enabled);

// `run`: the alarm stage with its state in `<state_dir>/alarms.journal`
// (alarms/state_dir_alarm_store.h), restored; with `[alarms] store = "dynamodb"` also the
// DynamoDB table several agents share (store/dynamodb_alarm_store.h), its table checked at
// start-up (DescribeTable, DescribeTimeToLive). All null when no rule counts for an alarm.
// Throws std::runtime_error naming the file or the table when the state cannot be read.
struct RunAlarmStage {
  std::unique_ptr<alarms::StateDirAlarmStore> store;
  std::shared_ptr<store::DynamoDbAlarmStore> shared;
  std::unique_ptr<alarms::AlarmStage> stage;  // uses `store` and `shared`: destroyed first
};
// How long the shared store keeps a period item (its counts and unit digests): past the
// period's lateness and every evaluation range that reads it — a day, or the longest enabled
// alarm's lateness + (evaluation range + 1) periods + an hour.
std::chrono::seconds shared_alarm_retention(const std::vector<const rules::Rule*>& enabled);

// The client of the table in [alarms.dynamodb] (its region and endpoint resolved like every AWS
// endpoint), for the alarms' shared store and the integrity stage's shared ledger; `who` names
// the user in errors ("alarms.dynamodb", "integrity.store"). Throws std::runtime_error.
std::shared_ptr<store::DynamoDbClient> make_shared_table_client(
    const Config& c, const std::string& region, std::shared_ptr<http::HttpClient> http,
    std::shared_ptr<aws::CredentialsSource> credentials, const std::string& who);

RunAlarmStage make_run_alarm_stage(const Config& c, const std::vector<const rules::Rule*>& enabled,
                                   const std::string& region,
                                   std::shared_ptr<http::HttpClient> http,
                                   std::shared_ptr<aws::CredentialsSource> credentials);

}  // namespace trailwarden::cli
