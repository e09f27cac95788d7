#include "agent/aws/names.h"

#include <array>
#include <vector>

namespace trailwarden::aws {

namespace {

bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool alnum(char c) { return lower(c) || upper(c) || digit(c); }

// "1.2.3.4": four dot-separated groups of digits only.
bool looks_like_ipv4(std::string_view s) {
  int groups = 1;
  for (char c : s) {
    if (c == '.') ++groups;
    else if (!digit(c)) return false;
  }
  return groups == 4;
}

}  // namespace

bool is_valid_region(std::string_view r) {
  if (r.size() < 4 || r.size() > 32) return false;
  // first word: 2-4 letters
  size_t i = 0;
  while (i < r.size() && lower(r[i])) ++i;
  if (i < 2 || i > 4 || i == r.size() || r[i] != '-') return false;
  size_t words = 0;
  while (true) {
    ++i;  // past '-'
    size_t start = i;
    if (i < r.size() && digit(r[i])) {  // the final number
      while (i < r.size() && digit(r[i])) ++i;
      return words >= 1 && i == r.size() && i - start <= 2;
    }
    while (i < r.size() && lower(r[i])) ++i;
    if (i == start || i == r.size() || r[i] != '-') return false;
    ++words;
  }
}

namespace {

struct PartitionEntry {
  std::string_view prefix;  // of its region names; "" for aws, the default
  Partition partition;
};

// partitions.json of the AWS SDKs (botocore 1.4x): every partition offers FIPS and dual-stack
// endpoints. aws comes first and is the one of any other region name.
constexpr std::array<PartitionEntry, 8> kPartitions{{
    {"", {"aws", "amazonaws.com", "api.aws", true, true}},
    {"cn-", {"aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn", true, true}},
    {"us-gov-", {"aws-us-gov", "amazonaws.com", "api.aws", true, true}},
    {"us-iso-", {"aws-iso", "c2s.ic.gov", "api.aws.ic.gov", true, true}},
    {"us-isob-", {"aws-iso-b", "sc2s.sgov.gov", "api.aws.scloud", true, true}},
    {"us-isof-", {"aws-iso-f", "csp.hci.ic.gov", "api.aws.hci.ic.gov", true, true}},
    {"eu-isoe-", {"aws-iso-e", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk", true, true}},
    {"eusc-", {"aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu", true, true}},
}};

}  // namespace

Partition partition_of(std::string_view region) {
  for (size_t i = 1; i < kPartitions.size(); ++i)
    if (region.starts_with(kPartitions[i].prefix)) return kPartitions[i].partition;
  return kPartitions[0].partition;
}

std::vector<Partition> known_partitions() {
  std::vector<Partition> out;
  for (const auto& e : kPartitions) out.push_back(e.partition);
  return out;
}

bool is_valid_bucket_name(std::string_view b) {
  if (b.size() < 3 || b.size() > 255) return false;
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  char prev = 0;
  for (char c : b) {
    if (!(alnum(c) || c == '.' || c == '-' || c == '_')) return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return !looks_like_ipv4(b);
}

bool is_virtual_host_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63 || !is_valid_bucket_name(b)) return false;
  for (char c : b)
    if (!(lower(c) || digit(c) || c == '-')) return false;
  return true;
}

bool is_valid_account_id(std::string_view id) {
  if (id.size() != 12) return false;
  for (char c : id)
    if (!digit(c)) return false;
  return true;
}

bool is_aws_event_source(std::string_view s) {
  constexpr std::string_view kPrefix = "aws.";
  if (!s.starts_with(kPrefix) || s.size() > 64 || s.size() == kPrefix.size()) return false;
  char prev = '.';
  for (char c : s.substr(kPrefix.size())) {
    if (c == '.' && prev == '.') return false;
    if (!(lower(c) || digit(c) || c == '-' || c == '.')) return false;
    prev = c;
  }
  return prev != '.';
}

}  // namespace trailwarden::aws
