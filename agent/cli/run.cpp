// `trailwarden run`: the daemon (docs/aws.md, docs/operations.md).
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "agent/aws/credentials.h"
#include "agent/aws/curl_http_client.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/pipeline/daemon.h"
#include "agent/sources/http_pool.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/sqs_client.h"

namespace trailwarden::cli {

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

  Config c = load_config(g);
  if (c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format("{}: source.sqs.queue_url is not set", c.source));
  if (c.sqs.allowed_buckets.empty())
    throw std::runtime_error(fmt::format(
        "{}: source.sqs.allowed_buckets is empty: name the buckets trailwarden may read", c.source));
  const std::string region = resolve_region(c);
  if (region.empty())
    throw std::runtime_error("no AWS region: set [aws] region or AWS_REGION");

  std::vector<rules::Rule> all = load_rules(c, {}, {}, {});
  std::vector<const rules::Rule*> enabled = enabled_rules(all);

  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  output_env.aws_region = region;

  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("general.state_dir {}: {}", c.state_dir, ec.message()));

  const size_t workers = c.sqs.workers ? c.sqs.workers
                                       : std::max(1u, std::thread::hardware_concurrency());
  aws::CurlHttpOptions small;
  small.ca_file = c.aws.ca_file;
  aws::CurlHttpOptions large = small;
  large.max_response_bytes = c.limits.max_compressed_bytes + 1;
  auto pool = [](aws::CurlHttpOptions o, size_t max) {
    return std::make_shared<HttpClientPool>(
        [o] { return std::make_unique<aws::CurlHttpClient>(o); }, max);
  };
  auto control_http = pool(small, 4);  // SQS long poll, deletes/heartbeats, STS, metadata
  auto object_http = pool(large, workers);

  aws::CredentialsOptions cred_options;
  cred_options.profile = c.aws.profile;
  cred_options.region = region;
  cred_options.sts_endpoint = first_of({&c.aws.sts_endpoint_url, &c.aws.endpoint_url});
  cred_options.role_arn = c.aws.role_arn;
  cred_options.external_id = c.aws.external_id;
  cred_options.role_session_name = c.aws.role_session_name;
  auto credentials = aws::make_credentials_source(aws::make_process_context(control_http), cred_options);
  {
    aws::Credentials probe;
    std::string error;
    if (!credentials->get(probe, error)) throw std::runtime_error(error);
  }

  SqsClientOptions sqs_options;
  sqs_options.queue_url = c.sqs.queue_url;
  sqs_options.region = region;
  sqs_options.endpoint_url = first_of({&c.aws.sqs_endpoint_url, &c.aws.endpoint_url});
  SqsClient sqs(sqs_options, control_http, credentials);
  S3ClientOptions s3_options;
  s3_options.region = region;
  s3_options.endpoint_url = first_of({&c.aws.s3_endpoint_url, &c.aws.endpoint_url});
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
  d.max_object_bytes = c.limits.max_compressed_bytes;
  d.limits = c.limits;
  d.ocsf.include_raw_data = c.include_raw_data;
  d.dedup_path = (std::filesystem::path(c.state_dir) / "dedup.log").string();
  d.dedup_capacity = c.sqs.dedup_window;

  output_env.aws_credentials = credentials;
  OutputPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir);
  {
    std::string error;
    if (!outputs.start(error)) throw std::runtime_error(error);
  }
  Daemon daemon(d, sqs, s3, enabled, outputs);
  std::atomic<bool> stop{false};
  std::thread signal_thread([&] {
    while (!stop) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (stop) break;  // woken by ourselves after a fatal error
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reopening output files (configuration and rules are not reloaded: "
                     "restart to apply changes)");
        outputs.reopen();
        continue;
      }
      spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stop = true;
    }
  });
  spdlog::info("trailwarden {} running: queue {} (region {}), {} rules, {} workers, buckets {}",
               TRAILWARDEN_VERSION, c.sqs.queue_url, region, enabled.size(), workers,
               fmt::join(c.sqs.allowed_buckets, ", "));
  int rc = daemon.run(stop);
  outputs.stop(std::chrono::seconds(c.sqs.shutdown_timeout_seconds));
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
