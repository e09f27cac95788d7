#include "agent/normalize/formats.h"

#include <arpa/inet.h>

#include <string>

namespace trailwarden::normalize {

bool is_ip_address(std::string_view text) {
  if (text.empty() || text.size() > 40) return false;
  const std::string s(text);  // inet_pton needs a NUL-terminated string
  unsigned char buf[16];
  if (s.find(':') != std::string::npos) return inet_pton(AF_INET6, s.c_str(), buf) == 1;
  return inet_pton(AF_INET, s.c_str(), buf) == 1;
}

std::string ip_value(std::string_view text) {
  if (is_ip_address(text)) return std::string(text);
  if (text.size() > 45 || text.find(':') == std::string_view::npos) return {};
  const std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET6, s.c_str(), buf) != 1 || !inet_ntop(AF_INET6, buf, out, sizeof out))
    return {};
  return out;
}

bool parse_arn(std::string_view text, Arn& out) {
  if (!text.starts_with("arn:")) return false;
  std::string_view parts[5];
  size_t pos = 4;
  for (int i = 0; i < 4; ++i) {
    const size_t colon = text.find(':', pos);
    if (colon == std::string_view::npos) return false;
    parts[i] = text.substr(pos, colon - pos);
    pos = colon + 1;
  }
  parts[4] = text.substr(pos);
  if (parts[0].empty() || parts[1].empty() || parts[4].empty()) return false;
  out = {parts[0], parts[1], parts[2], parts[3], parts[4]};
  return true;
}

}  // namespace trailwarden::normalize
