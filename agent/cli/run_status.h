// What `run` shows of itself while it runs: the metrics of every component (each registers its
// own; this adds the process-wide ones), the liveness and readiness probes, the status server's
// switch-over from start-up to the running agent (LiveStatus), and systemd's STATUS= line.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "agent/aws/credentials.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/metrics/metrics.h"
#include "agent/metrics/status_server.h"
#include "agent/sources/kafka/kafka_source.h"
#include "agent/sources/sqs/sqs_source.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden::cli {

// The source `run` reads, as the status reads it: exactly one is set.
struct RunSourceView {
  const SqsSource* sqs = nullptr;
  const kafka::KafkaSource* kafka = nullptr;
  // The source table's shutdown_timeout_seconds: the engine's deadline and the flush budget.
  size_t shutdown_timeout_seconds = 20;
};

// Wall-clock epoch milliseconds.
int64_t now_ms();

// The metrics served from start-up on, also while waiting for AWS credentials.
void register_start_metrics(MetricsRegistry& registry, const aws::CredentialsSource& credentials,
                            int64_t started_ms);
// The metrics of a running agent (docs/monitoring.md lists them). All references must outlive
// `registry`.
void register_metrics(MetricsRegistry& registry, const Engine& engine, const RunSourceView& source,
                      const DeliveryPipeline& outputs, const aws::CredentialsSource& credentials,
                      int64_t started_ms);
// The metrics endpoint's own counters (connections it shed to keep the probes fast).
void register_status_metrics(MetricsRegistry& registry, const StatusServerStats& s);

// Liveness: the poll loop turns and no output failed for good.
Probe health(const Engine& engine, const DeliveryPipeline& outputs, const Config& c);
// Readiness: running, the queue answered recently (Kafka: the source is not fatal), and no
// output buffer is full.
Probe readiness(const Engine& engine, const RunSourceView& source, const DeliveryPipeline& outputs,
                const Config& c);

// One line for systemd's STATUS=.
std::string status_line(const Engine& engine, const RunSourceView& source);

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

}  // namespace trailwarden::cli
