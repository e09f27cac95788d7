// StatusServer: the agent's small HTTP endpoint for operators and orchestrators, served by
// cpp-httplib (Debian libcpp-httplib-dev) on its own threads:
//   GET /metrics  Prometheus text format (MetricsRegistry::render)
//   GET /healthz  liveness: 200 "ok", or 503 with the reason (restart me)
//   GET /readyz   readiness: 200 "ready", or 503 with the reason (not doing its job yet/now)
// Anything else is 404; only GET and HEAD are answered. Start once, stop once; the handlers are
// called from the server's threads and must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace trailwarden {

struct Probe {
  bool ok = true;
  std::string detail;  // one line: what is wrong, or a short summary when ok
};

class StatusServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<Probe()> health;
    std::function<Probe()> ready;
  };
  explicit StatusServer(Handlers handlers);
  ~StatusServer();  // stops

  // Binds "HOST:PORT" ("[v6]:PORT"; port 0 picks a free one) and starts serving. false with
  // `error` when the address cannot be bound.
  bool start(const std::string& listen, std::string& error);
  void stop();
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace trailwarden
