#include "outputs/syslog/syslog_transport.h"

#include <algorithm>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace trailwarden {

namespace {

using Clock = std::chrono::steady_clock;

// The oldest queued OpenSSL error as text (and the queue cleared); `fallback` if none.
std::string ssl_error(std::string_view fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool is_ip_address(const std::string& host) {
  unsigned char addr[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

// --- A socket BIO that never raises SIGPIPE: OpenSSL's own writes with write(2). ---------------

int bio_fd(BIO* b) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b))); }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::send(bio_fd(b), data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::recv(bio_fd(b), data, static_cast<size_t>(len), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) { return 1; }  // the transport owns the descriptor

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "trailwarden syslog socket");
    if (m) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
      BIO_meth_set_destroy(m, bio_destroy);
    }
    return m;
  }();
  return method;
}

// -----------------------------------------------------------------------------------------------

class SocketTransport final : public SyslogTransport {
 public:
  explicit SocketTransport(const SyslogTransportOptions& options) : options_(options) {
    if (options_.protocol == SyslogProtocol::kTls) make_tls_context();
  }
  ~SocketTransport() override { close(); }
  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  bool datagram() const override { return options_.protocol == SyslogProtocol::kUdp; }

  Connection ensure_connected(std::string& error) override {
    bool lost = false;
    std::string why;
    bool reset = false;
    if (fd_ >= 0 && !datagram() && peer_closed(&why, &reset)) {
      close();
      lost = true;
      if (reset) reset_ = why;
    }
    if (fd_ >= 0) return Connection::kReady;
    if (!connect(error)) return Connection::kFailed;
    return lost ? Connection::kLost : Connection::kConnected;
  }

  bool write(std::string_view data, std::string& error) override {
    if (fd_ < 0) {
      error = "not connected";
      return false;
    }
    const bool ok = datagram() ? send_datagram(data, error)
                    : ssl_     ? write_tls(data, error)
                               : write_tcp(data, error);
    if (!ok) close();
    return ok;
  }

  bool wait_acknowledged(std::string& error) override {
    if (fd_ < 0) {
      error = "not connected";
      return false;
    }
    if (datagram()) return true;
    // There is no event for "the send queue is empty": the queue is looked at after 50 us,
    // then at doubling intervals up to 20 ms, while ppoll() reports a close or reset by the
    // peer at once. On loopback and on a LAN the acknowledgement takes microseconds.
    int last = -1;
    auto progress = Clock::now();
    long interval_us = 50;
    for (;;) {
      int unacked = 0;
      if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0) {
        error = fmt::format("cannot read the send queue of the connection to {}: {}", peer(),
                            std::strerror(errno));
        close();
        return false;
      }
      if (unacked == 0) return true;
      if (cancelled()) {
        error = fmt::format("cancelled with {} bytes written to {} not acknowledged", unacked,
                            peer());
        close();
        return false;
      }
      if (unacked != last) {
        last = unacked;
        progress = Clock::now();
      } else if (Clock::now() - progress >= options_.write_timeout) {
        error = fmt::format("{} bytes written to {} not acknowledged by the receiver within {} ms",
                            unacked, peer(), options_.write_timeout.count());
        close();
        return false;
      }
      pollfd p{fd_, POLLRDHUP, 0};
      const timespec ts{0, interval_us * 1000};
      const int r = ::ppoll(&p, 1, &ts, nullptr);
      if (r > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
        // A receiver that read everything and closed acknowledged it all with its FIN.
        if (!(p.revents & (POLLERR | POLLNVAL)) && ::ioctl(fd_, SIOCOUTQ, &unacked) == 0 &&
            unacked == 0)
          return true;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        error = fmt::format("the connection to {} was {} with {} bytes not acknowledged", peer(),
                            err ? std::strerror(err) : "closed by the receiver", unacked);
        if (ssl_) tls_failed_ = true;  // no close_notify into a dead connection
        close();
        return false;
      }
      interval_us = std::min(interval_us * 2, 20000L);
    }
  }

  bool read(std::string& out, std::chrono::milliseconds wait_at_most,
            std::string& error) override {
    if (fd_ < 0 || datagram()) {
      error = "not connected";
      return false;
    }
    char buf[16384];
    const auto deadline = Clock::now() + wait_at_most;  // for the whole read, however many waits
    // Acknowledge what arrives at once: a receiver that sends its answers as separate small
    // writes with Nagle's algorithm on (librelp) holds the second until the first is
    // acknowledged, and a delayed ACK would cost 40 ms a batch. Linux clears the flag as it
    // goes, so it is set before every read.
    const int one = 1;
    auto waited = [&](short events) {
      if (wait(events, remaining_ms(deadline))) return true;
      error = errno == ECANCELED ? fmt::format("cancelled waiting for {}", peer())
              : errno == ETIMEDOUT
                  ? fmt::format("no answer from {} within {} ms", peer(), wait_at_most.count())
                  : fmt::format("read from {} failed: {}", peer(), std::strerror(errno));
      return false;
    };
    for (;;) {
      ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      if (ssl_) {
        ERR_clear_error();
        errno = 0;  // a clean end of stream is SSL_ERROR_SYSCALL with errno 0
        const int n = SSL_read(ssl_, buf, sizeof buf);
        if (n > 0) {
          out.append(buf, static_cast<size_t>(n));
          return true;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          if (waited(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT)) continue;
          close();
          return false;
        }
        const int saved_errno = errno;
        tls_failed_ = e != SSL_ERROR_ZERO_RETURN;
        error = e == SSL_ERROR_ZERO_RETURN ? fmt::format("{} closed the connection", peer())
                : e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                    ? fmt::format("read from {} failed: {}", peer(),
                                  saved_errno ? std::strerror(saved_errno) : "connection closed")
                    : fmt::format("read from {} failed: {}", peer(), ssl_error("TLS error"));
        ERR_clear_error();
        close();
        return false;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (waited(POLLIN)) continue;
        close();
        return false;
      }
      error = n == 0 ? fmt::format("{} closed the connection", peer())
                     : fmt::format("read from {} failed: {}", peer(), std::strerror(errno));
      close();
      return false;
    }
  }

  bool take_reset(std::string& why) override {
    if (reset_.empty()) return false;
    why = std::move(reset_);
    reset_.clear();
    return true;
  }

  void close() override {
    if (ssl_) {
      ERR_clear_error();
      // Sends close_notify if it can, without waiting for the peer's; not after a fatal error.
      if (!tls_failed_) SSL_shutdown(ssl_);
      SSL_free(ssl_);
      ssl_ = nullptr;
      tls_failed_ = false;
      ERR_clear_error();
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string peer() const override {
    return options_.host.find(':') != std::string::npos
               ? fmt::format("[{}]:{}", options_.host, options_.port)
               : fmt::format("{}:{}", options_.host, options_.port);
  }

 private:
  void make_tls_context() {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) throw std::runtime_error("cannot create a TLS context: " + ssl_error("?"));
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx_.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    const int ok = options_.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_.get())
                                            : SSL_CTX_load_verify_locations(
                                                  ctx_.get(), options_.ca_file.c_str(), nullptr);
    if (ok != 1)
      throw std::runtime_error(
          options_.ca_file.empty()
              ? "cannot load the system's trusted CAs: " + ssl_error("?")
              : fmt::format("cannot load ca_file {}: {}", options_.ca_file, ssl_error("?")));
    if (!options_.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx_.get(), options_.cert_file.c_str()) != 1)
        throw std::runtime_error(
            fmt::format("cannot load cert_file {}: {}", options_.cert_file, ssl_error("?")));
      if (SSL_CTX_use_PrivateKey_file(ctx_.get(), options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error(
            fmt::format("cannot load key_file {}: {}", options_.key_file, ssl_error("?")));
      if (SSL_CTX_check_private_key(ctx_.get()) != 1)
        throw std::runtime_error(fmt::format("key_file {} does not match cert_file {}: {}",
                                             options_.key_file, options_.cert_file,
                                             ssl_error("?")));
    }
    if (!socket_bio_method()) throw std::runtime_error("cannot create a socket BIO method");
  }

  static int remaining_ms(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX));
  }

  // Waits until fd_ is ready for `events`; false on timeout or poll error (errno set).
  // Waits for `events` up to timeout_ms, in slices of at most 100 ms so that cancel() is seen.
  bool wait(short events, int timeout_ms) {
    pollfd p{fd_, events, 0};
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      if (cancelled()) {
        errno = ECANCELED;
        return false;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const int slice = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100));
      const int r = ::poll(&p, 1, slice);
      if (r > 0) return true;
      if (r == 0) {
        if (Clock::now() < deadline) continue;
        errno = ETIMEDOUT;
        return false;
      }
      if (errno != EINTR) return false;
    }
  }

  bool connect(std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = datagram() ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(options_.host.c_str(), options_.port.c_str(), &hints, &res);
    if (rc != 0) {
      error = fmt::format("cannot resolve {}: {}", options_.host, gai_strerror(rc));
      return false;
    }
    const auto deadline = Clock::now() + options_.connect_timeout;
    error.clear();
    for (addrinfo* ai = res; ai && fd_ < 0; ai = ai->ai_next) {
      char ip[INET6_ADDRSTRLEN + 8] = "?";
      ::getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST);
      std::string why;
      if (connect_one(ai, deadline, why)) break;
      error = fmt::format("connect to {} ({}) failed: {}", peer(), ip, why);
    }
    ::freeaddrinfo(res);
    return fd_ >= 0;
  }

  // Connects to one address (and makes the TLS handshake); on success fd_ (and ssl_) are set.
  bool connect_one(const addrinfo* ai, Clock::time_point deadline, std::string& why) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      return false;
    }
    fd_ = fd;
    const auto started = Clock::now();
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        why = std::strerror(errno);
        close();
        return false;
      }
      if (!wait(POLLOUT, remaining_ms(deadline))) {
        why = errno == ETIMEDOUT ? "timed out" : std::strerror(errno);
        close();
        return false;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        why = std::strerror(err);
        close();
        return false;
      }
    }
    if (datagram()) return true;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    connect_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    if (options_.protocol == SyslogProtocol::kTls && !handshake(deadline, why)) {
      close();
      return false;
    }
    return true;
  }

  bool handshake(Clock::time_point deadline, std::string& why) {
    tls_failed_ = true;  // until the handshake completes: no close_notify
    ERR_clear_error();
    ssl_ = SSL_new(ctx_.get());
    BIO* bio = ssl_ ? BIO_new(socket_bio_method()) : nullptr;
    if (!bio) {
      why = "cannot create a TLS session: " + ssl_error("out of memory");
      return false;
    }
    BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd_)));
    SSL_set_bio(ssl_, bio, bio);  // ssl_ owns bio
    const std::string& name =
        options_.tls_server_name.empty() ? options_.host : options_.tls_server_name;
    bool names_ok;
    if (is_ip_address(name)) {
      names_ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      names_ok = SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1 &&
                 SSL_set1_host(ssl_, name.c_str()) == 1;
    }
    if (!names_ok) {
      why = fmt::format("cannot set the TLS server name '{}': {}", name, ssl_error("?"));
      return false;
    }
    cert_requested_ = false;
    SSL_set_cert_cb(
        ssl_,
        [](SSL*, void* requested) -> int {
          *static_cast<bool*>(requested) = true;
          return 1;
        },
        &cert_requested_);
    SSL_set_connect_state(ssl_);
    for (;;) {
      ERR_clear_error();
      const int r = SSL_do_handshake(ssl_);
      if (r == 1) {
        tls_failed_ = false;
        return accepted_after_handshake(deadline, why);
      }
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, remaining_ms(deadline))) {
          why = errno == ETIMEDOUT ? "TLS handshake timed out" : std::strerror(errno);
          return false;
        }
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK)
        why = fmt::format("TLS certificate verification failed (server name '{}'): {}", name,
                          X509_verify_cert_error_string(verify));
      else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        why = errno ? fmt::format("TLS handshake: {}", std::strerror(errno))
                    : "TLS handshake: connection closed by the peer";
      else
        why = "TLS handshake failed: " + ssl_error("connection closed by the peer");
      ERR_clear_error();
      return false;
    }
  }

  // With TLS 1.3 the client's handshake is over before the server has checked the client's
  // certificate: a server that asked for one and refuses it closes the connection one round
  // trip later, and what was written in the meantime is lost. So when the server asked, wait
  // briefly (100 ms plus four times the TCP connect time, within connect_timeout) for such a
  // refusal before the connection is used. A server that accepts sends nothing (rsyslog).
  bool accepted_after_handshake(Clock::time_point deadline, std::string& why) {
    if (!cert_requested_ || SSL_version(ssl_) != TLS1_3_VERSION) return true;
    const int budget =
        std::min<int>(remaining_ms(deadline), 100 + 4 * static_cast<int>(connect_time_.count()));
    if (!wait(POLLIN, budget)) return true;  // nothing arrived: accepted
    std::string reason;
    if (!peer_closed(&reason)) return true;
    why = fmt::format(
        "the server closed the connection after the TLS handshake ({}); is a "
        "client certificate required (cert_file, key_file) or refused?",
        reason);
    return false;
  }

  // True if the peer closed or broke the stream since the last write. A syslog receiver sends
  // nothing, so anything readable is EOF, an error, or TLS housekeeping (session tickets,
  // close_notify), which is read and discarded here. `reset`: the peer reset the connection
  // (RST) rather than closing it (FIN): its kernel had data it threw away unread.
  bool peer_closed(std::string* why = nullptr, bool* reset = nullptr) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    const int r = ::poll(&p, 1, 0);
    if (r <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL) && !(p.revents & POLLIN)) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (why) *why = err ? std::strerror(err) : "connection reset";
      if (reset) *reset = err == ECONNRESET;
      return true;
    }
    char buf[4096];
    for (int i = 0; i < 64; ++i) {
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf, sizeof buf);
        if (n > 0) continue;
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          return false;
        }
        const int saved_errno = errno;
        tls_failed_ = e != SSL_ERROR_ZERO_RETURN;
        if (reset) *reset = e == SSL_ERROR_SYSCALL && saved_errno == ECONNRESET;
        if (why)
          *why = e == SSL_ERROR_ZERO_RETURN ? "close_notify"
                 : e == SSL_ERROR_SYSCALL && saved_errno == ECONNRESET
                     ? std::strerror(ECONNRESET)
                     : ssl_error("connection closed");
        ERR_clear_error();
        return true;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0) {
        if (why) *why = "connection closed";
        return true;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      if (reset) *reset = errno == ECONNRESET;
      if (why) *why = std::strerror(errno);
      return true;
    }
    return false;
  }

  bool send_datagram(std::string_view data, std::string& error) {
    bool refused_once = false;
    for (;;) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        if (static_cast<size_t>(n) == data.size()) return true;
        error = fmt::format("datagram to {} sent in part ({} of {} bytes)", peer(), n, data.size());
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED && !refused_once) {
        // An ICMP port unreachable for an earlier datagram; this one was not sent. UDP has no
        // delivery report: note it, and send this one.
        refused_once = true;
        spdlog::debug("syslog {}: an earlier datagram was refused (ICMP port unreachable)", peer());
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        if (wait(POLLOUT, static_cast<int>(options_.write_timeout.count()))) continue;
      }
      error = fmt::format("send to {} failed: {}", peer(),
                          errno == ETIMEDOUT ? "timed out" : std::strerror(errno));
      return false;
    }
  }

  bool write_tcp(std::string_view data, std::string& error) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (wait(POLLOUT, static_cast<int>(options_.write_timeout.count()))) continue;
      }
      error = fmt::format("write to {} failed: {}", peer(),
                          errno == ETIMEDOUT ? "timed out" : std::strerror(errno));
      return false;
    }
    return true;
  }

  bool write_tls(std::string_view data, std::string& error) {
    while (!data.empty()) {
      ERR_clear_error();
      const int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 20));
      const int n = SSL_write(ssl_, data.data(), chunk);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        if (wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                 static_cast<int>(options_.write_timeout.count())))
          continue;
        error = fmt::format("write to {} failed: {}", peer(),
                            errno == ETIMEDOUT ? "timed out" : std::strerror(errno));
        return false;
      }
      tls_failed_ = true;
      if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        error = fmt::format("write to {} failed: {}", peer(),
                            errno ? std::strerror(errno) : "connection closed");
      else
        error = fmt::format("write to {} failed: {}", peer(), ssl_error("TLS error"));
      ERR_clear_error();
      return false;
    }
    return true;
  }

  SyslogTransportOptions options_;
  // Owned; a unique_ptr so that it is freed when the constructor throws.
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_{nullptr, SSL_CTX_free};
  SSL* ssl_ = nullptr;
  bool tls_failed_ = false;                    // a fatal TLS error happened: no close_notify
  bool cert_requested_ = false;                // the server sent a CertificateRequest
  std::chrono::milliseconds connect_time_{0};  // of the last TCP connect (about one RTT)
  int fd_ = -1;
  std::string reset_;  // why the last connection was reset by the peer, until take_reset()
};

}  // namespace

std::unique_ptr<SyslogTransport> make_syslog_transport(const SyslogTransportOptions& options) {
  return std::make_unique<SocketTransport>(options);
}

}  // namespace trailwarden
