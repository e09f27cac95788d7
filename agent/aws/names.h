// Names that arrive in untrusted messages (SQS notifications) and end up in host names, URL
// paths or trust decisions: AWS regions and their partitions, S3 bucket names, account ids,
// EventBridge sources. A name that fails these checks never reaches a request. Pure functions;
// thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace trailwarden::aws {

// An AWS partition: its name as ARNs spell it, the DNS suffixes of its service endpoints and
// the endpoint variants it offers, as the AWS SDKs' partitions.json says (agent/aws/endpoints.h
// builds the host names from them).
struct Partition {
  std::string_view name;                   // "aws", "aws-cn", "aws-us-gov", ...
  std::string_view dns_suffix;             // "amazonaws.com", "amazonaws.com.cn", ...
  std::string_view dual_stack_dns_suffix;  // "api.aws", "api.amazonwebservices.com.cn", ...
  bool supports_fips = true;
  bool supports_dual_stack = true;
};

// A region name as AWS spells them: two to four lowercase letters, one or more dash-separated
// lowercase words, a dash and a number of one or two digits ("us-east-1", "us-gov-west-1",
// "cn-north-1", "eusc-de-east-1"); 32 characters at most. Nothing else (no dots, no ports).
bool is_valid_region(std::string_view region);

// The partition of a valid region: "cn-*" is aws-cn (amazonaws.com.cn), "us-gov-*" aws-us-gov,
// "us-iso-*", "us-isob-*", "us-isof-*", "eu-isoe-*" and "eusc-*" their own partitions, any
// other region aws (amazonaws.com), so that new commercial regions work without a change.
Partition partition_of(std::string_view region);

// Every partition partition_of() knows, aws first.
std::vector<Partition> known_partitions();

// A bucket name S3 may hold: today's rules (3-63 lowercase letters, digits, dots and hyphens)
// or the legacy us-east-1 ones (up to 255 characters, also uppercase letters and underscores);
// beginning and ending with a letter or digit, no two adjacent dots, not an IPv4 address.
// Such a name is safe in a URL path.
bool is_valid_bucket_name(std::string_view bucket);

// A valid bucket name that can be the first label of a virtual-hosted S3 host name (and match
// the TLS certificate's wildcard): 3-63 lowercase letters, digits and hyphens. Others are
// addressed path-style.
bool is_virtual_host_bucket(std::string_view bucket);

// A 12-digit AWS account id.
bool is_valid_account_id(std::string_view id);

// The "source" of an event that an AWS service emitted on EventBridge: "aws." followed by
// dot-separated words of lowercase letters, digits and hyphens ("aws.s3", "aws.config",
// "aws.signin"); 64 characters at most. Custom sources ("com.example", "attacker.custom")
// cannot use the "aws." prefix (EventBridge rejects PutEvents with it).
bool is_aws_event_source(std::string_view source);

}  // namespace trailwarden::aws
