// StatusServer: the agent's small HTTP/1.1 endpoint for operators and orchestrators:
//   GET /metrics  Prometheus text format (MetricsRegistry::render)
//   GET /healthz  liveness: 200 "ok", or 503 with the reason (restart me)
//   GET /readyz   readiness: 200 "ready", or 503 with the reason (not doing its job yet/now)
// HEAD is answered like GET without the body; other methods get 405, other paths 404, a
// malformed request line 400, an HTTP version other than 1.0/1.1 505. The query string is
// ignored. Every response closes the connection (no keep-alive, no pipelining: a second request
// sent on the same connection is not answered; HTTP clients then reconnect).
//
// Probes must answer within milliseconds whatever else is connected: a liveness probe that
// times out gets the agent killed. So the server is one thread multiplexing every connection
// with epoll, with bounded work per connection:
//   - at most `max_connections` open; a new connection evicts the oldest one still sending its
//     request (idle and slowloris connections cannot lock the probes out), but never one
//     accepted in the same event-loop turn: each gets a turn to be read first;
//   - at most 32 accepts per turn, each read at once, and the backlog's rest after the open
//     connections' events: a probe in a burst of connects is answered, not evicted;
//   - after its response, a connection lingers up to 1 s for the peer's close; what the peer
//     still sends is discarded, at most 64 KiB per turn (a streaming peer cannot hold the thread);
//   - a request head larger than `max_request_head_bytes` is answered 431 and closed;
//   - a request head not complete `request_timeout` after the connect is answered 408 and
//     closed (a byte a second does not keep a connection alive);
//   - a response not taken by the peer within `response_timeout` is abandoned.
// Memory is bounded by max_connections x (head limit + one response).
//
// Why not cpp-httplib (used for this until issue 9): it serves each connection on a pool
// thread for as long as the connection lives. With its bounded pool, two idle keep-alive
// connections held both threads and /healthz took 4.7 s (14 s with 500 connections); an
// unbounded pool costs a thread per connection. It has no per-request deadline across reads
// either, so a slowloris peer holds a thread indefinitely.
//
// Start once, stop once. The handlers run on the server's thread, one at a time; they must not
// block (they read atomics) and must be thread-safe with respect to the rest of the program.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace trailwarden {

struct Probe {
  bool ok = true;
  std::string detail;  // one line: what is wrong, or a short summary when ok
};

struct StatusServerLimits {
  size_t max_connections = 128;
  size_t max_request_head_bytes = 8192;
  std::chrono::milliseconds request_timeout{5000};   // connect to the end of the request head
  std::chrono::milliseconds response_timeout{5000};  // for the peer to take the response
};

// Counters for /metrics (docs/monitoring.md).
struct StatusServerStats {
  std::atomic<uint64_t> requests{0};              // answered with 200, 503, 404 or 405
  std::atomic<uint64_t> requests_refused{0};      // 400, 408, 431, 505: malformed or too slow
  std::atomic<uint64_t> connections_evicted{0};   // closed to make room for a new one
  std::atomic<uint64_t> connections_timed_out{0};  // request head or response too slow
};

class StatusServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<Probe()> health;
    std::function<Probe()> ready;
  };
  explicit StatusServer(Handlers handlers, StatusServerLimits limits = {});
  ~StatusServer();  // stops
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Binds "HOST:PORT" ("[v6]:PORT"; port 0 picks a free one) and starts serving. false with
  // `error` when the address cannot be bound (or the server was started before).
  bool start(const std::string& listen, std::string& error);
  // Closes every connection and the listening socket; joins the thread. Idempotent.
  void stop();
  int port() const { return port_; }
  const StatusServerStats& stats() const { return stats_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  StatusServerStats stats_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace trailwarden
