// CurlHttpClient against a local peer that trickles its response: a cancelled request and a
// transfer under the low-speed limit both give up long before the request's timeout.
#include "agent/http/curl_http_client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

using namespace trailwarden;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Accepts one connection, reads the request head, answers 200 with a large Content-Length and
// then sends one byte every 100 ms until the client hangs up or `done` is set.
class TricklePeer {
 public:
  TricklePeer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TricklePeer() {
    done_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  // Blocks until the response is under way (its head and a few body bytes are sent).
  bool wait_streaming() {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 10s, [&] { return sent_ >= 3; });
  }

 private:
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    while (!done_ && ::poll(&p, 1, 50) == 0) {
    }
    if (done_) return;
    const int c = ::accept(fd_, nullptr, nullptr);
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    while (!done_) {
      if (::send(c, "x", 1, MSG_NOSIGNAL) != 1) break;
      {
        std::lock_guard<std::mutex> l(mu_);
        ++sent_;
      }
      cv_.notify_all();
      pollfd q{c, POLLIN, 0};  // the pace of the trickle; a hang-up ends it early
      if (::poll(&q, 1, 100) > 0 && ::recv(c, buf, sizeof buf, MSG_DONTWAIT) == 0) break;
    }
    ::close(c);
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int sent_ = 0;
  std::thread thread_;
};

http::HttpRequest get(int port) {
  http::HttpRequest r;
  r.scheme = "http";
  r.host = "127.0.0.1:" + std::to_string(port);
  r.path = "/bucket/key";
  return r;
}

}  // namespace

TEST_CASE("curl client: a cancelled download gives up within about a second") {
  TricklePeer peer;
  http::CurlHttpClient client;
  std::atomic<bool> cancel{false};
  http::HttpRequest r = get(peer.port());
  r.cancel = &cancel;
  std::thread canceller([&] {
    CHECK(peer.wait_streaming());  // the download is under way (a trickle, never done)
    cancel = true;
  });
  const auto t0 = Clock::now();
  const http::HttpResponse resp = client.perform(r, 60s);
  const auto took = Clock::now() - t0;
  canceller.join();
  CHECK(resp.status == 0);
  CHECK(resp.error == "cancelled");
  CHECK(took < 2500ms);
}

TEST_CASE("curl client: connected tells a lost answer from a peer that never accepted") {
  http::CurlHttpClient client;
  // A listener that never answers: the kernel completes the connection, the answer never comes.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(silent, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  http::HttpResponse resp = client.perform(get(port), 300ms);
  CHECK(resp.error.starts_with("timed out"));
  CHECK(resp.connected);
  ::close(silent);
  // Nothing listens any more: refused, never connected.
  resp = client.perform(get(port), 300ms);
  CHECK(resp.status == 0);
  CHECK_FALSE(resp.error.empty());
  CHECK_FALSE(resp.connected);
}

TEST_CASE("curl client: a transfer under the low-speed limit is abandoned") {
  TricklePeer peer;  // 10 bytes/s
  http::CurlHttpOptions o;
  o.low_speed_bytes = 100;
  o.low_speed_time = 1s;
  http::CurlHttpClient client(o);
  const auto t0 = Clock::now();
  const http::HttpResponse resp = client.perform(get(peer.port()), 60s);
  const auto took = Clock::now() - t0;
  CHECK(resp.status == 0);
  CHECK(resp.error == "too slow: under 100 bytes/s for 1 s");
  CHECK(took < 5s);
}
