#include "agent/http/http.h"

#include <algorithm>

namespace trailwarden::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool header_safe(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return false;
  }
  return true;
}

const std::string* HttpRequest::find_header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

void HttpRequest::remove_header(std::string_view name) {
  std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
}

void HttpRequest::set_header(std::string_view name, std::string value) {
  remove_header(name);
  headers.emplace_back(std::string(name), std::move(value));
}

std::string HttpRequest::url() const {
  std::string out = scheme + "://" + host + (path.empty() ? std::string("/") : path);
  char sep = '?';
  for (const auto& [k, v] : query) {
    out += sep;
    out += uri_encode(k);
    out += '=';
    out += uri_encode(v);
    sep = '&';
  }
  return out;
}

const std::string* HttpResponse::find_header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lowercase_name) return &v;
  }
  return nullptr;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool uri_decode(std::string_view s, std::string& out) {
  out.clear();
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string form_encode(const QueryList& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += uri_encode(k);
    out += '=';
    out += uri_encode(v);
  }
  return out;
}

bool parse_endpoint_url(std::string_view url, HttpRequest& request, std::string& error) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    error = "endpoint URL has no scheme (expected http:// or https://)";
    return false;
  }
  std::string scheme = ascii_lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") {
    error = "endpoint URL scheme must be http or https";
    return false;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    error = "endpoint URL must not have a query or fragment";
    return false;
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    error = "endpoint URL must not contain user information";
    return false;
  }
  if (authority.empty()) {
    error = "endpoint URL has no host";
    return false;
  }
  for (char c : authority) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      error = "endpoint URL host contains a space, control or non-ASCII character";
      return false;
    }
  }
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      error = "endpoint URL path must be percent-encoded";
      return false;
    }
  }
  std::string host = ascii_lower(authority);
  std::string_view name = host_without_port(host);
  if (name.empty() || (name.front() == '[' && name.back() != ']')) {
    error = "endpoint URL has no valid host";
    return false;
  }
  if (name.size() < host.size()) {
    std::string_view port = std::string_view(host).substr(name.size() + 1);
    if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) > 65535) {
      error = "endpoint URL has an invalid port";
      return false;
    }
    if ((scheme == "https" && port == "443") || (scheme == "http" && port == "80")) {
      host.resize(name.size());
    }
  }
  request.scheme = std::move(scheme);
  request.host = std::move(host);
  request.path = std::string(path);
  return true;
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool is_loopback_host(std::string_view host) {
  const std::string name = ascii_lower(host_without_port(host));
  if (name == "localhost" || name == "[::1]" || name == "[0:0:0:0:0:0:0:1]") return true;
  // 127.0.0.0/8 in dotted-quad form only.
  int parts = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    std::string_view part = std::string_view(name).substr(start, dot - start);
    if (!all_digits(part) || part.size() > 3 || std::stoi(std::string(part)) > 255) return false;
    if (parts == 0 && part != "127") return false;
    ++parts;
    start = dot + 1;
  }
  return parts == 4;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string printable_excerpt(std::string_view s, size_t max_bytes) {
  std::string out;
  const size_t n = std::min(s.size(), max_bytes);
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : (c == '\n' || c == '\t' ? ' ' : '?');
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

void scrub_secret(std::string& text, std::string_view secret) {
  if (secret.size() < 4) return;
  for (size_t pos = 0; (pos = text.find(secret, pos)) != std::string::npos;) {
    text.replace(pos, secret.size(), "[redacted]");
    pos += 10;
  }
}

}  // namespace trailwarden::http
