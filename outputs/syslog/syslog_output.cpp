#include "outputs/syslog/syslog_output.h"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

// Stream writes are made in pieces of about this size (a batch can be large).
constexpr size_t kWriteChunk = size_t{256} << 10;
// Largest max_message_bytes: a UDP datagram over IPv4; for streams, a sanity bound.
constexpr size_t kUdpMaxMessageBytes = 65507;
constexpr size_t kStreamMaxMessageBytes = size_t{64} << 20;
constexpr size_t kMaxTimeoutMs = 3600000;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  const int v = std::stoi(std::string(p));
  return v >= 1 && v <= 65535;
}

bool printusascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 33 || static_cast<unsigned char>(c) > 126) return false;
  return true;
}

bool app_name_chars(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool split_host_port(std::string_view address, std::string_view default_port, std::string& host,
                     std::string& port) {
  std::string_view h = address;
  std::string_view p = default_port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return false;
    h = address.substr(1, close - 1);
    std::string_view rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      p = rest.substr(1);
    }
  } else if (const size_t colon = address.find(':'); colon != std::string_view::npos) {
    if (address.find(':', colon + 1) == std::string_view::npos) {
      h = address.substr(0, colon);
      p = address.substr(colon + 1);
    }  // else: a bare IPv6 address, default port
  }
  if (h.empty() || !valid_port(p) || !printusascii(h)) return false;
  host = h;
  port = p;
  return true;
}

SyslogOptions parse_syslog_options(const OutputSettings& s) {
  TomlReader r(s.config_file, *s.table, "outputs");
  mark_common_output_keys(r);
  SyslogOptions o;
  auto& t = o.transport;
  auto& m = o.message;

  std::string text;
  r.read("protocol", text);
  if (text.empty() || text == "tcp")
    t.protocol = SyslogProtocol::kTcp;
  else if (text == "udp")
    t.protocol = SyslogProtocol::kUdp;
  else if (text == "tls")
    t.protocol = SyslogProtocol::kTls;
  else if (text == "relp" || text == "relp-tls") {
    t.protocol = text == "relp" ? SyslogProtocol::kTcp : SyslogProtocol::kTls;
    o.relp = true;
  } else
    r.fail(*s.table->get("protocol"),
           "protocol must be \"udp\", \"tcp\", \"tls\", \"relp\" or \"relp-tls\"");
  const bool udp = t.protocol == SyslogProtocol::kUdp;
  const bool tls = t.protocol == SyslogProtocol::kTls;

  std::string address;
  r.read("address", address);
  if (!s.table->get("address"))
    throw std::runtime_error(
        fmt::format("{}: syslog output '{}' needs an address (\"host:port\")", s.origin, s.name));
  if (!split_host_port(address, o.relp ? "2514" : tls ? "6514" : "514", t.host, t.port))
    r.fail(*s.table->get("address"),
           fmt::format("address '{}' is not \"host:port\" (or \"[ipv6]:port\"; port 1-65535)",
                       address));

  if (const toml::node* n = r.get("rfc")) {
    std::string v;
    if (n->is_string())
      v = *n->value<std::string>();
    else if (n->is_integer())
      v = std::to_string(*n->value<int64_t>());
    if (v == "5424")
      m.rfc = SyslogRfc::k5424;
    else if (v == "3164")
      m.rfc = SyslogRfc::k3164;
    else
      r.fail(*n, "rfc must be \"5424\" or \"3164\"");
  }

  o.framing = udp || o.relp ? SyslogFraming::kNone : SyslogFraming::kOctetCounting;
  if (const toml::node* n = r.get("framing")) {
    if (udp)
      r.fail(*n, "framing applies to protocol \"tcp\" and \"tls\" (a datagram is one message)");
    if (o.relp)
      r.fail(*n, "framing applies to protocol \"tcp\" and \"tls\" (RELP has its own)");
    const auto v = n->value<std::string>();
    if (v && *v == "octet-counting")
      o.framing = SyslogFraming::kOctetCounting;
    else if (v && *v == "newline")
      o.framing = SyslogFraming::kNewline;
    else
      r.fail(*n, "framing must be \"octet-counting\" or \"newline\"");
  }

  if (const toml::node* n = r.get("facility")) {
    bool ok = false;
    if (n->is_integer()) {
      const int64_t v = *n->value<int64_t>();
      ok = v >= 0 && v <= 23;
      if (ok) m.facility = static_cast<int>(v);
    } else if (n->is_string()) {
      ok = parse_syslog_facility(*n->value<std::string>(), m.facility);
    }
    if (!ok)
      r.fail(*n,
             "facility must be 0-23 or a name (kern, user, mail, daemon, auth, syslog, lpr, news, "
             "uucp, cron, authpriv, ftp, ntp, audit, local0-local7)");
  }

  r.read("app_name", m.app_name);
  const size_t app_max = m.rfc == SyslogRfc::k3164 ? kSyslogMaxTag : kSyslogMaxAppName;
  if (m.app_name.empty() || m.app_name.size() > app_max || !app_name_chars(m.app_name))
    r.fail(*s.table->get("app_name"),
           fmt::format("app_name must be 1-{} characters among letters, digits, '_', '-', '.'",
                       app_max));

  if (s.table->get("hostname")) {
    r.read("hostname", m.hostname);
    if (m.hostname.empty() || m.hostname.size() > kSyslogMaxHostname || !printusascii(m.hostname))
      r.fail(*s.table->get("hostname"),
             "hostname must be 1-255 printable ASCII characters without spaces");
  } else {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) m.hostname = buf;  // sanitized by the formatter
  }

  for (const char* key : {"ca_file", "cert_file", "key_file", "tls_server_name"}) {
    if (const toml::node* n = r.get(key); n && !tls)
      r.fail(*n, fmt::format("{} applies to protocol \"tls\" and \"relp-tls\" only", key));
  }
  r.read("ca_file", t.ca_file);
  r.read("cert_file", t.cert_file);
  r.read("key_file", t.key_file);
  r.read("tls_server_name", t.tls_server_name);
  if (t.cert_file.empty() != t.key_file.empty())
    r.fail(*s.table->get(t.cert_file.empty() ? "key_file" : "cert_file"),
           "cert_file and key_file go together (mutual TLS)");

  m.max_message_bytes = udp ? (m.rfc == SyslogRfc::k3164 ? 1024 : 2048) : 65536;
  r.read("max_message_bytes", m.max_message_bytes, kSyslogMinMessageBytes);
  const size_t max = udp ? kUdpMaxMessageBytes : kStreamMaxMessageBytes;
  if (m.max_message_bytes > max)
    r.fail(*s.table->get("max_message_bytes"),
           fmt::format("max_message_bytes must be at most {}{}", max,
                       udp ? " (the largest UDP datagram)" : ""));

  for (auto [key, value] : {std::pair{"connect_timeout_ms", &t.connect_timeout},
                            std::pair{"write_timeout_ms", &t.write_timeout}}) {
    size_t ms = static_cast<size_t>(value->count());
    r.read(key, ms, 1);
    if (ms > kMaxTimeoutMs)
      r.fail(*s.table->get(key),
             fmt::format("{} must be at most {} (an hour)", key, kMaxTimeoutMs));
    *value = std::chrono::milliseconds(ms);
  }
  r.finish();

  m.format = s.format;
  m.procid = std::to_string(::getpid());
  return o;
}

SyslogOutput::SyslogOutput(std::string name, SyslogOptions options,
                           std::unique_ptr<SyslogTransport> transport,
                           std::function<int64_t()> now_ms)
    : name_(std::move(name)),
      options_(std::move(options)),
      transport_(std::move(transport)),
      now_ms_(now_ms ? std::move(now_ms) : std::function<int64_t()>(system_now_ms)),
      formatter_(options_.message) {
  transport_->set_cancel(&cancelled_);
  if (transport_->datagram() || options_.relp)
    options_.framing = SyslogFraming::kNone;
  else if (options_.framing == SyslogFraming::kNone)
    options_.framing = SyslogFraming::kOctetCounting;
}

SyslogOutput::~SyslogOutput() {
  if (options_.relp) relp_close();
}

void SyslogOutput::reopen() {
  if (options_.relp)
    relp_close();
  else
    transport_->close();
}

void SyslogOutput::relp_close() {
  // Only once a session was opened and with nothing left unread (on a connection closed since,
  // the write fails, harmlessly); the receiver's answer is not waited for (rsyslog logs a
  // session closed this way as a normal end, not as a broken one).
  if (relp_txnr_ != 0 && relp_reader_.empty()) {
    std::string frame, ignored;
    relp::append_frame(relp::next_txnr(relp_txnr_), "close", "", frame);
    transport_->write(frame, ignored);
  }
  relp_txnr_ = 0;
  relp_reader_.clear();
  transport_->close();
}

DeliveryResult SyslogOutput::retry(std::string message) {
  if (!failing_) spdlog::debug("output {}: {}", name_, message);
  failing_ = true;
  DeliveryResult r;
  r.status = DeliveryResult::Status::kRetry;
  r.message = std::move(message);
  return r;
}

bool SyslogOutput::format(const AlertRecord& alert, size_t i, int64_t now) {
  switch (formatter_.format(alert, now, message_)) {
    case SyslogFormatter::Outcome::kFull:
      return true;
    case SyslogFormatter::Outcome::kSummary:
      if (!warned_summary_) {
        warned_summary_ = true;
        spdlog::warn(
            "output {}: alerts over max_message_bytes ({}) are sent as summaries "
            "(first: finding {}); see docs/outputs.md",
            name_, options_.message.max_message_bytes, alert.uid);
      } else {
        spdlog::debug("output {}: finding {} sent as a summary", name_, alert.uid);
      }
      ++summarized_in_batch_;
      return true;
    case SyslogFormatter::Outcome::kTooLarge:
      too_large_.push_back(i);
      return false;
  }
  return false;
}

DeliveryResult SyslogOutput::finish() {
  counters_.summarized += summarized_in_batch_;
  if (failing_) spdlog::info("output {}: delivering to {} again", name_, transport_->peer());
  failing_ = false;
  DeliveryResult r;
  if (too_large_.empty()) return r;
  counters_.too_large += too_large_.size();
  r.status = DeliveryResult::Status::kReject;
  r.message = fmt::format("{} alert(s) over max_message_bytes ({}) even as a summary",
                          too_large_.size(), options_.message.max_message_bytes);
  r.items = too_large_;
  return r;
}

DeliveryResult SyslogOutput::send(const std::vector<const AlertRecord*>& batch) {
  too_large_.clear();
  summarized_in_batch_ = 0;
  std::string error;
  if (options_.relp && !relp_reader_.empty()) {
    // Bytes left over from the last batch (an answer sent twice): the session is out of step.
    // A new one, rather than mistaking them for answers to this batch.
    spdlog::info("output {}: {} sent more than the answers expected; opening a new RELP session",
                 name_, transport_->peer());
    transport_->close();
  }
  const SyslogTransport::Connection connection = transport_->ensure_connected(error);
  if (std::string why; transport_->take_reset(why)) {
    ++counters_.resets;
    if (options_.relp)  // whatever the receiver threw away was never answered: sent again
      spdlog::info("output {}: {} reset the connection ({}); unanswered messages are sent again",
                   name_, transport_->peer(), why);
    else  // alerts its kernel had acknowledged, counted delivered, may be among what it threw
      spdlog::warn(  // away; nothing says which (see docs/outputs.md)
          "output {}: {} reset the connection ({}): alerts written to it shortly before may have "
          "been lost unread (syslog over TCP has no acknowledgement; see docs/outputs.md)",
          name_, transport_->peer(), why);
  }
  switch (connection) {
    case SyslogTransport::Connection::kReady:
      break;
    case SyslogTransport::Connection::kConnected:
      ++counters_.connects;
      if (connected_before_)
        spdlog::info("output {}: reconnected to {}", name_, transport_->peer());
      else
        spdlog::info("output {}: connected to {}", name_, transport_->peer());
      connected_before_ = true;
      break;
    case SyslogTransport::Connection::kLost:
      ++counters_.connects;
      spdlog::info("output {}: the connection to {} was closed by the receiver; reconnected", name_,
                   transport_->peer());
      break;
    case SyslogTransport::Connection::kFailed:
      ++counters_.connect_failures;
      return retry(std::move(error));
  }
  const int64_t now = now_ms_();
  if (options_.relp)
    return send_relp(batch, now, connection != SyslogTransport::Connection::kReady);
  return transport_->datagram() ? send_datagrams(batch, now) : send_stream(batch, now);
}

DeliveryResult SyslogOutput::send_datagrams(const std::vector<const AlertRecord*>& batch,
                                            int64_t now) {
  std::string error;
  uint64_t sent = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!format(*batch[i], i, now)) continue;
    if (!transport_->write(message_, error)) {
      counters_.sent += sent;
      ++counters_.write_failures;
      // This alert and the rest are sent again; so are the ones found too large, which are
      // rejected on the attempt that delivers everything else.
      DeliveryResult r = retry(std::move(error));
      r.items = too_large_;
      for (size_t k = i; k < batch.size(); ++k) r.items.push_back(k);
      return r;
    }
    ++sent;
  }
  counters_.sent += sent;
  return finish();
}

DeliveryResult SyslogOutput::send_stream(const std::vector<const AlertRecord*>& batch,
                                         int64_t now) {
  std::string error;
  uint64_t framed = 0;
  buffer_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!format(*batch[i], i, now)) continue;
    append_syslog_frame(options_.framing, message_, buffer_);
    ++framed;
    if (buffer_.size() >= kWriteChunk || i + 1 == batch.size()) {
      if (!transport_->write(buffer_, error)) {
        ++counters_.write_failures;
        return retry(std::move(error));  // the whole batch: TCP cannot tell what arrived
      }
      buffer_.clear();
    }
  }
  if (!buffer_.empty() && !transport_->write(buffer_, error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  // Written is not delivered: until the receiver's TCP has acknowledged them, the bytes are in
  // this host's send queue and die with the connection (a receiver that hangs, a host or a
  // network that goes away), while the batch would be counted delivered.
  if (framed > 0 && !transport_->wait_acknowledged(error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  counters_.sent += framed;
  return finish();
}

bool SyslogOutput::relp_read(relp::Frame& frame, std::chrono::steady_clock::time_point deadline,
                             std::string& error) {
  for (;;) {
    switch (relp_reader_.next(frame, error)) {
      case relp::FrameReader::Result::kFrame:
        if (frame.command == "serverclose") {
          error = fmt::format("{} ended the RELP session (serverclose)", transport_->peer());
          transport_->close();
          return false;
        }
        return true;
      case relp::FrameReader::Result::kError:
        error = fmt::format("{}: {}", transport_->peer(), error);
        transport_->close();
        return false;
      case relp::FrameReader::Result::kNeedMore:
        break;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    buffer_.clear();
    if (left.count() <= 0 || !transport_->read(buffer_, left, error)) {
      if (std::chrono::steady_clock::now() >= deadline)  // not an error of the connection's
        error = fmt::format("no answer from {} within write_timeout_ms ({} ms)",
                            transport_->peer(), options_.transport.write_timeout.count());
      transport_->close();
      return false;
    }
    relp_reader_.feed(buffer_);
  }
}

bool SyslogOutput::relp_open(std::string& error) {
  relp_reader_.clear();
  relp_txnr_ = 1;
  buffer_.clear();
  relp::append_frame(relp_txnr_, "open", relp::open_offers(TRAILWARDEN_VERSION), buffer_);
  if (!transport_->write(buffer_, error)) return false;
  relp::Frame frame;
  if (!relp_read(frame, std::chrono::steady_clock::now() + options_.transport.write_timeout, error))
    return false;
  relp::Response rsp;
  const bool answer = frame.command == "rsp" && frame.txnr == relp_txnr_;
  if (!answer || !relp::parse_response(frame.data, rsp)) {
    error = fmt::format("{} answered the RELP open with \"{} {}\": is it a RELP receiver?",
                        transport_->peer(), frame.txnr, frame.command);
    transport_->close();
    return false;
  }
  if (rsp.code != 200) {
    error = fmt::format("{} refused the RELP session: {} {}", transport_->peer(), rsp.code,
                        rsp.text);
    transport_->close();
    return false;
  }
  const size_t offers = frame.data.find('\n');
  if (offers == std::string::npos || !relp::offers_syslog(std::string_view(frame.data).substr(offers + 1))) {
    error = fmt::format("{} does not offer the RELP syslog command", transport_->peer());
    transport_->close();
    return false;
  }
  return true;
}

DeliveryResult SyslogOutput::send_relp(const std::vector<const AlertRecord*>& batch, int64_t now,
                                       bool new_connection) {
  // Messages are sent in windows: a window is written, then its answers are read (they are a
  // few bytes each, so the receiver never blocks writing them while we write).
  constexpr size_t kWindow = 128;
  std::string error;
  if (new_connection && !relp_open(error)) {
    ++counters_.write_failures;
    return retry(std::move(error));
  }
  std::vector<size_t> again;  // answered with an error: sent again by the pipeline
  std::vector<std::pair<uint32_t, size_t>> pending;  // (txnr, index in batch), in order
  uint64_t acked = 0;
  // kRetry for everything not answered 200 (answered with an error, unanswered, not yet sent),
  // and for the alerts found too large, rejected on the attempt that delivers the rest.
  auto give_back = [&](std::string message, size_t next_unsent) {
    counters_.sent += acked;
    DeliveryResult r = retry(std::move(message));
    r.items = too_large_;
    r.items.insert(r.items.end(), again.begin(), again.end());
    for (const auto& p : pending) r.items.push_back(p.second);
    for (size_t k = next_unsent; k < batch.size(); ++k) r.items.push_back(k);
    std::sort(r.items.begin(), r.items.end());
    return r;
  };
  // The connection failed (and is closed).
  auto broken = [&](size_t next_unsent) {
    ++counters_.write_failures;
    return give_back(std::move(error), next_unsent);
  };
  std::string answer_text;  // the first error answer, for the message
  size_t i = 0;
  while (i < batch.size()) {
    buffer_.clear();
    pending.clear();
    for (; i < batch.size() && pending.size() < kWindow; ++i) {
      if (!format(*batch[i], i, now)) continue;
      relp_txnr_ = relp::next_txnr(relp_txnr_);
      relp::append_frame(relp_txnr_, "syslog", message_, buffer_);
      pending.emplace_back(relp_txnr_, i);
    }
    if (pending.empty()) continue;
    if (!transport_->write(buffer_, error)) return broken(i);
    // The answers to a window must all come within write_timeout_ms.
    const auto deadline = std::chrono::steady_clock::now() + options_.transport.write_timeout;
    while (!pending.empty()) {
      relp::Frame frame;
      if (!relp_read(frame, deadline, error)) return broken(i);
      auto it = std::find_if(pending.begin(), pending.end(),
                             [&](const auto& p) { return p.first == frame.txnr; });
      relp::Response rsp;
      if (frame.command != "rsp" || it == pending.end() || !relp::parse_response(frame.data, rsp)) {
        error = fmt::format("{} sent an unexpected RELP frame \"{} {}\"", transport_->peer(),
                            frame.txnr, frame.command);
        transport_->close();
        return broken(i);
      }
      if (rsp.code == 200) {
        ++acked;
      } else {
        again.push_back(it->second);
        ++counters_.refused;
        if (answer_text.empty()) answer_text = fmt::format("{} {}", rsp.code, rsp.text);
      }
      pending.erase(it);
    }
  }
  if (!again.empty())
    return give_back(fmt::format("{} answered {} of {} messages with an error: {}",
                                 transport_->peer(), again.size(), batch.size(), answer_text),
                     batch.size());
  counters_.sent += acked;
  return finish();
}

}  // namespace trailwarden
