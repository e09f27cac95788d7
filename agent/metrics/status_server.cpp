#include "agent/metrics/status_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "agent/config/config.h"

namespace trailwarden {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 4096;
constexpr auto kLingerAfterResponse = std::chrono::milliseconds(1000);
constexpr auto kAcceptPause = std::chrono::milliseconds(100);  // after EMFILE / ENFILE
// Bounded work per event, so that one busy peer or a connect burst cannot hold the thread:
constexpr size_t kMaxLingerReadPerEvent = 64 * 1024;  // discarded from a lingering peer
constexpr size_t kMaxAcceptsPerTurn = 32;

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool allow_header = false;
};

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::string render(const Response& r, bool head) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "{}Connection: close\r\n\r\n",
      r.status, reason(r.status), r.content_type, r.body.size(),
      r.allow_header ? "Allow: GET, HEAD\r\n" : "");
  if (!head) out += r.body;
  return out;
}

Response error_response(int status) {
  Response r;
  r.status = status;
  r.body = fmt::format("{} {}\n", status, reason(status));
  return r;
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// End of the request head ("\r\n\r\n", or "\n\n" from lenient clients), or npos.
size_t head_end(std::string_view in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  return std::min(crlf == std::string_view::npos ? crlf : crlf + 4,
                  lf == std::string_view::npos ? lf : lf + 2);
}

enum class State { kReading, kWriting, kLingering };

struct Connection {
  int fd = -1;
  State state = State::kReading;
  Clock::time_point accepted;
  uint64_t accepted_turn = 0;  // the event-loop turn that accepted it
  Clock::time_point deadline;  // of the current state
  std::string in;
  std::string out;
  size_t sent = 0;
};

}  // namespace

struct StatusServer::Impl {
  Handlers handlers;
  StatusServerLimits limits;
  StatusServerStats* stats = nullptr;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::unordered_map<int, Connection> connections;
  uint64_t turn = 0;  // event-loop turns so far
  Clock::time_point accept_paused_until{};
  bool accept_paused = false;

  ~Impl() {
    for (auto& [fd, c] : connections) ::close(fd);
    for (int fd : {listen_fd, epoll_fd, wake_fd})
      if (fd >= 0) ::close(fd);
  }

  // ---- requests ----
  Response answer(std::string_view head, bool& is_head) {
    const size_t eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
      return error_response(400);
    const std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar) ||
        target.empty() || target.front() != '/' ||
        std::any_of(target.begin(), target.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u <= 0x20 || u >= 0x7f;
        }))
      return error_response(400);
    if (!version.starts_with("HTTP/")) return error_response(400);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return error_response(505);
    if (const size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    Response r;
    if (target != "/metrics" && target != "/healthz" && target != "/readyz") {
      r = error_response(404);
    } else if (method != "GET" && method != "HEAD") {
      r = error_response(405);
      r.allow_header = true;
    } else if (target == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = handlers.metrics ? handlers.metrics() : std::string();
    } else {
      const bool health = target == "/healthz";
      const auto& fn = health ? handlers.health : handlers.ready;
      const Probe p = fn ? fn() : Probe{};
      r.status = p.ok ? 200 : 503;
      r.body = p.ok ? (health ? "ok" : "ready") : "not ok";
      if (!p.detail.empty()) r.body += ": " + p.detail;
      r.body += "\n";
    }
    is_head = method == "HEAD";
    ++stats->requests;
    return r;
  }

  // ---- connections ----
  void close_connection(int fd) {
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections.erase(fd);
  }

  void watch(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  }

  // Queues `response` and starts sending it; the connection closes once it is sent.
  void respond(Connection& c, std::string response) {
    c.out = std::move(response);
    c.sent = 0;
    c.in.clear();
    c.in.shrink_to_fit();
    c.state = State::kWriting;
    c.deadline = Clock::now() + limits.response_timeout;
    watch(c.fd, EPOLLOUT);
    flush(c);
  }

  void refuse(Connection& c, int status) {
    ++stats->requests_refused;
    respond(c, render(error_response(status), false));
  }

  // Sends what it can; when done, stops writing and lingers briefly for the peer's close (so
  // that an unread request byte does not turn our close into a reset that loses the answer).
  void flush(Connection& c) {
    while (c.sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_connection(c.fd);
      return;
    }
    c.out.clear();
    c.out.shrink_to_fit();
    ::shutdown(c.fd, SHUT_WR);
    c.state = State::kLingering;
    c.deadline = Clock::now() + kLingerAfterResponse;
    watch(c.fd, EPOLLIN | EPOLLRDHUP);
  }

  // Reads the request head (bounded by max_request_head_bytes), or while lingering discards at
  // most kMaxLingerReadPerEvent (a peer that keeps sending is read again next turn, and closed
  // at its linger deadline).
  void on_readable(Connection& c) {
    char buf[kReadChunk];
    size_t discarded = 0;
    while (true) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {  // the peer closed (or reset): nothing to answer
        close_connection(c.fd);
        return;
      }
      if (c.state == State::kLingering) {
        discarded += static_cast<size_t>(n);
        if (discarded >= kMaxLingerReadPerEvent) return;  // level-triggered: more next turn
        continue;
      }
      const size_t scan_from = c.in.size() > 3 ? c.in.size() - 3 : 0;
      c.in.append(buf, static_cast<size_t>(n));
      const size_t end = head_end(std::string_view(c.in).substr(scan_from));
      if (end != std::string_view::npos && scan_from + end <= limits.max_request_head_bytes) {
        bool is_head = false;
        Response r;
        try {
          r = answer(std::string_view(c.in).substr(0, scan_from + end), is_head);
        } catch (const std::exception& e) {  // a handler failed (out of memory): say so, go on
          r = error_response(500);
          spdlog::error("metrics endpoint: {}", e.what());
        }
        if (r.status == 400 || r.status == 505) {
          refuse(c, r.status);
        } else {
          respond(c, render(r, is_head));
        }
        return;
      }
      if (c.in.size() > limits.max_request_head_bytes) {
        refuse(c, 431);
        return;
      }
    }
  }

  // The connection to close for a new one: the oldest not sending a response. With
  // `spare_this_turn`, one accepted in this turn is spared: it has not had its chance to be
  // read yet (a probe queued in a connect burst).
  int victim(bool spare_this_turn) const {
    auto best = connections.end();
    for (auto it = connections.begin(); it != connections.end(); ++it)
      if (it->second.state != State::kWriting &&
          !(spare_this_turn && it->second.accepted_turn == turn) &&
          (best == connections.end() || it->second.accepted < best->second.accepted))
        best = it;
    return best == connections.end() ? -1 : best->first;
  }

  void evict(int fd) {
    ++stats->connections_evicted;
    close_connection(fd);
  }

  // Accepts at most kMaxAcceptsPerTurn connections from the backlog (level-triggered epoll
  // reports the rest next turn, after the connections' own events), and reads each at once: a
  // request already sent is answered before the next accept can evict its connection. When
  // full, a new connection evicts the oldest one from an earlier turn; when only this turn's are
  // left, the rest of the backlog waits for the next turn.
  void accept_some() {
    for (size_t accepted = 0; accepted < kMaxAcceptsPerTurn; ++accepted) {
      int make_room = -1;  // evicted once a connection is accepted (the backlog may be empty)
      if (connections.size() >= limits.max_connections) {
        make_room = victim(/*spare_this_turn=*/true);
        if (make_room < 0 &&
            std::any_of(connections.begin(), connections.end(),
                        [](const auto& kv) { return kv.second.state != State::kWriting; }))
          return;  // only this turn's connections could make room: they are read first
      }
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: make room, and stop accepting for a moment (level-triggered
          // epoll would otherwise spin on the pending connection).
          if (const int old = victim(/*spare_this_turn=*/false); old >= 0) evict(old);
          pause_accepting();
        }
        return;
      }
      if (make_room >= 0) {
        evict(make_room);
      } else if (connections.size() >= limits.max_connections) {
        ::close(fd);  // every slot is sending a response: shed the newcomer
        continue;
      }
      Connection c;
      c.fd = fd;
      c.accepted = Clock::now();
      c.accepted_turn = turn;
      c.deadline = c.accepted + limits.request_timeout;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.fd = fd;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      on_readable(connections.emplace(fd, std::move(c)).first->second);
    }
  }

  void pause_accepting() {
    if (accept_paused) return;
    accept_paused = true;
    accept_paused_until = Clock::now() + kAcceptPause;
    watch(listen_fd, 0);
  }

  // Deadlines: answers 408 to a slow request head, drops a stalled response or linger. Returns
  // the time until the next deadline (for epoll_wait).
  int expire() {
    const auto now = Clock::now();
    if (accept_paused && now >= accept_paused_until) {
      accept_paused = false;
      watch(listen_fd, EPOLLIN);
    }
    std::vector<int> due;
    auto next = now + std::chrono::seconds(1);
    if (accept_paused) next = std::min(next, accept_paused_until);
    for (auto& [fd, c] : connections) {
      if (c.deadline <= now) due.push_back(fd);
      else next = std::min(next, c.deadline);
    }
    for (int fd : due) {
      auto it = connections.find(fd);
      if (it == connections.end()) continue;
      Connection& c = it->second;
      if (c.state == State::kReading) {
        ++stats->connections_timed_out;
        refuse(c, 408);  // sent if the socket takes it at once; closed by the next turn anyway
        if (auto again = connections.find(fd); again != connections.end() &&
                                               again->second.state == State::kWriting)
          again->second.deadline = std::min(again->second.deadline, now + kLingerAfterResponse);
      } else {
        if (c.state == State::kWriting) ++stats->connections_timed_out;
        close_connection(fd);
      }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
    return static_cast<int>(std::clamp<int64_t>(ms.count() + 1, 1, 1000));
  }

  void loop() {
    epoll_event events[64];
    int timeout_ms = 1000;
    while (!stopping.load()) {
      const int n = ::epoll_wait(epoll_fd, events, 64, timeout_ms);
      if (n < 0 && errno != EINTR) {
        spdlog::error("metrics endpoint: epoll_wait: {}; the endpoint stops", std::strerror(errno));
        return;
      }
      ++turn;
      bool accept_ready = false;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd) continue;
        if (fd == listen_fd) {
          accept_ready = true;  // after the connections' events: their requests come first
          continue;
        }
        auto it = connections.find(fd);
        if (it == connections.end()) continue;  // closed earlier in this turn
        Connection& c = it->second;
        if (c.state == State::kWriting) {
          if (events[i].events & (EPOLLERR | EPOLLHUP)) close_connection(fd);
          else flush(c);
        } else {
          on_readable(c);  // reads the data, the EOF or the error
        }
      }
      if (accept_ready) accept_some();
      timeout_ms = expire();
    }
  }

  bool bind_listen(const std::string& host, int port, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
      error = ::gai_strerror(rc);
      return false;
    }
    error = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              a->ai_protocol);
      if (fd < 0) {
        error = std::strerror(errno);
        continue;
      }
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        error = std::strerror(errno);
        ::close(fd);
        continue;
      }
      listen_fd = fd;
      break;
    }
    ::freeaddrinfo(found);
    return listen_fd >= 0;
  }
};

StatusServer::StatusServer(Handlers handlers, StatusServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->handlers = std::move(handlers);
  impl_->limits = limits;
  impl_->limits.max_connections = std::max<size_t>(impl_->limits.max_connections, 1);
  impl_->stats = &stats_;
}

StatusServer::~StatusServer() { stop(); }

bool StatusServer::start(const std::string& listen, std::string& error) {
  std::string host;
  int port = 0;
  if (!split_host_port(listen, host, port)) {
    error = fmt::format("metrics.listen: \"{}\" is not HOST:PORT", listen);
    return false;
  }
  if (impl_->listen_fd >= 0 || thread_.joinable()) {
    error = "metrics.listen: the endpoint is already started";
    return false;
  }
  std::string why;
  if (!impl_->bind_listen(host, port, why)) {
    error = fmt::format("metrics.listen: cannot listen on {}: {}", listen, why);
    return false;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  impl_->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->epoll_fd < 0 || impl_->wake_fd < 0) {
    error = fmt::format("metrics.listen: {}", std::strerror(errno));
    return false;
  }
  for (int fd : {impl_->listen_fd, impl_->wake_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
  thread_ = std::thread([this] { impl_->loop(); });
  return true;
}

void StatusServer::stop() {
  if (!thread_.joinable()) return;
  impl_->stopping = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(impl_->wake_fd, &one, sizeof one);
  thread_.join();
  for (auto& [fd, c] : impl_->connections) ::close(fd);
  impl_->connections.clear();
  ::close(impl_->listen_fd);
  impl_->listen_fd = -1;
}

}  // namespace trailwarden
