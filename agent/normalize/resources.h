// The resources a CloudTrail record names, for the finding's resources[] (docs/alerts.md,
// "Resources"). Stateless; thread-safe.
//
// From the record's own `resources` array when it has one with usable entries: each object
// entry with an `ARN` (or `arn`) becomes a resource (uid = the ARN, type, owner account from
// `accountId` / `accountID`, partition and region from the ARN). Entries that are not objects or
// have no ARN are skipped (the record in raw_data still has them); a `resources` that is not an
// array is ignored.
//
// Otherwise derived from requestParameters / responseElements for the services the built-in CIS
// rules cover (AWS Config, CloudTrail, S3, EC2 network objects, KMS, IAM, Organizations). The
// uid is an ARN only when it can be built exactly (S3 bucket names; EC2 ids with their type's
// prefix and KMS key ids in the record's partition, region and recipient account, when the call
// succeeded, the caller's account is the recipient and the type cannot be shared (not a VPC);
// ARNs the record itself gives, of the expected service and resource type); otherwise the id as
// the record gives it, or only a name. An EC2 id of another type, or an ARN of another kind,
// is not the resource. Nothing is guessed: no value, no resource.
//
// A resource whose uid is an ARN from the record has partition (a known one), region and
// account only as that ARN says them, never the record's.
//
// At most kMaxResources resources; values longer than kMaxValueBytes are skipped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace simdjson::dom {
class element;
}

namespace trailwarden::normalize {

struct Resource {
  std::string uid;        // ARN or id; empty if only the name is known
  std::string name;       // empty if unknown
  std::string type;       // CloudFormation-style: "AWS::EC2::SecurityGroup"
  std::string region;     // empty for global resources or when unknown
  std::string partition;  // "aws", "aws-cn", ...; empty when unknown
  std::string account;    // owner account id; empty when unknown
};

inline constexpr size_t kMaxResources = 16;
inline constexpr size_t kMaxValueBytes = 1024;

// The resources of `record` (null: none), in the order described above, without duplicates.
std::vector<Resource> collect_resources(const simdjson::dom::element* record);

}  // namespace trailwarden::normalize
