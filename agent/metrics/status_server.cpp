#include "agent/metrics/status_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <cerrno>
#include <cstring>

#include "agent/config/config.h"

namespace trailwarden {

struct StatusServer::Impl {
  httplib::Server server;
  Handlers handlers;
};

StatusServer::StatusServer(Handlers handlers) : impl_(std::make_unique<Impl>()) {
  impl_->handlers = std::move(handlers);
  httplib::Server& s = impl_->server;
  // Small and bounded: two threads, tiny requests, short timeouts.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_payload_max_length(4096);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_keep_alive_max_count(10);
  Impl* impl = impl_.get();
  s.Get("/metrics", [impl](const httplib::Request&, httplib::Response& res) {
    res.set_content(impl->handlers.metrics ? impl->handlers.metrics() : std::string(),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  auto probe = [](const std::function<Probe()>& fn, const char* ok_text) {
    return [fn, ok_text](const httplib::Request&, httplib::Response& res) {
      Probe p = fn ? fn() : Probe{};
      res.status = p.ok ? 200 : 503;
      std::string body = p.ok ? ok_text : "not ok";
      if (!p.detail.empty()) body += ": " + p.detail;
      res.set_content(body + "\n", "text/plain; charset=utf-8");
    };
  };
  s.Get("/healthz", probe(impl_->handlers.health, "ok"));
  s.Get("/readyz", probe(impl_->handlers.ready, "ready"));
}

StatusServer::~StatusServer() { stop(); }

bool StatusServer::start(const std::string& listen, std::string& error) {
  std::string host;
  int port = 0;
  if (!split_host_port(listen, host, port)) {
    error = fmt::format("metrics.listen: \"{}\" is not HOST:PORT", listen);
    return false;
  }
  httplib::Server& s = impl_->server;
  if (port == 0) {
    port = s.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!s.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    error = fmt::format("metrics.listen: cannot listen on {}: {}", listen, std::strerror(errno));
    return false;
  }
  port_ = port;
  thread_ = std::thread([this] { impl_->server.listen_after_bind(); });
  return true;
}

void StatusServer::stop() {
  if (thread_.joinable()) {
    impl_->server.stop();
    thread_.join();
  }
}

}  // namespace trailwarden
