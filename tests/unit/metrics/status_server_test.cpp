// StatusServer over real sockets on 127.0.0.1: probes stay fast while hundreds of idle and
// slow (slowloris) connections are open, and malformed requests get an answer or a close,
// never a crash.
#include "agent/metrics/status_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace trailwarden;
using Clock = std::chrono::steady_clock;

namespace {

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close first (oversized heads): fine
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Everything the server sends until it closes the connection, or until `timeout`.
std::string read_until_close(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left, 1))) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One request on a fresh connection; the whole answer (the server closes after it). With
// `then_eof`, the client stops sending after the request (a request head left incomplete then
// ends at once instead of at the server's deadline).
std::string ask(int port, std::string_view request, bool then_eof = false) {
  int fd = connect_to(port);
  send_all(fd, request);
  if (then_eof) ::shutdown(fd, SHUT_WR);
  std::string answer = read_until_close(fd);
  ::close(fd);
  return answer;
}

std::string status_line(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }

StatusServer::Handlers handlers(std::atomic<int>* health_calls = nullptr) {
  return StatusServer::Handlers{
      [] { return std::string("# TYPE x counter\nx 1\n"); },
      [health_calls] {
        if (health_calls) ++*health_calls;
        return Probe{true, {}};
      },
      [] { return Probe{false, "no successful SQS receive yet"}; }};
}

}  // namespace

TEST_CASE("status server: probes answer within 100 ms with 500 idle and slow connections open") {
  StatusServer server(handlers());
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  const int port = server.port();

  // 400 idle connections (connected, nothing sent) and 100 slowloris ones that send a request
  // head one byte at a time and never finish it.
  std::vector<int> idle, slow;
  for (int i = 0; i < 400; ++i) idle.push_back(connect_to(port));
  const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  for (int i = 0; i < 100; ++i) {
    slow.push_back(connect_to(port));
    send_all(slow.back(), head.substr(0, 1));
  }
  double worst_ms = 0;
  for (int round = 0; round < 10; ++round) {
    for (int fd : slow) send_all(fd, "a");  // the slow ones trickle on between probes
    for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
      const auto t0 = Clock::now();
      const std::string answer =
          ask(port, fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path));
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      worst_ms = std::max(worst_ms, ms);
      CHECK_MESSAGE(ms < 100, std::string(path), " took ", ms, " ms");
      if (std::string_view(path) == "/readyz") {
        CHECK(status_line(answer) == "HTTP/1.1 503 Service Unavailable");
        CHECK(answer.ends_with("not ok: no successful SQS receive yet\n"));
      } else {
        CHECK(status_line(answer) == "HTTP/1.1 200 OK");
      }
    }
  }
  MESSAGE("slowest probe: ", worst_ms, " ms");
  for (int fd : idle) ::close(fd);
  for (int fd : slow) ::close(fd);
  server.stop();
  // Connections were bounded: the oldest of the 500 were closed to make room.
  CHECK(server.stats().connections_evicted.load() > 0);
}

TEST_CASE("status server: a probe arriving in a burst of 300 connects is still answered") {
  // The server thread is held inside a /metrics handler while the burst queues up in the
  // listen backlog, so the probe and 300 idle connects are all waiting together when it
  // resumes (more than max_connections = 128 of them).
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  bool first = true;
  StatusServer::Handlers h = handlers();
  h.metrics = [&] {
    if (first) {
      first = false;
      entered.set_value();
      released.wait();
    }
    return std::string("x 1\n");
  };
  StatusServer server(std::move(h));
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  const int port = server.port();

  int holder = connect_to(port);
  send_all(holder, "GET /metrics HTTP/1.1\r\n\r\n");
  entered.get_future().wait();
  int probe = connect_to(port);
  send_all(probe, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(connect_to(port));
  const auto t0 = Clock::now();
  release.set_value();
  const std::string answer = read_until_close(probe, std::chrono::seconds(5));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  CHECK(status_line(answer) == "HTTP/1.1 200 OK");
  MESSAGE("probe in the burst: ", ms, " ms");
  CHECK_MESSAGE(ms < 100, "the probe took ", ms, " ms");
  CHECK(status_line(read_until_close(holder, std::chrono::seconds(5))) == "HTTP/1.1 200 OK");
  // The burst was bounded: the oldest idle connection is closed to make room for the rest.
  CHECK(read_until_close(idle.front(), std::chrono::seconds(5)).empty());
  CHECK(server.stats().connections_evicted.load() > 0);
  ::close(probe);
  ::close(holder);
  for (int fd : idle) ::close(fd);
}

TEST_CASE("status server: when full, each new connection evicts exactly one older one") {
  StatusServerLimits limits;
  limits.max_connections = 3;
  StatusServer server(handlers(), limits);
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  const int port = server.port();
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(connect_to(port));
  // Two more: one eviction each (not one more per empty look at the backlog). The probe's
  // answer is the event that both were accepted.
  idle.push_back(connect_to(port));
  CHECK(status_line(ask(port, "GET /healthz HTTP/1.1\r\n\r\n")) == "HTTP/1.1 200 OK");
  CHECK(server.stats().connections_evicted.load() == 2);
  for (int fd : idle) ::close(fd);
}

TEST_CASE("status server: a peer that streams after its answer does not hold up probes") {
  StatusServer server(handlers());
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  const int port = server.port();

  // Three streamers take their answer (the server then lingers for their close) and send
  // without pause for up to 3 s, until the server drops them or the probes are done.
  std::atomic<bool> done{false};
  std::atomic<int> streaming{0};
  std::atomic<uint64_t> streamed{0};
  std::vector<std::thread> streamers;
  for (int s = 0; s < 3; ++s)
    streamers.emplace_back([&] {
      int fd = connect_to(port);
      send_all(fd, "GET /healthz HTTP/1.1\r\n\r\n");
      const std::string answer = read_until_close(fd, std::chrono::seconds(5));
      const std::string chunk(256 * 1024, 'z');
      const auto until = Clock::now() + std::chrono::seconds(3);
      bool counted = false;
      while (!done.load() && Clock::now() < until) {
        const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        streamed += static_cast<uint64_t>(n);
        if (!counted) {
          counted = true;
          ++streaming;
          streaming.notify_all();
        }
      }
      ::close(fd);
      if (!counted) {
        ++streaming;
        streaming.notify_all();
      }
    });
  for (int seen = streaming.load(); seen < 3; seen = streaming.load()) streaming.wait(seen);
  double worst_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = Clock::now();
    const std::string answer = ask(port, "GET /healthz HTTP/1.1\r\n\r\n");
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    worst_ms = std::max(worst_ms, ms);
    CHECK(status_line(answer) == "HTTP/1.1 200 OK");
  }
  done = true;
  for (auto& t : streamers) t.join();
  MESSAGE("streamed ", streamed.load() / 1024, " KiB; slowest probe: ", worst_ms, " ms");
  CHECK_MESSAGE(worst_ms < 100, "a probe took ", worst_ms, " ms");
}

TEST_CASE("status server: malformed, oversized and odd requests get an answer, never a crash") {
  std::atomic<int> health_calls{0};
  StatusServer server(handlers(&health_calls));
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  const int port = server.port();

  SUBCASE("a plain probe") {
    const std::string a = ask(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(status_line(a) == "HTTP/1.1 200 OK");
    CHECK(a.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(a.find("\r\nContent-Length: 3\r\n") != std::string::npos);
    CHECK(a.ends_with("\r\n\r\nok\n"));
  }
  SUBCASE("HTTP/1.0, bare LF line ends and a query string") {
    CHECK(status_line(ask(port, "GET /healthz HTTP/1.0\r\n\r\n")) == "HTTP/1.1 200 OK");
    CHECK(status_line(ask(port, "GET /healthz?verbose=1 HTTP/1.0\n\n")) == "HTTP/1.1 200 OK");
  }
  SUBCASE("HEAD has the headers and no body") {
    const std::string a = ask(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    CHECK(status_line(a) == "HTTP/1.1 200 OK");
    CHECK(a.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    CHECK(a.ends_with("\r\n\r\n"));
  }
  SUBCASE("unknown path, other methods, other versions") {
    CHECK(status_line(ask(port, "GET /nope HTTP/1.1\r\n\r\n")) == "HTTP/1.1 404 Not Found");
    const std::string post = ask(port, "POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    CHECK(status_line(post) == "HTTP/1.1 405 Method Not Allowed");
    CHECK(post.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
    CHECK(status_line(ask(port, "GET /healthz HTTP/2.0\r\n\r\n")) ==
          "HTTP/1.1 505 HTTP Version Not Supported");
    CHECK(status_line(ask(port, "GET healthz HTTP/1.1\r\n\r\n")) == "HTTP/1.1 400 Bad Request");
  }
  SUBCASE("binary garbage") {
    std::string garbage;
    for (int i = 0; i < 3000; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    garbage += "\r\n\r\n";
    CHECK(status_line(ask(port, garbage)) == "HTTP/1.1 400 Bad Request");
    CHECK(status_line(ask(port, std::string("\0\0\0\r\n\r\n", 7))) == "HTTP/1.1 400 Bad Request");
  }
  SUBCASE("a huge request head is refused once it passes the limit") {
    std::string huge = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n";
    CHECK(status_line(ask(port, huge)) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(server.stats().requests_refused.load() >= 1);
  }
  SUBCASE("pipelined requests: the first is answered, then the connection closes") {
    const std::string a = ask(port,
                                   "GET /healthz HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n"
                                   "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(status_line(a) == "HTTP/1.1 200 OK");
    CHECK(a.find("HTTP/1.1", 1) == std::string::npos);
    CHECK(health_calls.load() == 1);
  }
  SUBCASE("random bytes, with and without a head terminator, get an answer or a close") {
    std::mt19937 rng(20261203);
    for (int i = 0; i < 300; ++i) {
      std::string data(rng() % 12000, '\0');
      for (char& ch : data) ch = static_cast<char>(rng() & 0xff);
      if (i % 2) data += "\r\n\r\n";
      if (i % 3 == 0) data = "GET /" + data;
      const std::string a = ask(port, data, /*then_eof=*/true);
      CHECK((a.empty() || a.starts_with("HTTP/1.1 ")));
    }
  }
  SUBCASE("a peer that closes at once, or half-way") {
    ::close(connect_to(port));
    int fd = connect_to(port);
    send_all(fd, "GET /hea");
    ::close(fd);
    CHECK(status_line(ask(port, "GET /healthz HTTP/1.1\r\n\r\n")) == "HTTP/1.1 200 OK");
  }
  // The server is still there for the next one.
  CHECK(status_line(ask(port, "GET /healthz HTTP/1.1\r\n\r\n")) == "HTTP/1.1 200 OK");
}

TEST_CASE("status server: a request head that does not complete in time is cut off") {
  StatusServerLimits limits;
  limits.request_timeout = std::chrono::milliseconds(200);
  StatusServer server(handlers(), limits);
  std::string error;
  REQUIRE_MESSAGE(server.start("127.0.0.1:0", error), error);
  int fd = connect_to(server.port());
  send_all(fd, "GET /healthz HTTP/1.1\r\n");
  const auto t0 = Clock::now();
  const std::string a = read_until_close(fd, std::chrono::seconds(5));  // the close is the event
  ::close(fd);
  CHECK(status_line(a) == "HTTP/1.1 408 Request Timeout");
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));
  CHECK(server.stats().connections_timed_out.load() == 1);
}

TEST_CASE("status server: a listen address that cannot be bound is an error") {
  StatusServer first(handlers());
  std::string error;
  REQUIRE(first.start("127.0.0.1:0", error));
  StatusServer second(handlers());
  CHECK_FALSE(second.start(fmt::format("127.0.0.1:{}", first.port()), error));
  CHECK(error.find("cannot listen on 127.0.0.1:") != std::string::npos);
  CHECK_FALSE(second.start("no-port", error));
  CHECK(error.find("is not HOST:PORT") != std::string::npos);
  StatusServer v6(handlers());
  if (v6.start("[::1]:0", error)) {  // where IPv6 loopback exists
    CHECK(v6.port() > 0);
  }
}
