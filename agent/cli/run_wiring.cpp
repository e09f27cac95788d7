#include "agent/cli/run_wiring.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <systemd/sd-daemon.h>

#include "agent/aws/signing_clock.h"
#include "agent/cli/core_dumps.h"
#include "agent/cli/credential_wait.h"
#include "agent/cli/signals.h"
#include "agent/http/curl_http_client.h"
#include "agent/kafka/client_config.h"
#include "agent/sources/kafka/kafka_source_config.h"

namespace trailwarden::cli {

namespace {

// `run` needs a queue and the buckets it may read; throws naming the configuration file.
void require_sqs_source(const Config& c) {
  if (c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format("{}: source.sqs.queue_url is not set", c.source));
  if (c.sqs.allowed_buckets.empty())
    throw std::runtime_error(fmt::format(
        "{}: source.sqs.allowed_buckets is empty: name the buckets trailwarden may read", c.source));
}

}  // namespace

Config load_run_config(const Global& g) {
  // Non-dumpable before any secret is read (configuration, environment, credentials); the
  // operator may opt back in with [general] allow_core_dumps.
  std::string dump_error;
  if (!set_core_dumps_allowed(false, dump_error))
    spdlog::warn("cannot turn core dumps off: {}; a core file would hold credentials", dump_error);
  Config c = load_config(g);
  if (c.allow_core_dumps) {
    if (set_core_dumps_allowed(true, dump_error))
      spdlog::warn("general.allow_core_dumps = true: a core file or a debugger can read the "
                   "credentials in memory; protect them");
    else
      spdlog::warn("general.allow_core_dumps: {}", dump_error);
  }
  for (const std::string& advice : config_advisories(c)) spdlog::warn("{}: {}", c.source, advice);
  for (const std::string& note : config_notes(c)) spdlog::info("{}: {}", c.source, note);
  if (c.kafka_source && !c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format(
        "{}: both source.sqs.queue_url and [source.kafka] are set: `run` reads one source; "
        "remove one of them",
        c.source));
  if (!c.kafka_source) require_sqs_source(c);
  return c;
}

namespace {

// [aws] region, AWS_REGION or AWS_DEFAULT_REGION is set (the queue URL's region aside).
bool region_configured(const Config& c, const aws::Environment& env) {
  if (!c.aws.region.empty()) return true;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto it = env.find(std::string_view(var)); it != env.end() && !it->second.empty())
      return true;
  return false;
}

}  // namespace

AwsEndpoints plan_run_endpoints(const Config& c) {
  // SQS signs with its queue URL's region.
  AwsEndpoints endpoints;
  std::string error;
  const aws::Environment env = aws::process_environment();
  if (c.kafka_source && !region_configured(c, env)) {
    // A Kafka source reads nothing from AWS: no region, no S3 client (a Kafka output with
    // msk_iam says itself that it needs one).
    if (run_needs_aws_credentials(c))
      throw std::runtime_error(fmt::format(
          "{}: source.kafka.msk_iam needs the AWS region of the cluster ([aws] region or "
          "AWS_REGION)",
          c.source));
    spdlog::info("no AWS region configured: the Kafka source runs without AWS clients");
    return endpoints;
  }
  if (!plan_aws_endpoints(c, env, endpoints, error)) throw std::runtime_error(error);
  for (const std::string& warning : endpoints.warnings) spdlog::warn("{}", warning);
  return endpoints;
}

size_t worker_count(const Config& c) {
  return c.sqs.workers ? c.sqs.workers : std::max(1u, std::thread::hardware_concurrency());
}

void ensure_state_dir(const Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("general.state_dir {}: {}", c.state_dir, ec.message()));
}

HttpPools make_http_pools(const Config& c, size_t workers) {
  http::CurlHttpOptions small;
  small.ca_file = c.aws.ca_file;
  http::CurlHttpOptions large = small;
  large.max_response_bytes = c.limits.max_compressed_bytes + 1;
  // S3 sending under 1 KiB/s for 20 s is broken, not slow: give the worker back.
  large.low_speed_bytes = 1024;
  large.low_speed_time = std::chrono::seconds(20);
  auto pool = [](http::CurlHttpOptions o, size_t max) {
    return std::make_shared<http::HttpClientPool>(
        [o] { return std::make_unique<http::CurlHttpClient>(o); }, max);
  };
  return {pool(small, 4), pool(large, workers), pool(small, workers + 1)};
}

std::unique_ptr<StatusServer> start_status_server(const Config& c, LiveStatus& live) {
  if (c.metrics.listen.empty()) return nullptr;
  auto status = std::make_unique<StatusServer>(StatusServer::Handlers{
      [&live] { return live.metrics(); }, [&live] { return live.health(); },
      [&live] { return live.ready(); }});
  std::string error;
  if (!status->start(c.metrics.listen, error)) throw std::runtime_error(error);
  spdlog::info("metrics and health checks on http://{}:{}/metrics (/healthz, /readyz)",
               c.metrics.listen.substr(0, c.metrics.listen.rfind(':')), status->port());
  return status;
}

bool await_credentials(aws::CredentialsSource& credentials, const sigset_t& signals,
                       std::atomic<bool>& cancel, LiveStatus& live) {
  std::string error;
  StartupSignals startup_signals(signals, cancel);
  CredentialWaitResult waited = wait_for_credentials(
      credentials, CredentialWaitOptions{},
      [&live](const std::string& why) {
        live.set_waiting("waiting for AWS credentials: " + why);
        sd_notifyf(0, "STATUS=waiting for AWS credentials: %s", why.c_str());
      },
      [&startup_signals](std::chrono::milliseconds d) { return startup_signals.pause(d); },
      error);
  startup_signals.finish();
  if (startup_signals.stopped()) waited = CredentialWaitResult::kStopped;
  switch (waited) {
    case CredentialWaitResult::kReady:
      live.set_waiting("starting");
      return true;
    case CredentialWaitResult::kInvalid:
      throw std::runtime_error(error);
    case CredentialWaitResult::kStopped:
      break;
  }
  return false;
}

void log_identity(aws::CredentialsSource& credentials) {
  aws::Credentials current;
  std::string error;
  if (credentials.get(current, error)) spdlog::info("AWS credentials: {}", aws::describe(current));
}

AwsClients make_aws_clients(const Config& c, const AwsEndpoints& endpoints, const HttpPools& http,
                            std::shared_ptr<aws::CredentialsSource> credentials) {
  SqsClientOptions sqs_options;
  sqs_options.queue_url = c.sqs.queue_url;
  sqs_options.region = endpoints.sqs_region;
  sqs_options.endpoint_url = endpoints.sqs_endpoint_url;
  S3ClientOptions s3_options;
  s3_options.region = endpoints.s3_region;
  s3_options.endpoint_url = endpoints.s3.url;
  s3_options.variant = endpoints.s3.variant;
  s3_options.expected_bucket_owner = c.sqs.expected_bucket_owner;
  AwsClients clients;
  if (!c.kafka_source)  // the queue of [source.sqs]; a Kafka source reads no queue
    clients.sqs = std::make_unique<SqsClient>(sqs_options, http.control, credentials);
  if (!endpoints.region.empty())  // empty: a Kafka source without AWS (plan_run_endpoints)
    clients.s3 = std::make_unique<S3Client>(s3_options, http.objects, credentials);
  return clients;
}

bool run_needs_aws_credentials(const Config& c) {
  if (!c.kafka_source || c.alarms.store == "dynamodb") return true;
  const toml::node* msk = c.kafka_source->get("msk_iam");
  return msk && msk->value<bool>().value_or(false);
}

RunSource make_source(const Config& c, AwsClients& clients, const std::string& region,
                      std::shared_ptr<aws::CredentialsSource> credentials) {
  RunSource made;
  if (!c.kafka_source) {
    // [integrity] reads digests whatever include_digest says (config_notes says so).
    SqsSourceConfig sqs_config = c.sqs;
    sqs_config.include_digest = reads_digests(c);
    auto sqs = std::make_unique<SqsSource>(sqs_config, *clients.sqs);
    made.view.sqs = sqs.get();
    made.view.shutdown_timeout_seconds = c.sqs.shutdown_timeout_seconds;
    made.max_in_flight = c.sqs.max_in_flight_messages;
    made.source = std::move(sqs);
    return made;
  }
  kafka::KafkaSourceConfig kc =
      kafka::parse_kafka_source_config(*c.kafka_source, c.source, region, process_secret_sources());
  made.view.shutdown_timeout_seconds = kc.shutdown_timeout_seconds;
  made.max_in_flight = kc.max_in_flight;
  made.kafka_bad_records = std::make_unique<RecordDeadLetterFile>(
      (std::filesystem::path(c.state_dir) / "bad-records.ndjson").string(),
      DeliveryOptions{}.bad_records_max_bytes);  // the same bound as the engine's writer
  kafka::KafkaSource::Options options;
  options.dead_letters = made.kafka_bad_records.get();
  options.credentials = std::move(credentials);
  auto source = std::make_unique<kafka::KafkaSource>(std::move(kc), std::move(options));
  std::string error;
  if (!source->start(error)) throw std::runtime_error(fmt::format("{}: [source.kafka]: {}", c.source, error));
  made.view.kafka = source.get();
  made.source = std::move(source);
  return made;
}

EngineOptions engine_options(const Config& c, size_t workers, const RunSource& source) {
  EngineOptions options;
  options.workers = workers;
  options.max_in_flight = source.max_in_flight;
  options.shutdown_deadline = std::chrono::seconds(source.view.shutdown_timeout_seconds);
  options.fetch.max_object_bytes = c.limits.max_compressed_bytes;
  options.limits = c.limits;
  options.ocsf.include_raw_data = c.include_raw_data;
  options.delivery.dedup_path = (std::filesystem::path(c.state_dir) / "dedup.log").string();
  options.delivery.bad_records_path =
      (std::filesystem::path(c.state_dir) / "bad-records.ndjson").string();
  options.delivery.dedup_capacity = c.sqs.dedup_window;
  return options;
}

void start_outputs(DeliveryPipeline& outputs, Engine& engine) {
  std::string error;
  if (!outputs.start(error, [&engine](const std::vector<std::string>& uids, std::string& e) {
        return engine.remember_buffered(uids, e);
      }))
    throw std::runtime_error(error);
}

void register_run_metrics(MetricsRegistry& registry, const Engine& engine,
                          const RunSourceView& source,
                          const DeliveryPipeline& outputs,
                          const aws::CredentialsSource& credentials, const S3Client* s3_client,
                          const StatusServer* status, int64_t started_ms) {
  register_metrics(registry, engine, source, outputs, credentials, started_ms);
  if (s3_client) register_s3_metrics(registry, *s3_client);
  if (status) register_status_metrics(registry, status->stats());
}

void register_s3_metrics(MetricsRegistry& registry, const S3Client& s3) {
  registry.add([&s3](PrometheusWriter& w) {
    w.counter("trailwarden_s3_version_fallbacks_total",
              "Objects read without their notified versionId because S3 denied the versioned "
              "read (grant s3:GetObjectVersion).",
              s3.stats().version_fallbacks.load());
    w.counter("trailwarden_s3_version_mismatches_total",
              "Objects read without versionId whose current version is not the notified one "
              "(the key was overwritten).",
              s3.stats().version_mismatches.load());
    w.gauge("trailwarden_aws_clock_skew_seconds",
            "AWS's time minus the system clock, learned from clock-skew errors; requests are "
            "signed with the system clock plus this (0: no correction).",
            std::chrono::duration<double>(aws::SigningClock::global().offset()).count());
  });
}

std::unique_ptr<alarms::AlarmStage> make_alarm_stage(const std::vector<const rules::Rule*>& enabled) {
  if (!alarms::AlarmStage::needed(enabled)) return nullptr;
  size_t n = 0;
  for (const rules::Rule* r : enabled) n += r->counts_for_alarm() ? 1 : 0;
  spdlog::info("alarms: {} rules count for an alarm (state in memory)", n);
  return std::make_unique<alarms::AlarmStage>(enabled);
}

std::chrono::seconds shared_alarm_retention(const std::vector<const rules::Rule*>& enabled) {
  int64_t longest = 24 * 3600;
  for (const rules::Rule* r : enabled) {
    if (!r->counts_for_alarm()) continue;
    const alarms::AlarmSpec& a = r->metric_alarm->alarm;
    longest = std::max<int64_t>(
        longest, a.lateness_seconds + a.period_seconds * (a.evaluation_range() + 1) + 3600);
  }
  return std::chrono::seconds(longest);
}

std::shared_ptr<store::DynamoDbClient> make_shared_table_client(
    const Config& c, const std::string& region, std::shared_ptr<http::HttpClient> http,
    std::shared_ptr<aws::CredentialsSource> credentials, const std::string& who) {
  const DynamoDbStoreConfig& d = c.alarms.dynamodb;
  store::DynamoDbClientOptions co;
  const std::string table_region = d.region.empty() ? region : d.region;
  if (!d.endpoint.empty()) {
    co.endpoint_url = d.endpoint;
    co.region = table_region;
    if (co.region.empty())
      throw std::runtime_error(fmt::format(
          "{}: {} needs the table's region ([alarms.dynamodb] region, [aws] region or "
          "AWS_REGION)",
          c.source, who));
  } else {
    std::string error;
    if (!store::resolve_dynamodb_endpoint(table_region, endpoint_config(c),
                                          aws::process_environment(), co, error))
      throw std::runtime_error(fmt::format("{}: {}: {}", c.source, who, error));
  }
  return std::make_shared<store::DynamoDbClient>(co, std::move(http), std::move(credentials));
}

namespace {

// The DynamoDB store of `[alarms] store = "dynamodb"`, its table checked.
std::shared_ptr<store::DynamoDbAlarmStore> make_shared_alarm_store(
    const Config& c, const std::vector<const rules::Rule*>& enabled, const std::string& region,
    std::shared_ptr<http::HttpClient> http, std::shared_ptr<aws::CredentialsSource> credentials) {
  const DynamoDbStoreConfig& d = c.alarms.dynamodb;
  auto client = make_shared_table_client(c, region, std::move(http), std::move(credentials),
                                         "alarms.dynamodb");
  store::DynamoDbAlarmStoreOptions so;
  so.table = d.table;
  so.retention = shared_alarm_retention(enabled);
  // The state item outlives quiet years: its expiry would make the next evaluation a
  // transition from INSUFFICIENT_DATA, notified again.
  so.state_retention = std::chrono::hours(24 * 400);
  auto shared = std::make_shared<store::DynamoDbAlarmStore>(so, client);
  // The table is checked before anything is read from the queue: a missing table or a wrong
  // key schema is a start-up error, not a stream of failed units.
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> warnings;
    store::StoreStatus st = shared->check_table(warnings);
    for (const std::string& w : warnings) spdlog::warn("{}", w);
    if (st.ok) break;
    if (!st.retryable || attempt >= 10) throw std::runtime_error(st.message);
    spdlog::warn("{}; checking again in {} s", st.message, attempt);
    std::this_thread::sleep_for(std::chrono::seconds(attempt));
  }
  spdlog::info("alarms: shared state in DynamoDB table {} (region {}, endpoint {})", d.table,
               client->options().region, client->options().endpoint_url);
  return shared;
}

}  // namespace

RunAlarmStage make_run_alarm_stage(const Config& c, const std::vector<const rules::Rule*>& enabled,
                                   const std::string& region,
                                   std::shared_ptr<http::HttpClient> http,
                                   std::shared_ptr<aws::CredentialsSource> credentials) {
  RunAlarmStage out;
  if (!alarms::AlarmStage::needed(enabled)) return out;
  size_t n = 0;
  for (const rules::Rule* r : enabled) n += r->counts_for_alarm() ? 1 : 0;
  ensure_state_dir(c);
  if (c.alarms.store == "dynamodb")
    out.shared =
        make_shared_alarm_store(c, enabled, region, std::move(http), std::move(credentials));
  out.store = std::make_unique<alarms::StateDirAlarmStore>(
      (std::filesystem::path(c.state_dir) / "alarms.journal").string());
  std::string error;
  if (!out.store->open(error)) throw std::runtime_error(error);
  out.stage = std::make_unique<alarms::AlarmStage>(enabled, alarms::AlarmStageOptions{},
                                                   system_clock(), out.store.get(),
                                                   out.shared.get());
  if (!out.stage->restore(error)) throw std::runtime_error(error);
  spdlog::info("alarms: {} rules count for an alarm (state in {}{})", n, out.store->path(),
               out.shared ? ", counts shared in DynamoDB table " + c.alarms.dynamodb.table : "");
  return out;
}

}  // namespace trailwarden::cli
