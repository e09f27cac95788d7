#include "outputs/syslog/syslog_config.h"

#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <stdexcept>

#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

// Largest max_message_bytes: a UDP datagram over IPv4; for streams, a sanity bound.
constexpr size_t kUdpMaxMessageBytes = 65507;
constexpr size_t kStreamMaxMessageBytes = size_t{64} << 20;
constexpr size_t kMaxTimeoutMs = 3600000;

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

}  // namespace trailwarden
