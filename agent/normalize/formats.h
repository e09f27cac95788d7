// Format checks for values copied from a CloudTrail record into typed OCSF attributes, and the
// pieces of an ARN. Pure functions; thread-safe.
#pragma once

#include <string_view>

namespace trailwarden::normalize {

// True if `text` is an IPv4 address in dotted-decimal form or an IPv6 address (inet_pton) and
// fits OCSF's ip_t (at most 40 characters). Service names ("config.amazonaws.com"),
// "AWS Internal", zone ids ("fe80::1%eth0") and anything else are not.
bool is_ip_address(std::string_view text);

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
