// Format checks for values copied from a CloudTrail record into typed OCSF attributes, and the
// pieces of an ARN. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace trailwarden::normalize {

// True if `text` is an IPv4 address in dotted-decimal form or an IPv6 address (inet_pton) and
// fits OCSF's ip_t (at most 40 characters). Service names ("config.amazonaws.com"),
// "AWS Internal", zone ids ("fe80::1%eth0") and anything else are not.
bool is_ip_address(std::string_view text);

// `text` as an OCSF ip_t: itself when is_ip_address(); an IPv6 address too long for ip_t
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") in its canonical form (inet_ntop); empty
// when `text` is no IP address.
std::string ip_value(std::string_view text);

// The fields of "arn:<partition>:<service>:<region>:<account>:<resource>". parse_arn() is
// false when `text` does not have that shape or its partition or service is empty.
struct Arn {
  std::string_view partition;
  std::string_view service;
  std::string_view region;
  std::string_view account;
  std::string_view resource;
};
bool parse_arn(std::string_view text, Arn& out);

}  // namespace trailwarden::normalize
