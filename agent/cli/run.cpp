// `trailwarden run`: the agent (docs/aws.md, docs/operations.md): the engine over the source the
// configuration names, wired to the AWS clients and the outputs. This file is the outline; the
// parts are next to it: building (run_wiring.h), SIGHUP (run_reload.h), stopping
// (run_shutdown.h), signals (signals.h), systemd (systemd_notify.h) and what the status server
// shows (run_status.h).
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/cli/run_integrity.h"
#include "agent/cli/run_reload.h"
#include "agent/cli/run_shutdown.h"
#include "agent/cli/run_status.h"
#include "agent/cli/run_wiring.h"
#include "agent/cli/signals.h"
#include "agent/cli/systemd_notify.h"
#include "agent/engine/engine.h"
#include "agent/engine/stage_chain.h"
#include "agent/metrics/metrics.h"
#include "agent/metrics/status_server.h"

namespace trailwarden::cli {

int cmd_run(Args& a, const Global& g) {
  std::optional<std::string> output_path;
  while (!a.done()) {
    std::string v;
    if (a.option({"-o", "--output"}, v)) output_path = v;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  // Signals are taken by one thread with sigwait(); block them before any thread starts.
  const sigset_t signals = block_run_signals();
  const Config c = load_run_config(g);
  const AwsEndpoints endpoints = plan_run_endpoints(c);
  std::vector<rules::Rule> all = load_rules(c, {}, {}, {});
  const size_t enabled_count = enabled_rules(all).size();
  ensure_state_dir(c);
  const size_t workers = worker_count(c);
  const HttpPools http = make_http_pools(c, workers);

  // Set on SIGTERM/SIGINT (start-up wait and shutdown): a credential fetch in progress ends.
  std::atomic<bool> cancel_credentials{false};
  auto credentials = make_aws_credentials(c, endpoints.sts_region, http.control, &cancel_credentials);
  // The status server answers from here on: /healthz 200, /readyz 503 with the reason while
  // the credentials are awaited (docs/aws.md, "Start-up").
  const int64_t started_ms = now_ms();
  MetricsRegistry early_registry;
  register_start_metrics(early_registry, *credentials, started_ms);
  LiveStatus live(early_registry);
  std::unique_ptr<StatusServer> status = start_status_server(c, live);
  // A Kafka source without msk_iam reads nothing from AWS: no credentials are awaited.
  if (run_needs_aws_credentials(c)) {
    if (!await_credentials(*credentials, signals, cancel_credentials, live)) {
      if (status) status->stop();
      spdlog::info("stopped before start-up completed (no AWS credentials yet)");
      return 0;
    }
    log_identity(*credentials);
  }

  AwsClients clients = make_aws_clients(c, endpoints, http, credentials);
  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  output_env.aws_region = endpoints.region;
  output_env.aws_credentials = credentials;
  output_env.aws_endpoints = endpoint_config(c);
  output_env.aws_ca_file = c.aws.ca_file;
  DeliveryPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir);
  RunSource source = make_source(c, clients, endpoints.region, credentials);
  const RunSourceView& queue = source.view;
  // The alarm stage keeps the rules it started with (a SIGHUP does not change alarms).
  auto rule_set = std::make_shared<const RuleSet>(std::move(all));
  RunAlarmStage alarm_parts =
      make_run_alarm_stage(c, rule_set->enabled, endpoints.region, http.control, credentials);
  alarms::AlarmStage* alarm_stage = alarm_parts.stage.get();
  // [integrity]: digests checked as they arrive, listed log files backfilled (merged source).
  RunIntegrity integrity = make_run_integrity(c, *source.source, clients, http, endpoints.region, credentials);
  Source& engine_source = integrity.merged ? static_cast<Source&>(*integrity.merged) : *source.source;
  Engine engine(engine_options(c, workers, source), engine_source, clients.s3.get(), rule_set,
                outputs);
  // Integrity first: a digest unit it fails (CloudTrail's keys unavailable) has then committed
  // nothing in the alarm stage.
  StageChain stages({integrity.stage.get(), alarm_stage});
  if (integrity.stage && alarm_stage) engine.set_stage(stages);
  else if (integrity.stage) engine.set_stage(*integrity.stage);
  else if (alarm_stage) engine.set_stage(*alarm_stage);
  start_outputs(outputs, engine);

  MetricsRegistry registry;
  register_run_metrics(registry, engine, queue, outputs, *credentials, clients.s3.get(), status.get(),
                       started_ms);
  if (alarm_stage) register_alarm_stage_metrics(registry, *alarm_stage);
  register_run_integrity_metrics(registry, integrity);
  if (alarm_parts.shared) register_alarm_store_metrics(registry, *alarm_parts.shared);
  live.attach([&registry] { return registry.render(); },
              [&] { return health(engine, outputs, c); },
              [&] { return readiness(engine, queue, outputs, c); });
  // Before the daemon and outputs go away (in any way), the status server stops using them.
  struct Detach {
    LiveStatus& live;
    ~Detach() { live.detach(); }
  } detach_on_exit{live};

  StopRequest stop;
  RunSignals run_signals(
      signals, stop.stop,
      [&] { reload_on_sighup(g, c, engine, outputs, [&] { return status_line(engine, queue); }); },
      [&](int sig) { stop.on_signal(sig, cancel_credentials); });
  // systemd: READY once polling, then STATUS every few seconds and WATCHDOG=1 while healthy.
  SystemdNotifier notifier({[&] { return engine.counters().polling.load(); },
                            [&] { return status_line(engine, queue); },
                            [&] { return health(engine, outputs, c).ok; }},
                           stop.stop);
  if (queue.kafka)
    spdlog::info("trailwarden {} running: Kafka source ({}), {} rules, {} workers",
                 TRAILWARDEN_VERSION,
                 endpoints.region.empty() ? std::string("no AWS region")
                                          : "region " + endpoints.region,
                 enabled_count, workers);
  else
    spdlog::info(
        "trailwarden {} running: queue {} (SQS region {}, region {}), {} rules, {} workers, "
        "buckets {}",
        TRAILWARDEN_VERSION, c.sqs.queue_url, endpoints.sqs_region, endpoints.region,
        enabled_count, workers, fmt::join(c.sqs.allowed_buckets, ", "));
  const int rc = engine.run(stop.stop);
  return shut_down(rc, stop, engine, queue, outputs, notifier, status.get(), run_signals);
}

}  // namespace trailwarden::cli
