// `trailwarden run`: the agent (docs/aws.md, docs/operations.md): the engine over an SqsSource,
// wired here to the AWS clients and the outputs; signals (signals.h), systemd (systemd_notify.h)
// and what the status server shows (run_status.h) live next to it.
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include <systemd/sd-daemon.h>

#include "agent/aws/credentials.h"
#include "agent/http/curl_http_client.h"
#include "agent/aws/signing_clock.h"
#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/cli/core_dumps.h"
#include "agent/cli/credential_wait.h"
#include "agent/cli/run_status.h"
#include "agent/cli/signals.h"
#include "agent/cli/systemd_notify.h"
#include "agent/common/logging.h"
#include "agent/engine/engine.h"
#include "agent/metrics/metrics.h"
#include "agent/metrics/status_server.h"
#include "agent/http/http_pool.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/sqs/sqs_source.h"
#include "agent/sources/sqs_client.h"

namespace trailwarden::cli {

namespace {

// What is left for flushing the outputs of the shutdown budget that started at SIGTERM (the
// daemon spent the rest finishing or cancelling in-flight work), at least kMinOutputFlush so
// that memory buffers get a chance to drain. After a fatal error (no SIGTERM): the whole budget.
constexpr std::chrono::milliseconds kMinOutputFlush{2000};
std::chrono::milliseconds output_flush_budget(int64_t stop_requested_ns, std::chrono::seconds budget) {
  using namespace std::chrono;
  if (stop_requested_ns == 0) return duration_cast<milliseconds>(budget);
  const auto spent = steady_clock::now() - steady_clock::time_point(nanoseconds(stop_requested_ns));
  return std::max(kMinOutputFlush, duration_cast<milliseconds>(budget - spent));
}


// `run` needs a queue and the buckets it may read; throws naming the configuration file.
void require_sqs_source(const Config& c) {
  if (c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format("{}: source.sqs.queue_url is not set", c.source));
  if (c.sqs.allowed_buckets.empty())
    throw std::runtime_error(fmt::format(
        "{}: source.sqs.allowed_buckets is empty: name the buckets trailwarden may read", c.source));
}

// The engine as [source.sqs], [limits] and the state directory configure it.
EngineOptions engine_options(const Config& c, size_t workers) {
  EngineOptions options;
  options.workers = workers;
  options.max_in_flight = c.sqs.max_in_flight_messages;
  options.shutdown_deadline = std::chrono::seconds(c.sqs.shutdown_timeout_seconds);
  options.fetch.max_object_bytes = c.limits.max_compressed_bytes;
  options.limits = c.limits;
  options.ocsf.include_raw_data = c.include_raw_data;
  options.delivery.dedup_path = (std::filesystem::path(c.state_dir) / "dedup.log").string();
  options.delivery.bad_records_path =
      (std::filesystem::path(c.state_dir) / "bad-records.ndjson").string();
  options.delivery.dedup_capacity = c.sqs.dedup_window;
  return options;
}

// The effective configuration without what a reload applies: [rules] and the log_* keys.
std::string not_reloadable(const Config& c) {
  std::string text = render_effective_config(c);
  const size_t start = text.find("\n[rules]\n");
  if (start != std::string::npos) {
    const size_t end = text.find("\n[", start + 1);
    text.erase(start, end == std::string::npos ? std::string::npos : end - start);
  }
  std::string out;
  size_t pos = text.find('\n');  // the first line names the file
  while (pos != std::string::npos && pos < text.size()) {
    size_t nl = text.find('\n', pos + 1);
    std::string_view line(text.data() + pos + 1, (nl == std::string::npos ? text.size() : nl) - pos - 1);
    if (!line.starts_with("log_")) out.append(line).push_back('\n');
    pos = nl;
  }
  return out;
}

}  // namespace

int cmd_run(Args& a, const Global& g) {
  std::optional<std::string> output_path;
  while (!a.done()) {
    std::string v;
    if (a.option({"-o", "--output"}, v)) output_path = v;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  // Signals are taken by one thread with sigwait(); block them before any thread starts.
  const sigset_t signals = block_run_signals();

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
  require_sqs_source(c);
  // Regions and endpoints (agent/cli/aws_endpoints.h): SQS signs with its queue URL's region.
  AwsEndpoints endpoints;
  {
    std::string error;
    if (!plan_aws_endpoints(c, aws::process_environment(), endpoints, error))
      throw std::runtime_error(error);
  }
  for (const std::string& warning : endpoints.warnings) spdlog::warn("{}", warning);
  const std::string region = endpoints.region;

  std::vector<rules::Rule> all = load_rules(c, {}, {}, {});
  const size_t enabled_count = enabled_rules(all).size();

  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  output_env.aws_region = region;

  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("general.state_dir {}: {}", c.state_dir, ec.message()));

  const size_t workers = c.sqs.workers ? c.sqs.workers
                                       : std::max(1u, std::thread::hardware_concurrency());
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
  auto control_http = pool(small, 4);  // SQS long poll, deletes/heartbeats, STS, metadata
  auto object_http = pool(large, workers);

  // Set on SIGTERM/SIGINT (start-up wait and shutdown): a credential fetch in progress ends.
  std::atomic<bool> cancel_credentials{false};
  auto credentials =
      make_aws_credentials(c, endpoints.sts_region, control_http, &cancel_credentials);
  // The status server answers from here on: /healthz 200, /readyz 503 with the reason while
  // the credentials are awaited (docs/aws.md, "Start-up").
  const int64_t started_ms = now_ms();
  MetricsRegistry early_registry;
  register_start_metrics(early_registry, *credentials, started_ms);
  LiveStatus live(early_registry);
  std::unique_ptr<StatusServer> status;
  if (!c.metrics.listen.empty()) {
    status = std::make_unique<StatusServer>(StatusServer::Handlers{
        [&live] { return live.metrics(); }, [&live] { return live.health(); },
        [&live] { return live.ready(); }});
    std::string error;
    if (!status->start(c.metrics.listen, error)) throw std::runtime_error(error);
    spdlog::info("metrics and health checks on http://{}:{}/metrics (/healthz, /readyz)",
                 c.metrics.listen.substr(0, c.metrics.listen.rfind(':')), status->port());
  }
  {
    std::string error;
    StartupSignals startup_signals(signals, cancel_credentials);
    CredentialWaitResult waited = wait_for_credentials(
        *credentials, CredentialWaitOptions{},
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
        break;
      case CredentialWaitResult::kInvalid:
        throw std::runtime_error(error);
      case CredentialWaitResult::kStopped:
        if (status) status->stop();
        spdlog::info("stopped before start-up completed (no AWS credentials yet)");
        return 0;
    }
  }

  {
    // Which identity the agent runs as: the first thing to check on an AccessDenied.
    aws::Credentials current;
    std::string error;
    if (credentials->get(current, error)) spdlog::info("AWS credentials: {}", aws::describe(current));
  }

  SqsClientOptions sqs_options;
  sqs_options.queue_url = c.sqs.queue_url;
  sqs_options.region = endpoints.sqs_region;
  sqs_options.endpoint_url = endpoints.sqs_endpoint_url;
  SqsClient sqs(sqs_options, control_http, credentials);
  S3ClientOptions s3_options;
  s3_options.region = endpoints.s3_region;
  s3_options.endpoint_url = endpoints.s3.url;
  s3_options.variant = endpoints.s3.variant;
  s3_options.expected_bucket_owner = c.sqs.expected_bucket_owner;
  S3Client s3(s3_options, object_http, credentials);

  const EngineOptions options = engine_options(c, workers);

  output_env.aws_credentials = credentials;
  DeliveryPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir);
  SqsSource source(c.sqs, sqs);
  Engine engine(options, source, &s3, std::make_shared<const RuleSet>(std::move(all)), outputs);
  {
    // The alerts a previous run left in the buffers go into the de-duplication window before
    // anything is delivered or received (kill -9 does not re-alert).
    std::string error;
    if (!outputs.start(error, [&engine](const std::vector<std::string>& uids, std::string& e) {
          return engine.remember_buffered(uids, e);
        }))
      throw std::runtime_error(error);
  }

  MetricsRegistry registry;
  register_metrics(registry, engine, source, outputs, *credentials, started_ms);
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
  if (status) register_status_metrics(registry, status->stats());
  live.attach([&registry] { return registry.render(); },
              [&] { return health(engine, outputs, c); },
              [&] { return readiness(engine, source, outputs, c); });
  // Before the daemon and outputs go away (in any way), the status server stops using them.
  struct Detach {
    LiveStatus& live;
    ~Detach() { live.detach(); }
  } detach_on_exit{live};

  // SIGHUP: reload the rules from the configuration file (and the rule files it names), reopen
  // output files. A configuration or rule error keeps everything as it was.
  const Config& running = c;
  auto reload = [&] {
    sd_notifyf(0, "RELOADING=1\nSTATUS=reloading rules\nMONOTONIC_USEC=%llu",
               static_cast<unsigned long long>(
                   std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count()));
    // First: each output reopens before the next batch it takes from its buffer (a batch being
    // sent or retried at this moment still goes to the old file).
    outputs.reopen();
    try {
      Config fresh = read_config(g);
      std::vector<rules::Rule> rules = load_rules(fresh, {}, {}, {});
      std::string log_error;
      if (!apply_logging(fresh, g, log_error)) throw std::runtime_error(log_error);
      auto set = std::make_shared<const RuleSet>(std::move(rules));
      if (set->enabled.empty()) spdlog::warn("reload: no rule is enabled: nothing can match");
      const size_t loaded = set->owned.size(), active = set->enabled.size();
      engine.replace_rules(std::move(set));
      spdlog::info("SIGHUP: rules reloaded from {}: {} rules, {} enabled", fresh.source, loaded,
                   active);
      if (not_reloadable(fresh) != not_reloadable(running))
        spdlog::warn("SIGHUP: settings outside [rules] and the log_* keys changed in {}; they "
                     "take effect at the next restart",
                     fresh.source);
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: reload failed, the previous rules stay in force: {}", e.what());
    }
    sd_notifyf(0, "READY=1\nSTATUS=%s", status_line(engine, source).c_str());
  };

  std::atomic<bool> stop{false};
  // When SIGTERM/SIGINT arrived (steady clock, ns; 0: not yet): the shutdown budget
  // (shutdown_timeout_seconds) counts from there, for the daemon and the outputs together.
  std::atomic<int64_t> stop_requested_ns{0};
  RunSignals run_signals(signals, stop, reload, [&](int sig) {
    spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing in-flight messages");
    stop_requested_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    cancel_credentials = true;  // a hanging refresh must not hold up the shutdown
  });

  // systemd: READY once polling, then STATUS every few seconds and WATCHDOG=1 while healthy.
  SystemdNotifier notifier({[&] { return engine.counters().polling.load(); },
                            [&] { return status_line(engine, source); },
                            [&] { return health(engine, outputs, c).ok; }},
                           stop);
  spdlog::info(
      "trailwarden {} running: queue {} (SQS region {}, region {}), {} rules, {} workers, "
      "buckets {}",
      TRAILWARDEN_VERSION, c.sqs.queue_url, endpoints.sqs_region, region, enabled_count, workers,
      fmt::join(c.sqs.allowed_buckets, ", "));
  int rc = engine.run(stop);
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: flushing outputs");
  outputs.stop(output_flush_budget(stop_requested_ns.load(),
                                   std::chrono::seconds(c.sqs.shutdown_timeout_seconds)));
  notifier.stop();
  if (status) status->stop();
  if (outputs.failed()) rc = 1;
  run_signals.finish();
  const SqsSourceCounters& q = source.counters();
  const EngineCounters& e = engine.counters();
  const FetchCounters& f = engine.fetch_counters();
  const DeliveryCounters& d = engine.delivery_counters();
  spdlog::info(
      "stopped: {} messages received, {} deleted, {} failed, {} unknown; {} objects, {} records, "
      "{} alerts sent, {} duplicates suppressed, {} refused",
      q.messages_received.load(), q.messages_deleted.load(), q.messages_failed.load(),
      q.messages_unknown.load(), f.objects_fetched.load(), e.records.load(), d.alerts_sent.load(),
      d.alerts_suppressed.load(), q.notifications_refused.load());
  return rc;
}

}  // namespace trailwarden::cli

