// `trailwarden run`: the daemon (docs/aws.md, docs/operations.md).
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <limits>
#include <thread>

#include <systemd/sd-daemon.h>

#include <condition_variable>
#include <mutex>

#include "agent/aws/credentials.h"
#include "agent/common/logging.h"
#include "agent/metrics/metrics.h"
#include "agent/metrics/status_server.h"
#include "agent/http/curl_http_client.h"
#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/cli/core_dumps.h"
#include "agent/cli/credential_wait.h"
#include "agent/pipeline/daemon.h"
#include "agent/http/http_pool.h"
#include "agent/aws/signing_clock.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/sqs_client.h"
#include "outputs/ecs_document.h"

namespace trailwarden::cli {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The metrics served from start-up on, also while waiting for AWS credentials.
void register_start_metrics(MetricsRegistry& registry, const aws::CredentialsSource& credentials,
                            int64_t started_ms) {
  registry.add([started_ms](PrometheusWriter& w) {
    w.family("trailwarden_build_info", "gauge", "Version of the running agent.");
    w.sample("trailwarden_build_info", uint64_t{1}, {{"version", TRAILWARDEN_VERSION}});
    w.gauge("trailwarden_start_time_seconds", "When the agent started (Unix time).",
            static_cast<double>(started_ms) / 1000.0);
  });
  registry.add([&credentials](PrometheusWriter& w) {
    w.counter("trailwarden_aws_credential_refreshes_total",
              "AWS credentials obtained (first fetch and every refresh).", credentials.fetches());
    w.counter("trailwarden_aws_credential_failures_total",
              "Failed attempts to obtain or refresh AWS credentials.",
              credentials.fetch_failures());
  });
}

// The metrics of a running agent (docs/monitoring.md lists them).
void register_metrics(MetricsRegistry& registry, const Daemon& daemon, const DeliveryPipeline& outputs,
                      const aws::CredentialsSource& credentials,
                      int64_t started_ms) {
  register_start_metrics(registry, credentials, started_ms);
  const DaemonCounters& k = daemon.counters();
  registry.add([&k](PrometheusWriter& w) {
    w.counter("trailwarden_sqs_messages_received_total", "SQS messages received.",
              k.messages_received.load());
    w.counter("trailwarden_sqs_messages_deleted_total",
              "SQS messages deleted after all their alerts were safe at every output.",
              k.messages_deleted.load());
    w.counter("trailwarden_sqs_messages_failed_total",
              "SQS messages left for redelivery (and, after maxReceiveCount, the queue's "
              "dead-letter queue) because an object could not be read or an alert not delivered.",
              k.messages_failed.load());
    w.counter("trailwarden_sqs_messages_unknown_total",
              "SQS messages that are not a notification trailwarden understands (never deleted).",
              k.messages_unknown.load());
    w.counter("trailwarden_sqs_test_events_total", "s3:TestEvent messages (deleted).",
              k.messages_test_events.load());
    w.counter("trailwarden_sqs_receive_errors_total", "Failed ReceiveMessage calls.",
              k.poll_errors.load());
    w.counter("trailwarden_sqs_visibility_extensions_total",
              "In-flight messages whose visibility timeout was extended (heartbeat).",
              k.visibility_extensions.load());
    w.gauge("trailwarden_sqs_messages_in_flight", "Messages received and not yet finished.",
            static_cast<double>(k.in_flight.load()));
    w.gauge("trailwarden_sqs_last_receive_timestamp_seconds",
            "When a ReceiveMessage call last succeeded (Unix time).",
            static_cast<double>(k.last_poll_ok_ms.load()) / 1000.0);
    w.counter("trailwarden_notifications_refused_total",
              "Objects named by notifications outside source.sqs.allowed_buckets (not fetched).",
              k.notifications_refused.load());
    w.counter("trailwarden_inline_events_refused_total",
              "EventBridge CloudTrail events refused by the inline policy (source.sqs."
              "inline_events, inline_accounts, inline_regions): deleted, never matched.",
              k.inline_events_refused.load());
    w.counter("trailwarden_objects_skipped_total",
              "Objects not read by choice (digest, Insights, key outside key_prefixes).",
              k.objects_skipped.load());
    w.counter("trailwarden_s3_objects_fetched_total", "Objects read from S3.",
              k.objects_fetched.load());
    w.counter("trailwarden_s3_bytes_fetched_total", "Bytes read from S3 (compressed).",
              k.bytes_fetched.load());
    w.counter("trailwarden_s3_fetch_retries_total", "S3 reads retried after a transient error.",
              k.fetch_retries.load());
    w.counter("trailwarden_s3_key_fallbacks_total",
              "EventBridge objects read under the URL-decoded reading of detail.object.key after "
              "the key as given was not found.",
              k.key_fallbacks.load());
    w.counter("trailwarden_records_scanned_total", "CloudTrail records matched against the rules.",
              k.records.load());
    w.counter("trailwarden_records_failed_total",
              "Bad records (over limits.max_record_bytes or max_depth, invalid UTF-8 or control "
              "characters, unparseable): not matched, written to state_dir/bad-records.ndjson.",
              k.records_failed.load());
    w.counter("trailwarden_alerts_total", "Alerts handed to the outputs.", k.alerts_sent.load());
    w.counter("trailwarden_alert_time_unparsed_total",
              "Alerts whose record had no usable eventTime (missing or not RFC 3339): their time "
              "is the processing time, metadata.original_time keeps the text.",
              k.alerts_time_unparsed.load());
    w.counter("trailwarden_alerts_duplicate_suppressed_total",
              "Alerts not sent again because their finding uid was already delivered "
              "(redelivered messages).",
              k.alerts_suppressed.load());
    w.counter("trailwarden_rule_reloads_total", "Successful rule reloads (SIGHUP).",
              k.rule_reloads.load());
    w.family("trailwarden_object_processing_seconds", "histogram",
             "Time to fetch, decode and match one object.");
    w.histogram("trailwarden_object_processing_seconds", k.object_seconds);
    w.family("trailwarden_notification_to_alert_seconds", "histogram",
             "From the notification's arrival in SQS (SentTimestamp) to its alert being handed "
             "to the outputs.");
    w.histogram("trailwarden_notification_to_alert_seconds", k.notification_to_alert_seconds);
    const int64_t newest = k.newest_event_ms.load();
    w.gauge("trailwarden_newest_event_timestamp_seconds",
            "eventTime of the newest CloudTrail record processed (Unix time; 0: none yet).",
            static_cast<double>(newest) / 1000.0);
    w.gauge("trailwarden_newest_event_age_seconds",
            "Age of the newest CloudTrail record processed: how far behind the agent is "
            "(NaN: none yet).",
            newest ? static_cast<double>(now_ms() - newest) / 1000.0
                   : std::numeric_limits<double>::quiet_NaN());
  });
  registry.add([&daemon](PrometheusWriter& w) {
    w.family("trailwarden_rule_matches_total", "counter", "Records matched, per rule.");
    for (const auto& [id, n] : daemon.matches_per_rule())
      w.sample("trailwarden_rule_matches_total", n, {{"rule", id}});
  });
  registry.add([](PrometheusWriter& w) {
    w.counter("trailwarden_ecs_degraded_documents_total",
              "ECS documents made without the finding or the record, which could not be parsed.",
              ecs_degraded_documents());
    w.counter("trailwarden_ecs_truncated_documents_total",
              "ECS documents that left part of a field out (trailwarden.truncated_fields).",
              ecs_truncated_documents());
  });
  registry.add([&outputs](PrometheusWriter& w) {
    struct Field {
      const char* name;
      const char* type;
      const char* help;
      std::function<double(const OutputCounters&, size_t)> value;
    };
    static const Field kFields[] = {
        {"trailwarden_output_alerts_accepted_total", "counter",
         "Alerts routed to the output and buffered.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.accepted.load()); }},
        {"trailwarden_output_alerts_sent_total", "counter",
         "Alerts the destination acknowledged.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.delivered.load()); }},
        {"trailwarden_output_retries_total", "counter", "Batches sent again after a failure.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.retries.load()); }},
        {"trailwarden_output_alerts_rejected_total", "counter",
         "Alerts the destination refused, written to the dead-letter file.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.rejected.load()); }},
        {"trailwarden_output_alerts_dropped_total", "counter",
         "Alerts dropped because the buffer was full (when_full = \"drop_newest\").",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.dropped.load()); }},
        {"trailwarden_output_buffer_corrupt_records_total", "counter",
         "Damaged records found in the disk buffer at start-up: skipped, logged, quarantined.",
         [](const OutputCounters& o, size_t) {
           return static_cast<double>(o.buffer_corrupt_records.load());
         }},
        {"trailwarden_output_buffer_bytes", "gauge", "Bytes waiting in the output's buffer.",
         [](const OutputCounters& o, size_t) {
           return static_cast<double>(o.buffered_bytes.load());
         }},
        {"trailwarden_output_buffer_max_bytes", "gauge", "The buffer's size limit.",
         [](const OutputCounters&, size_t max) { return static_cast<double>(max); }},
    };
    for (const Field& f : kFields) {
      w.family(f.name, f.type, f.help);
      for (size_t i = 0; i < outputs.size(); ++i)
        w.sample(f.name, f.value(outputs.counters(i), outputs.settings(i).buffer_max_bytes),
                 {{"output", outputs.name(i)}});
    }
  });
}

// The metrics endpoint's own counters (connections it shed to keep the probes fast).
void register_status_metrics(MetricsRegistry& registry, const StatusServerStats& s) {
  registry.add([&s](PrometheusWriter& w) {
    w.counter("trailwarden_status_requests_total",
              "Requests the metrics and health endpoint answered (any path).", s.requests.load());
    w.counter("trailwarden_status_requests_refused_total",
              "Requests it refused: malformed (400, 505), request head too large (431) or not "
              "complete in time (408).",
              s.requests_refused.load());
    w.counter("trailwarden_status_connections_evicted_total",
              "Connections it closed to make room for a new one (the oldest still sending its "
              "request).",
              s.connections_evicted.load());
    w.counter("trailwarden_status_connections_timed_out_total",
              "Connections it closed because the request head or the response was too slow.",
              s.connections_timed_out.load());
  });
}

// Liveness: the poll loop turns and no output failed for good.
Probe health(const Daemon& daemon, const DeliveryPipeline& outputs, const Config& c) {
  if (outputs.failed()) return {false, "output failed: " + outputs.failure()};
  const DaemonCounters& k = daemon.counters();
  const int64_t last = k.last_loop_ms.load();
  const int64_t stuck_after_ms = static_cast<int64_t>(c.sqs.wait_time_seconds + 120) * 1000;
  if (k.polling && last && now_ms() - last > stuck_after_ms)
    return {false, fmt::format("the SQS poll loop has not turned for {} s", (now_ms() - last) / 1000)};
  return {true, {}};
}

// Readiness: running, the queue answered recently, and no output buffer is full.
Probe readiness(const Daemon& daemon, const DeliveryPipeline& outputs, const Config& c) {
  Probe h = health(daemon, outputs, c);
  if (!h.ok) return h;
  const DaemonCounters& k = daemon.counters();
  if (!k.polling) return {false, "not polling the queue (starting or stopping)"};
  const int64_t last_ok = k.last_poll_ok_ms.load();
  const int64_t limit_ms = static_cast<int64_t>(c.metrics.ready_poll_timeout_seconds) * 1000;
  if (!last_ok) return {false, "no successful SQS receive yet"};
  if (now_ms() - last_ok > limit_ms)
    return {false, fmt::format("no successful SQS receive for {} s", (now_ms() - last_ok) / 1000)};
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputSettings& o = outputs.settings(i);
    if (o.when_full == OutputSettings::WhenFull::kBlock &&
        outputs.counters(i).buffered_bytes.load() >= o.buffer_max_bytes)
      return {false, fmt::format("output {}: buffer full (backpressure)", o.name)};
  }
  return {true, {}};
}

// What the status server answers. It starts before the credential check, so that /healthz
// answers and /readyz says why the agent is not ready while it waits for AWS credentials;
// once the daemon exists, its probes and metrics take over (attach), until detach().
class LiveStatus {
 public:
  explicit LiveStatus(const MetricsRegistry& early) : early_(early) {}
  void set_waiting(std::string why) {
    std::lock_guard<std::mutex> lock(mu_);
    waiting_ = std::move(why);
  }
  void attach(std::function<std::string()> metrics, std::function<Probe()> health,
              std::function<Probe()> ready) {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_ = std::move(metrics);
    health_ = std::move(health);
    ready_ = std::move(ready);
  }
  void detach() {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_ = nullptr;
    health_ = nullptr;
    ready_ = nullptr;
    waiting_ = "stopping";
  }
  std::string metrics() {
    std::lock_guard<std::mutex> lock(mu_);
    return metrics_ ? metrics_() : early_.render();
  }
  Probe health() {
    std::lock_guard<std::mutex> lock(mu_);
    return health_ ? health_() : Probe{true, waiting_};
  }
  Probe ready() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_ ? ready_() : Probe{false, waiting_};
  }

 private:
  const MetricsRegistry& early_;
  std::mutex mu_;
  std::string waiting_ = "starting";
  std::function<std::string()> metrics_;
  std::function<Probe()> health_, ready_;
};

// Takes SIGTERM and SIGINT (blocked, so with sigtimedwait) on a thread of its own while the
// start-up waits for AWS credentials. A stop sets `cancel`, which ends a credential fetch in
// progress at once (credential_process killed with its group, metadata/STS/SSO requests
// abandoned), and ends pause(). SIGHUP is ignored while starting.
class StartupSignals {
 public:
  StartupSignals(const sigset_t& signals, std::atomic<bool>& cancel)
      : signals_(signals), cancel_(cancel), thread_([this] { watch(); }) {}
  ~StartupSignals() { finish(); }
  // Stops watching, at once (the watcher is woken with a SIGHUP sent to it alone). A SIGTERM or
  // SIGINT taken until then is in stopped(); later ones stay pending for the daemon's signal
  // thread.
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      if (!exited_) pthread_kill(thread_.native_handle(), SIGHUP);
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits up to `d`: false when a stop arrived.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopped_; });
    return !stopped_;
  }
  // Call after finish(): whether SIGTERM or SIGINT arrived while watching.
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

 private:
  void watch() {
    const timespec slice{1, 0};
    for (;;) {
      const int sig = sigtimedwait(&signals_, nullptr, &slice);
      std::lock_guard<std::mutex> lock(mu_);
      if (sig == SIGTERM || sig == SIGINT) {
        spdlog::info("received {} while waiting for AWS credentials, stopping",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        cancel_ = true;
        stopped_ = true;
        exited_ = true;
        cv_.notify_all();
        return;
      }
      if (done_) {  // woken by finish()
        exited_ = true;
        return;
      }
      if (sig == SIGHUP) spdlog::info("SIGHUP ignored while waiting for AWS credentials");
      // -1: EAGAIN (the slice ended) or EINTR.
    }
  }

  const sigset_t signals_;
  std::atomic<bool>& cancel_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;     // guarded by mu_
  bool stopped_ = false;  // guarded by mu_
  bool exited_ = false;   // guarded by mu_: watch() returned or is about to
  std::thread thread_;    // last: starts once the rest is constructed
};

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

// One line for systemd's STATUS=.
std::string status_line(const Daemon& daemon) {
  const DaemonCounters& k = daemon.counters();
  return fmt::format("{} messages, {} objects, {} records, {} alerts; {} in flight",
                     k.messages_received.load(), k.objects_fetched.load(), k.records.load(),
                     k.alerts_sent.load(), k.in_flight.load());
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
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
  if (c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format("{}: source.sqs.queue_url is not set", c.source));
  if (c.sqs.allowed_buckets.empty())
    throw std::runtime_error(fmt::format(
        "{}: source.sqs.allowed_buckets is empty: name the buckets trailwarden may read", c.source));
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

  DaemonOptions d;
  d.max_messages = c.sqs.max_messages;
  d.wait_time = std::chrono::seconds(c.sqs.wait_time_seconds);
  d.visibility_timeout = std::chrono::seconds(c.sqs.visibility_timeout_seconds);
  d.heartbeat_interval = std::chrono::seconds(c.sqs.heartbeat_seconds);
  d.max_in_flight = c.sqs.max_in_flight_messages;
  d.workers = workers;
  d.shutdown_deadline = std::chrono::seconds(c.sqs.shutdown_timeout_seconds);
  d.allowed_buckets = c.sqs.allowed_buckets;
  d.key_prefixes = c.sqs.key_prefixes;
  d.include_digest = c.sqs.include_digest;
  d.include_insights = c.sqs.include_insights;
  d.inline_events.enabled = c.sqs.inline_events;
  d.inline_events.via_sns = c.sqs.inline_events_via_sns;
  d.inline_events.accounts = c.sqs.inline_accounts;
  d.inline_events.regions = c.sqs.inline_regions;
  d.max_object_bytes = c.limits.max_compressed_bytes;
  d.limits = c.limits;
  d.ocsf.include_raw_data = c.include_raw_data;
  d.dedup_path = (std::filesystem::path(c.state_dir) / "dedup.log").string();
  d.bad_records_path = (std::filesystem::path(c.state_dir) / "bad-records.ndjson").string();
  d.dedup_capacity = c.sqs.dedup_window;

  output_env.aws_credentials = credentials;
  DeliveryPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir);
  Daemon daemon(d, sqs, s3, std::make_shared<const RuleSet>(std::move(all)), outputs);
  {
    // The alerts a previous run left in the buffers go into the de-duplication window before
    // anything is delivered or received (kill -9 does not re-alert).
    std::string error;
    if (!outputs.start(error, [&daemon](const std::vector<std::string>& uids, std::string& e) {
          return daemon.remember_buffered(uids, e);
        }))
      throw std::runtime_error(error);
  }

  MetricsRegistry registry;
  register_metrics(registry, daemon, outputs, *credentials, started_ms);
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
              [&] { return health(daemon, outputs, c); },
              [&] { return readiness(daemon, outputs, c); });
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
      Config fresh = g.config_path ? load_config_file(*g.config_path) : default_config();
      std::vector<rules::Rule> rules = load_rules(fresh, {}, {}, {});
      std::string log_error;
      if (!apply_logging(fresh, g, log_error)) throw std::runtime_error(log_error);
      auto set = std::make_shared<const RuleSet>(std::move(rules));
      if (set->enabled.empty()) spdlog::warn("reload: no rule is enabled: nothing can match");
      const size_t loaded = set->owned.size(), active = set->enabled.size();
      daemon.replace_rules(std::move(set));
      spdlog::info("SIGHUP: rules reloaded from {}: {} rules, {} enabled", fresh.source, loaded,
                   active);
      if (not_reloadable(fresh) != not_reloadable(running))
        spdlog::warn("SIGHUP: settings outside [rules] and the log_* keys changed in {}; they "
                     "take effect at the next restart",
                     fresh.source);
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: reload failed, the previous rules stay in force: {}", e.what());
    }
    sd_notifyf(0, "READY=1\nSTATUS=%s", status_line(daemon).c_str());
  };

  std::atomic<bool> stop{false};
  // When SIGTERM/SIGINT arrived (steady clock, ns; 0: not yet): the shutdown budget
  // (shutdown_timeout_seconds) counts from there, for the daemon and the outputs together.
  std::atomic<int64_t> stop_requested_ns{0};
  std::thread signal_thread([&] {
    while (!stop) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (stop) break;  // woken by ourselves after a fatal error
      if (sig == SIGHUP) {
        reload();
        continue;
      }
      spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing in-flight messages");
      stop_requested_ns = std::chrono::steady_clock::now().time_since_epoch().count();
      cancel_credentials = true;  // a hanging refresh must not hold up the shutdown
      stop = true;
    }
  });

  // systemd: READY once polling, then STATUS every few seconds and WATCHDOG=1 at half the
  // watchdog interval, but only while healthy (a wedged agent gets restarted).
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0) watchdog_usec = 0;
  std::mutex notify_mu;
  std::condition_variable notify_cv;
  bool notify_stop = false;
  std::thread notifier([&] {
    auto period = std::chrono::milliseconds(5000);
    if (watchdog_usec) period = std::min(period, std::chrono::milliseconds(watchdog_usec / 2000));
    bool ready_sent = false;
    std::unique_lock<std::mutex> lock(notify_mu);
    while (!notify_stop) {
      if (!ready_sent && daemon.counters().polling) {
        sd_notifyf(0, "READY=1\nSTATUS=%s", status_line(daemon).c_str());
        ready_sent = true;
      } else if (ready_sent && !stop) {
        sd_notifyf(0, "STATUS=%s", status_line(daemon).c_str());
      }
      if (watchdog_usec && health(daemon, outputs, c).ok) sd_notify(0, "WATCHDOG=1");
      notify_cv.wait_for(lock, ready_sent ? period : std::chrono::milliseconds(100),
                         [&] { return notify_stop; });
    }
  });
  spdlog::info(
      "trailwarden {} running: queue {} (SQS region {}, region {}), {} rules, {} workers, "
      "buckets {}",
      TRAILWARDEN_VERSION, c.sqs.queue_url, endpoints.sqs_region, region, enabled_count, workers,
      fmt::join(c.sqs.allowed_buckets, ", "));
  int rc = daemon.run(stop);
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: flushing outputs");
  outputs.stop(output_flush_budget(stop_requested_ns.load(),
                                   std::chrono::seconds(c.sqs.shutdown_timeout_seconds)));
  {
    std::lock_guard<std::mutex> lock(notify_mu);
    notify_stop = true;
  }
  notify_cv.notify_all();
  notifier.join();
  if (status) status->stop();
  if (outputs.failed()) rc = 1;
  if (!stop) {  // a fatal error ended the run: wake the signal thread
    stop = true;
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  const DaemonCounters& k = daemon.counters();
  spdlog::info(
      "stopped: {} messages received, {} deleted, {} failed, {} unknown; {} objects, {} records, "
      "{} alerts sent, {} duplicates suppressed, {} refused",
      k.messages_received.load(), k.messages_deleted.load(), k.messages_failed.load(),
      k.messages_unknown.load(), k.objects_fetched.load(), k.records.load(), k.alerts_sent.load(),
      k.alerts_suppressed.load(), k.notifications_refused.load());
  return rc;
}

}  // namespace trailwarden::cli
