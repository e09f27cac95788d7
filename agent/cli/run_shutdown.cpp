#include "agent/cli/run_shutdown.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>

#include <systemd/sd-daemon.h>

namespace trailwarden::cli {

namespace {
constexpr std::chrono::milliseconds kMinOutputFlush{2000};
}  // namespace

void StopRequest::on_signal(int sig, std::atomic<bool>& cancel_credentials) {
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing in-flight messages");
  requested_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  cancel_credentials = true;
}

std::chrono::milliseconds output_flush_budget(int64_t requested_ns, std::chrono::seconds budget) {
  using namespace std::chrono;
  if (requested_ns == 0) return duration_cast<milliseconds>(budget);
  const auto spent = steady_clock::now() - steady_clock::time_point(nanoseconds(requested_ns));
  return std::max(kMinOutputFlush, duration_cast<milliseconds>(budget - spent));
}

int shut_down(int rc, const StopRequest& stop, const Engine& engine,
              const RunSourceView& source, DeliveryPipeline& outputs, SystemdNotifier& notifier,
              StatusServer* status, RunSignals& run_signals) {
  sd_notify(0, "STOPPING=1\nSTATUS=stopping: flushing outputs");
  outputs.stop(output_flush_budget(stop.requested_ns.load(),
                                   std::chrono::seconds(source.shutdown_timeout_seconds)));
  notifier.stop();
  if (status) status->stop();
  if (outputs.failed()) rc = 1;
  run_signals.finish();
  const EngineCounters& e = engine.counters();
  const FetchCounters& f = engine.fetch_counters();
  const DeliveryCounters& d = engine.delivery_counters();
  if (source.kafka) {
    const kafka::KafkaSourceStats& k = source.kafka->stats();
    spdlog::info(
        "stopped: {} Kafka messages received, {} done, {} failed, {} oversized; {} records, "
        "{} alerts sent, {} duplicates suppressed; {} offset commits",
        k.received.load(), k.done_ok.load(), k.done_failed.load(), k.oversized.load(),
        e.records.load(), d.alerts_sent.load(), d.alerts_suppressed.load(), k.commits.load());
    return rc;
  }
  const SqsSourceCounters& q = source.sqs->counters();
  spdlog::info(
      "stopped: {} messages received, {} deleted, {} failed, {} unknown; {} objects, {} records, "
      "{} alerts sent, {} duplicates suppressed, {} refused",
      q.messages_received.load(), q.messages_deleted.load(), q.messages_failed.load(),
      q.messages_unknown.load(), f.objects_fetched.load(), e.records.load(), d.alerts_sent.load(),
      d.alerts_suppressed.load(), q.notifications_refused.load());
  return rc;
}

}  // namespace trailwarden::cli
