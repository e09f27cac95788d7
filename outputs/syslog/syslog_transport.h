// SyslogTransport: the connection a SyslogOutput writes to: UDP datagrams, or a TCP or TLS
// stream. The interface exists so that the output's delivery logic is unit-tested with a fake;
// make_syslog_transport() builds the real one (POSIX sockets, OpenSSL).
//
// Real transports: non-blocking sockets; connecting is bounded by connect_timeout (DNS
// resolution through getaddrinfo() is not); a write, or the wait for the receiver's TCP
// acknowledgement, fails when it makes no progress for write_timeout. Nothing sleeps
// otherwise (the acknowledgement wait polls the send queue, waking at once if the peer closes).
// SIGPIPE is never raised (send() with MSG_NOSIGNAL, also under TLS, through a socket BIO of
// our own). TLS: TLS 1.2 or later, the peer's
// certificate is always verified (ca_file, or the system's trust store) and so is its name
// (tls_server_name, or the host of the address; an IP address is checked against the
// certificate's IP SANs); a client certificate is presented when cert_file/key_file are set.
// With TLS 1.3, when the server asked for a client certificate, connecting waits briefly for the
// server to refuse it (see accepted_after_handshake in the .cpp) before the connection is used.
//
// Thread-safety: none; used by one thread at a time (the output's delivery thread).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace trailwarden {

enum class SyslogProtocol { kUdp, kTcp, kTls };

struct SyslogTransportOptions {
  SyslogProtocol protocol = SyslogProtocol::kTcp;
  std::string host;                                 // name or IP address (IPv6 without brackets)
  std::string port;                                 // number, as a string (getaddrinfo)
  std::chrono::milliseconds connect_timeout{5000};  // TCP connect and TLS handshake, together
  std::chrono::milliseconds write_timeout{10000};   // longest a write may make no progress
  // TLS only.
  std::string ca_file;          // PEM bundle of trusted CAs; empty: the system's trust store
  std::string cert_file;        // client certificate chain (PEM), for mutual TLS
  std::string key_file;         // its private key (PEM)
  std::string tls_server_name;  // name to verify (and send as SNI); empty: `host`
};

class SyslogTransport {
 public:
  virtual ~SyslogTransport() = default;

  // True if messages travel as datagrams: one write() per message, no framing.
  virtual bool datagram() const = 0;
  enum class Connection {
    kReady,      // the existing connection is usable
    kConnected,  // a new connection was made (first, or after a close)
    kLost,       // the stream had been closed or broken by the peer; a new one was made
    kFailed,     // no connection: `error` says why
  };
  // Makes sure there is a usable connection: a stream found closed or failed by the peer since
  // the last write is closed and connected again.
  virtual Connection ensure_connected(std::string& error) = 0;
  // Writes all of `data` to the stream, or sends it as one datagram. On failure returns false
  // with `error`; the connection is then closed (the next ensure_connected() reconnects).
  // A stream write returns once the kernel has taken the bytes, not once they arrived.
  virtual bool write(std::string_view data, std::string& error) = 0;
  // Streams: waits until the receiver's TCP stack has acknowledged every byte written so far
  // (the kernel's send queue is empty). Fails, with `error`, and closes the connection, when
  // the receiver closes or resets the connection first, or acknowledges nothing more for
  // write_timeout. Datagrams: true at once.
  virtual bool wait_acknowledged(std::string& error) = 0;
  // Streams: appends to `out` what the receiver sent (at least one byte), waiting at most
  // `timeout` for it (RELP answers). On end of stream, an error or that timeout, returns false
  // with `error` and closes the connection.
  virtual bool read(std::string& out, std::chrono::milliseconds timeout, std::string& error) = 0;
  // True, once, after ensure_connected() found that the peer had reset the previous connection
  // (TCP RST) instead of closing it: its kernel threw away bytes the receiver had not read,
  // which may include alerts it had acknowledged. `why`: the error. Whatever the reconnection
  // gave.
  virtual bool take_reset(std::string& why) = 0;
  // Closes the connection, if any (a TLS close_notify is attempted, without waiting).
  virtual void close() = 0;
  // "host:port" (for messages).
  virtual std::string peer() const = 0;
  // While *flag is true, waits (connect, write, acknowledgement) give up within 100 ms with
  // the error "cancelled". Set once, before use; `flag` must outlive the transport.
  void set_cancel(const std::atomic<bool>* flag) { cancel_ = flag; }

 protected:
  bool cancelled() const { return cancel_ && cancel_->load(); }
  const std::atomic<bool>* cancel_ = nullptr;
};

// The real transport. Throws std::runtime_error at start-up when the TLS set-up cannot be made
// (unreadable CA, certificate or key file, key not matching the certificate).
std::unique_ptr<SyslogTransport> make_syslog_transport(const SyslogTransportOptions& options);

}  // namespace trailwarden
