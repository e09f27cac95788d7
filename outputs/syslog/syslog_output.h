// SyslogOutput: alerts to a syslog receiver (rsyslog, syslog-ng, a SIEM's collector) over UDP
// (RFC 5426), TCP (RFC 6587) or TLS (RFC 5425), one syslog message per alert, RFC 5424 (default)
// or RFC 3164 headers; the message is the alert as OCSF JSON (default), CloudTrail JSON, or CEF.
// Message layout, escaping and the size policy: outputs/syslog/syslog_message.h.
//
// Delivery (see DeliveryResult):
//   TCP, TLS  send() writes the whole batch, framed (octet counting by default, or newline).
//             Syslog has no application-level acknowledgement: a batch counts as delivered
//             once it is written and the receiver's TCP stack has acknowledged every byte of
//             it (the send queue is empty; under TLS, of the encrypted bytes). Before each
//             batch the connection is checked; one the receiver has closed (a restart) is
//             reconnected first. If connecting, writing or that acknowledgement fails (refused,
//             reset, closed, write_timeout without progress), the connection is closed and the
//             whole batch is kRetry: the pipeline backs off and sends it again on a new
//             connection (at-least-once: alerts written before the failure may arrive twice;
//             the finding uid de-duplicates). What the receiver's kernel acknowledged but the
//             receiver had not yet read or stored when it died is lost: TCP cannot tell (see
//             docs/outputs.md); use a receiver with a disk queue for important paths.
//   UDP       one datagram per alert; delivered when sent (UDP has no delivery report). A
//             send that fails (no route, buffer full past write_timeout) is kRetry for that
//             alert and those after it.
//   Oversize  an alert over max_message_bytes is sent as a marked summary; if even that does not
//             fit, the alert is kReject (dead-lettered by the pipeline) once the rest of the
//             batch is delivered, and counted.
// send() never sleeps: it blocks at most for connect_timeout plus write_timeout per write
// without progress. It never throws.
//
// Thread-safety: send() and reopen() are called by one thread at a time (see Output);
// counters() may be read from any thread. Owns its transport.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "outputs/factory.h"
#include "outputs/output.h"
#include "outputs/syslog/relp.h"
#include "outputs/syslog/syslog_message.h"
#include "outputs/syslog/syslog_transport.h"

namespace trailwarden {

struct SyslogOptions {
  SyslogTransportOptions transport;  // protocol, address, timeouts, TLS files
  SyslogMessageOptions message;      // RFC, facility, header fields, format, size limit
  // Stream framing (TCP, TLS); kNone for UDP.
  SyslogFraming framing = SyslogFraming::kOctetCounting;
  // RELP over the TCP or TLS stream (protocol "relp", "relp-tls"): every message answered.
  bool relp = false;
};

struct SyslogCounters {
  std::atomic<uint64_t> sent{0};        // messages the receiver's TCP acknowledged / datagrams sent
  std::atomic<uint64_t> summarized{0};  // over max_message_bytes, sent as a summary
  std::atomic<uint64_t> too_large{0};   // not even the summary fits: rejected
  std::atomic<uint64_t> connects{0};    // connections made (UDP: sockets connected)
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> resets{0};  // connections the receiver reset (it threw data away unread)
  std::atomic<uint64_t> write_failures{0};  // batches given back as kRetry after a write failed
  std::atomic<uint64_t> refused{0};  // RELP: messages the receiver answered with an error
};

class SyslogOutput final : public Output {
 public:
  // `now_ms` gives the message timestamps (Unix ms); empty: the system clock.
  SyslogOutput(std::string name, SyslogOptions options, std::unique_ptr<SyslogTransport> transport,
               std::function<int64_t()> now_ms = {});

  ~SyslogOutput() override;
  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override;
  // SIGHUP: close the connection; the next send() connects again (picks up DNS changes).
  void reopen() override;
  void cancel() override { cancelled_ = true; }  // waits on a hung receiver give up

  const SyslogCounters& counters() const { return counters_; }
  const SyslogOptions& options() const { return options_; }

 private:
  DeliveryResult send_datagrams(const std::vector<const AlertRecord*>& batch, int64_t now);
  DeliveryResult send_stream(const std::vector<const AlertRecord*>& batch, int64_t now);
  DeliveryResult send_relp(const std::vector<const AlertRecord*>& batch, int64_t now,
                           bool new_connection);
  // RELP: opens the session on a new connection; false (connection closed) with `error`.
  bool relp_open(std::string& error);
  // RELP: reads the next frame from the receiver, waiting until `deadline`; false (connection
  // closed) with `error`.
  bool relp_read(relp::Frame& frame, std::chrono::steady_clock::time_point deadline,
                 std::string& error);
  // RELP: ends the session politely (a "close" command, not waited for) and the connection.
  void relp_close();
  // Formats alert i into message_; false (and i added to too_large_) when it cannot be sent.
  bool format(const AlertRecord& alert, size_t i, int64_t now);
  // kReject for too_large_ (or kDelivered when empty) once everything else is delivered.
  DeliveryResult finish();
  DeliveryResult retry(std::string message);

  std::string name_;
  SyslogOptions options_;
  std::unique_ptr<SyslogTransport> transport_;
  std::atomic<bool> cancelled_{false};
  std::function<int64_t()> now_ms_;
  SyslogFormatter formatter_;
  SyslogCounters counters_;
  bool connected_before_ = false;  // for "reconnected" log lines
  bool failing_ = false;           // the last send failed (log state changes once)
  bool warned_summary_ = false;
  uint64_t summarized_in_batch_ = 0;  // counted once the batch is delivered
  uint32_t relp_txnr_ = 0;  // the last transaction number used on this connection
  relp::FrameReader relp_reader_;
  // Scratch, reused between sends.
  std::string message_;
  std::string buffer_;
  std::vector<size_t> too_large_;
};

}  // namespace trailwarden
