// How `trailwarden run` stops (docs/operations.md, "Stopping"). SIGTERM/SIGINT start the
// shutdown budget (the source table's shutdown_timeout_seconds), shared by the engine (finishing or
// giving back in-flight work) and then the outputs (flushing their buffers); the order is:
// engine, outputs, systemd notifier, status server, signal thread, then one line of totals.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "agent/cli/run_status.h"
#include "agent/cli/signals.h"
#include "agent/cli/systemd_notify.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "agent/metrics/status_server.h"
#include "agent/sources/sqs/sqs_source.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden::cli {

// What a stop signal sets: `stop` ends the engine's run, `requested_ns` is when it came
// (steady clock, ns; 0: not yet). Any thread.
struct StopRequest {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> requested_ns{0};
  // RunSignals' on_stop: logs the signal, tells systemd STOPPING=1, notes the time and sets
  // `cancel_credentials` (a hanging credential refresh must not hold up the shutdown).
  void on_signal(int sig, std::atomic<bool>& cancel_credentials);
};

// The output flush's share of the budget: what SIGTERM's budget has left, at least
// kMinOutputFlush (2 s) so that memory buffers get a chance to drain; after a fatal error (no
// SIGTERM: requested_ns == 0) the whole budget.
std::chrono::milliseconds output_flush_budget(int64_t requested_ns, std::chrono::seconds budget);

// After engine.run() returned `rc`: stops the rest in order and logs the totals. The exit
// status: `rc`, or 1 when an output failed for good.
int shut_down(int rc, const StopRequest& stop, const Engine& engine,
              const RunSourceView& source, DeliveryPipeline& outputs, SystemdNotifier& notifier,
              StatusServer* status, RunSignals& run_signals);

}  // namespace trailwarden::cli
