#include "outputs/splunk_hec/splunk_hec_config.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "agent/http/http.h"

namespace trailwarden {

namespace {

constexpr size_t kMaxSecretFileBytes = 64 << 10;

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws) == std::string::npos ? s.size() : s.find_first_not_of(ws));
  return s;
}

// Reads a small file whole; false with `error` (errno text) otherwise, and the errno of a
// failed open in *err.
bool read_small_file(const std::string& path, std::string& out, std::string& error,
                     int* err = nullptr) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = errno;
    error = std::strerror(errno);
    return false;
  }
  out.clear();
  char buf[4096];
  while (true) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (got == 0) break;
    out.append(buf, static_cast<size_t>(got));
    if (out.size() > kMaxSecretFileBytes) {
      error = fmt::format("larger than {} bytes", kMaxSecretFileBytes);
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

// Fails with the position of `key` in the table. (Positions come from the key, not the value:
// OutputSettings::table is a copy, and toml++ copies keep the source of keys only.)
[[noreturn]] void fail_at(const OutputSettings& s, std::string_view key, const std::string& msg) {
  for (const auto& [k, v] : *s.table)
    if (k.str() == key)
      throw std::runtime_error(fmt::format("{}: {}", toml_where(s.config_file, k.source()), msg));
  throw std::runtime_error(fmt::format("{}: {}", s.origin, msg));
}

// Output names may hold anything; file names get [A-Za-z0-9._-] only.
std::string file_safe(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  if (s.empty() || s[0] == '.') s.insert(0, "_");
  return s;
}

}  // namespace

std::string load_or_create_channel(const std::string& path, std::string& warning) {
  warning.clear();
  std::string content, error;
  int open_errno = 0;
  if (read_small_file(path, content, error, &open_errno)) {
    content = trim(content);
    if (is_guid(content)) return content;
    warning = fmt::format("{} does not hold a channel GUID; replacing it", path);
  } else if (open_errno != ENOENT) {
    warning = fmt::format("cannot read {}: {}; using a new channel", path, error);
  }
  const std::string guid = random_guid();
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  if (ok) {
    const std::string line = guid + "\n";
    ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ok = ::fsync(fd) == 0 && ok;
    ok = ::close(fd) == 0 && ok;
    ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
    if (!ok) ::unlink(tmp.c_str());
  }
  if (!ok) {
    if (!warning.empty()) warning += "; ";
    warning += fmt::format(
        "cannot save the HEC channel in {}: {} (a new channel is used at "
        "every start)",
        path, std::strerror(errno));
  }
  return guid;
}

SplunkHecConfig parse_splunk_hec_config(const OutputSettings& s, const OutputEnv& env) {
  SplunkHecConfig config;
  std::string& ca_file = config.ca_file;
  const toml::table& table = *s.table;
  TomlReader r(s.config_file, table, "outputs");
  mark_common_output_keys(r);
  SplunkHecOptions& o = config.options;
  o.format = s.format;
  std::string url, token, token_env, token_file, sourcetype, channel;
  size_t ack_timeout_seconds = 60, ack_poll_ms = 1000, timeout_ms = 10000;
  r.read("url", url);
  r.read("token", token);
  r.read("token_env", token_env);
  r.read("token_file", token_file);
  r.read("index", o.index);
  r.read("source", o.source);
  r.read("sourcetype", sourcetype);
  r.read("host", o.event_host);
  r.read("gzip", o.gzip);
  r.read("ack", o.ack);
  r.read("channel", channel);
  r.read("ack_timeout_seconds", ack_timeout_seconds, 1);
  r.read("ack_poll_ms", ack_poll_ms, 10);
  r.read("batch_max_bytes", o.batch_max_bytes, 1024);
  r.read("ca_file", ca_file);
  r.read("timeout_ms", timeout_ms, 100);
  r.finish();
  o.ack_timeout = std::chrono::seconds(ack_timeout_seconds);
  o.ack_poll = std::chrono::milliseconds(ack_poll_ms);
  o.timeout = std::chrono::milliseconds(timeout_ms);
  const std::string what = fmt::format("splunk_hec output '{}'", s.name);

  // url
  if (url.empty())
    throw std::runtime_error(
        fmt::format("{}: {} needs url (\"https://splunk.example.com:8088\")", s.origin, what));
  http::HttpRequest endpoint;
  std::string error;
  if (!http::parse_endpoint_url(url, endpoint, error)) fail_at(s, "url", "url: " + error);
  if (endpoint.scheme == "http" && !http::is_loopback_host(endpoint.host))
    fail_at(s, "url",
            "url: plain http would send the HEC token in clear text: use https (http is accepted "
            "for 127.0.0.1 and localhost only)");
  o.scheme = endpoint.scheme;
  o.host = endpoint.host;
  std::string path = endpoint.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path != "/") o.event_path = path;
  if (o.event_path.find("/services/collector/raw") != std::string::npos)
    fail_at(s, "url",
            "url: the raw endpoint is not supported; use "
            "/services/collector/event (or give no path)");
  const size_t base = o.event_path.find("/services/collector");
  if (base != std::string::npos) {
    o.ack_path = o.event_path.substr(0, base) + "/services/collector/ack";
  } else if (o.ack) {
    fail_at(s, "url",
            "url: with ack = true the path must contain /services/collector "
            "(the acknowledgement endpoint is found from it)");
  }

  // token (exactly one source; the value never appears in a message)
  const int sources = !token.empty() + !token_env.empty() + !token_file.empty();
  if (sources != 1) {
    const std::string msg = "set exactly one of token, token_env and token_file";
    for (const char* key : {"token_file", "token_env", "token"})
      if (table.get(key)) fail_at(s, key, msg);
    throw std::runtime_error(fmt::format("{}: {}: {}", s.origin, what, msg));
  }
  if (!token_env.empty()) {
    const char* v = std::getenv(token_env.c_str());
    if (!v || !*v)
      fail_at(s, "token_env",
              fmt::format("token_env: environment variable {} is not set or empty", token_env));
    token = v;
  } else if (!token_file.empty()) {
    if (!read_small_file(token_file, token, error))
      fail_at(s, "token_file", fmt::format("token_file: cannot read {}: {}", token_file, error));
  }
  const char* token_key = !token_env.empty()    ? "token_env"
                          : !token_file.empty() ? "token_file"
                                                : "token";
  o.token = trim(std::move(token));
  if (o.token.empty()) fail_at(s, token_key, fmt::format("{}: the token is empty", token_key));
  register_secret(o.token);  // masked in every log line
  for (char c : o.token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f)
      fail_at(
          s, token_key,
          fmt::format("{}: the token contains spaces, control or non-ASCII characters", token_key));
  }

  // metadata
  if (table.get("sourcetype"))
    o.sourcetype = sourcetype;
  else if (s.format == AlertFormat::kCloudTrail)
    o.sourcetype = "aws:cloudtrail";
  else if (s.format == AlertFormat::kEcs)
    o.sourcetype = "trailwarden:ecs";
  else
    o.sourcetype = "trailwarden:ocsf";
  if (s.format == AlertFormat::kCef)
    throw std::runtime_error(fmt::format(
        "{}: {}: format must be \"ocsf\", \"cloudtrail\" or \"ecs\"", s.origin, what));

  // TLS
  if (!ca_file.empty() && ::access(ca_file.c_str(), R_OK) != 0)
    fail_at(s, "ca_file",
            fmt::format("ca_file: cannot read {}: {}", ca_file, std::strerror(errno)));

  // indexer acknowledgement channel
  if (!channel.empty()) {
    if (!is_guid(channel))
      fail_at(s, "channel", "channel must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    o.channel = channel;
  } else if (o.ack) {
    if (env.state_dir.empty()) {
      o.channel = random_guid();
    } else {
      const std::string file =
          (std::filesystem::path(env.state_dir) / fmt::format("hec-{}.channel", file_safe(s.name)))
              .string();
      std::string warning;
      o.channel = load_or_create_channel(file, warning);
      if (!warning.empty()) spdlog::warn("output {}: {}", s.name, warning);
    }
  }
  return config;
}

std::string random_guid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    std::random_device rd;
    for (auto& c : b) c = static_cast<unsigned char>(rd());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 15]);
  }
  return s;
}

bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace trailwarden
