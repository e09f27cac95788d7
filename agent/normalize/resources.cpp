#include "agent/normalize/resources.h"

#include <simdjson.h>

#include <algorithm>
#include <initializer_list>

#include "agent/aws/names.h"
#include "agent/normalize/formats.h"
#include "agent/normalize/record_access.h"

namespace trailwarden::normalize {

namespace dom = simdjson::dom;

namespace {

using Path = std::initializer_list<std::string_view>;

// How a derived resource's uid is made from the id the record gives.
enum class Uid {
  kId,   // the id as given (no ARN can be built exactly)
  kEc2,  // an EC2 id with the type's id_prefix: arn:<p>:ec2:<region>:<account>:<arn_prefix>/<id>
         // when the owner is certain (Context::owner_certain) and the type cannot be shared,
         // else the id; an EC2 id of another type is not this resource (no uid)
  kKmsKey,  // key ARN as given; a key id → arn:<p>:kms:<region>:<account>:key/<id>; an alias
            // (ARN or alias/<name>) → name; an ARN that is no KMS key or alias: no resource
  kArnOnly,   // only an ARN of arn_service with arn_resource/... the record gives; else the name
  kS3Bucket,  // arn:<p>:s3:::<bucket>, name = the bucket
};

// One kind of resource a service's requests name.
struct Derivation {
  std::string_view source;  // eventSource
  std::string_view type;
  std::vector<std::vector<std::string_view>> id_paths = {};  // the first present one is the id
  std::vector<std::string_view> name_path = {};              // optional
  Uid uid = Uid::kId;
  std::string_view arn_prefix = {};  // kEc2: the ARN's resource type ("security-group")
  std::string_view id_prefix = {};   // kEc2: the id's prefix ("sg-")
  bool shareable = false;            // kEc2: may belong to another account (VPC sharing): id only
  std::string_view arn_service = {};   // kArnOnly: the ARN's service ("cloudtrail", "iam")
  std::string_view arn_resource = {};  // kArnOnly: the ARN's resource prefix ("trail/")
  bool regional = true;                            // the resource lives in the record's region
  std::vector<std::string_view> only_events = {};  // empty: every event
  std::vector<std::string_view> not_events = {};
};

const std::vector<Derivation>& derivations() {
  static const std::vector<std::string_view> kInlinePolicyEvents = {
      "PutGroupPolicy",    "PutRolePolicy",    "PutUserPolicy",
      "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy"};
  // clang-format off
  static const std::vector<Derivation> kTable = {
      // AWS Config (CIS 4.9)
      {.source = "config.amazonaws.com", .type = "AWS::Config::ConfigurationRecorder",
       .name_path = {"requestParameters", "configurationRecorderName"}},
      {.source = "config.amazonaws.com", .type = "AWS::Config::ConfigurationRecorder",
       .name_path = {"requestParameters", "configurationRecorder", "name"}},
      {.source = "config.amazonaws.com", .type = "AWS::Config::DeliveryChannel",
       .name_path = {"requestParameters", "deliveryChannelName"}},
      {.source = "config.amazonaws.com", .type = "AWS::Config::DeliveryChannel",
       .name_path = {"requestParameters", "deliveryChannel", "name"}},
      // CloudTrail (CIS 4.5): `name` is a trail name or ARN
      {.source = "cloudtrail.amazonaws.com", .type = "AWS::CloudTrail::Trail",
       .id_paths = {{"responseElements", "trailARN"}, {"requestParameters", "name"}},
       .name_path = {"requestParameters", "name"}, .uid = Uid::kArnOnly, .arn_service = "cloudtrail",
       .arn_resource = "trail/"},
      // S3 bucket policy and configuration changes (CIS 4.8)
      {.source = "s3.amazonaws.com", .type = "AWS::S3::Bucket",
       .id_paths = {{"requestParameters", "bucketName"}}, .uid = Uid::kS3Bucket, .regional = false},
      // EC2 network objects (CIS 4.10-4.14)
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::SecurityGroup",
       .id_paths = {{"requestParameters", "groupId"}, {"responseElements", "groupId"},
                    {"requestParameters", "ModifySecurityGroupRulesRequest", "GroupId"}},
       .name_path = {"requestParameters", "groupName"}, .uid = Uid::kEc2, .arn_prefix = "security-group",
       .id_prefix = "sg-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::NetworkAcl",
       .id_paths = {{"requestParameters", "networkAclId"}, {"responseElements", "networkAcl", "networkAclId"}},
       .uid = Uid::kEc2, .arn_prefix = "network-acl", .id_prefix = "acl-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::RouteTable",
       .id_paths = {{"requestParameters", "routeTableId"}, {"responseElements", "routeTable", "routeTableId"}},
       .uid = Uid::kEc2, .arn_prefix = "route-table", .id_prefix = "rtb-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::InternetGateway",
       .id_paths = {{"requestParameters", "internetGatewayId"},
                    {"responseElements", "internetGateway", "internetGatewayId"}},
       .uid = Uid::kEc2, .arn_prefix = "internet-gateway", .id_prefix = "igw-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::NatGateway",
       .id_paths = {{"requestParameters", "natGatewayId"}, {"responseElements", "natGateway", "natGatewayId"}},
       .uid = Uid::kEc2, .arn_prefix = "natgateway", .id_prefix = "nat-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::CustomerGateway",
       .id_paths = {{"requestParameters", "customerGatewayId"},
                    {"responseElements", "customerGateway", "customerGatewayId"}},
       .uid = Uid::kEc2, .arn_prefix = "customer-gateway", .id_prefix = "cgw-"},
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::VPNGateway",
       .id_paths = {{"requestParameters", "vpnGatewayId"}, {"responseElements", "vpnGateway", "vpnGatewayId"}},
       .uid = Uid::kEc2, .arn_prefix = "vpn-gateway", .id_prefix = "vgw-"},
      // A VPC may be another account's (a participant of a shared VPC names the owner's VPC): its
      // id only.
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::VPC",
       .id_paths = {{"requestParameters", "vpcId"}, {"responseElements", "vpc", "vpcId"}},
       .uid = Uid::kEc2, .arn_prefix = "vpc", .id_prefix = "vpc-", .shareable = true},
      // A peering connection may be the other account's (the accepter names the requester's): its
      // id only.
      {.source = "ec2.amazonaws.com", .type = "AWS::EC2::VPCPeeringConnection",
       .id_paths = {{"requestParameters", "vpcPeeringConnectionId"},
                    {"responseElements", "vpcPeeringConnection", "vpcPeeringConnectionId"}}},
      // KMS (CIS 4.7)
      {.source = "kms.amazonaws.com", .type = "AWS::KMS::Key",
       .id_paths = {{"responseElements", "keyId"}, {"requestParameters", "keyId"}}, .uid = Uid::kKmsKey},
      // IAM (CIS 4.4): global; user, role and group ARNs include a path the request does not
      // give, so only ARNs the record gives are used.
      {.source = "iam.amazonaws.com", .type = "AWS::IAM::ManagedPolicy",
       .id_paths = {{"requestParameters", "policyArn"}, {"responseElements", "policy", "arn"}},
       .name_path = {"requestParameters", "policyName"}, .uid = Uid::kArnOnly, .arn_service = "iam",
       .arn_resource = "policy/", .regional = false, .not_events = kInlinePolicyEvents},
      {.source = "iam.amazonaws.com", .type = "AWS::IAM::Policy",
       .name_path = {"requestParameters", "policyName"}, .regional = false, .only_events = kInlinePolicyEvents},
      {.source = "iam.amazonaws.com", .type = "AWS::IAM::User", .id_paths = {{"responseElements", "user", "arn"}},
       .name_path = {"requestParameters", "userName"}, .uid = Uid::kArnOnly, .arn_service = "iam",
       .arn_resource = "user/", .regional = false},
      {.source = "iam.amazonaws.com", .type = "AWS::IAM::Role", .id_paths = {{"responseElements", "role", "arn"}},
       .name_path = {"requestParameters", "roleName"}, .uid = Uid::kArnOnly, .arn_service = "iam",
       .arn_resource = "role/", .regional = false},
      {.source = "iam.amazonaws.com", .type = "AWS::IAM::Group", .id_paths = {{"responseElements", "group", "arn"}},
       .name_path = {"requestParameters", "groupName"}, .uid = Uid::kArnOnly, .arn_service = "iam",
       .arn_resource = "group/", .regional = false},
      // Organizations (CIS 4.15): global; ARNs need the organization id, so ids only.
      {.source = "organizations.amazonaws.com", .type = "AWS::Organizations::Policy",
       .id_paths = {{"requestParameters", "policyId"}}, .regional = false},
      {.source = "organizations.amazonaws.com", .type = "AWS::Organizations::OrganizationalUnit",
       .id_paths = {{"requestParameters", "organizationalUnitId"}}, .regional = false},
      {.source = "organizations.amazonaws.com", .type = "AWS::Organizations::Account",
       .id_paths = {{"requestParameters", "accountId"}}, .regional = false},
  };
  // clang-format on
  return kTable;
}

std::string_view at(const dom::element* r, const std::vector<std::string_view>& path) {
  if (!r || path.empty()) return {};
  dom::element cur = *r;
  for (auto key : path) {
    dom::object obj;
    if (cur.get_object().get(obj) != simdjson::SUCCESS) return {};
    if (obj.at_key(key).get(cur) != simdjson::SUCCESS) return {};
  }
  std::string_view s;
  if (cur.get_string().get(s) != simdjson::SUCCESS || s.size() > kMaxValueBytes) return {};
  return s;
}

// An EC2 resource id: "<prefix>-" and 8 or 17 lowercase hex digits ("sg-0123abcd").
bool is_ec2_id(std::string_view id) {
  const size_t dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 8) return false;
  for (size_t i = 0; i < dash; ++i)
    if (id[i] < 'a' || id[i] > 'z') return false;
  const std::string_view hex = id.substr(dash + 1);
  if (hex.size() != 8 && hex.size() != 17) return false;
  return std::all_of(hex.begin(), hex.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A KMS key id (a UUID, or "mrk-" and 32 hex digits for multi-Region keys).
bool is_kms_key_id(std::string_view id) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (id.starts_with("mrk-")) {
    const std::string_view h = id.substr(4);
    return h.size() == 32 && std::all_of(h.begin(), h.end(), hex);
  }
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !hex(id[i])) return false;
  }
  return true;
}

// An EC2 id of the type whose ids begin with `prefix` ("sg-").
bool is_ec2_id_of(std::string_view id, std::string_view prefix) {
  return !prefix.empty() && id.starts_with(prefix) && is_ec2_id(id);
}

bool is_known_partition(std::string_view name) {
  static const std::vector<aws::Partition> kKnown = aws::known_partitions();
  return std::any_of(kKnown.begin(), kKnown.end(),
                     [&](const aws::Partition& p) { return p.name == name; });
}

struct Context {
  std::string_view region;     // a valid region name, or empty
  std::string_view partition;  // of that region, or empty
  std::string_view account;    // a valid recipient account id, or empty
  // The ids the request names are certainly the recipient account's: the call succeeded (no
  // errorCode: a failed call may name what does not exist or is another account's) and the
  // caller's account, when the record says it, is the recipient.
  bool owner_certain = false;
};

// uid = the ARN; partition, region and owner account only as the ARN itself says them (a known
// partition, a valid region, a 12-digit account); nothing from the record's context.
void set_from_arn(Resource& res, std::string_view arn) {
  res.uid = std::string(arn);
  res.partition.clear();
  res.region.clear();
  res.account.clear();
  Arn a;
  if (parse_arn(arn, a)) {
    if (is_known_partition(a.partition)) res.partition = std::string(a.partition);
    if (aws::is_valid_region(a.region)) res.region = std::string(a.region);
    if (aws::is_valid_account_id(a.account)) res.account = std::string(a.account);
  }
}

// An ARN of `service` whose resource begins with `resource_prefix`.
bool is_arn_of(const Arn& a, std::string_view service, std::string_view resource_prefix) {
  return a.service == service && a.resource.starts_with(resource_prefix) &&
         a.resource.size() > resource_prefix.size();
}

bool derive(const dom::element* r, const Derivation& d, const Context& ctx, Resource& res) {
  std::string_view id;
  for (const auto& p : d.id_paths)
    if (!(id = at(r, p)).empty()) break;
  std::string_view name = at(r, d.name_path);
  res = Resource{};
  res.type = std::string(d.type);
  if (d.regional) res.region = std::string(ctx.region);
  res.partition = std::string(ctx.partition);
  Arn arn;
  switch (d.uid) {
    case Uid::kId:
      res.uid = std::string(id);
      break;
    case Uid::kEc2:
      if (is_ec2_id(id) && !is_ec2_id_of(id, d.id_prefix)) {
        // Another type's id ("vpc-..." as a groupId) does not name this resource.
      } else if (is_ec2_id(id) && !d.shareable && ctx.owner_certain && !ctx.partition.empty() &&
                 !ctx.region.empty() && !ctx.account.empty()) {
        res.uid = std::string(ctx.partition) + ":ec2:" + std::string(ctx.region) + ":" +
                  std::string(ctx.account) + ":" + std::string(d.arn_prefix) + "/" +
                  std::string(id);
        res.uid.insert(0, "arn:");
        res.account = std::string(ctx.account);
      } else {
        res.uid = std::string(id);
      }
      break;
    case Uid::kKmsKey:
      if (parse_arn(id, arn)) {
        if (!is_arn_of(arn, "kms", "key/") && !is_arn_of(arn, "kms", "alias/"))
          return false;  // not a KMS key: no resource
        set_from_arn(res, id);
        if (arn.resource.starts_with("alias/")) {
          name = id;  // the alias names the key; the key's own ARN is not known
          res.uid.clear();
        }
      } else if (id.starts_with("alias/")) {
        name = id;
      } else if (is_kms_key_id(id) && ctx.owner_certain && !ctx.partition.empty() &&
                 !ctx.region.empty() && !ctx.account.empty()) {
        res.uid = "arn:" + std::string(ctx.partition) + ":kms:" + std::string(ctx.region) + ":" +
                  std::string(ctx.account) + ":key/" + std::string(id);
        res.account = std::string(ctx.account);
      } else {
        res.uid = std::string(id);
      }
      break;
    case Uid::kArnOnly:
      if (parse_arn(id, arn) && is_arn_of(arn, d.arn_service, d.arn_resource)) set_from_arn(res, id);
      // A name that is an ARN is the uid (a trail named by its ARN) or, of another resource
      // type, not this resource.
      if (parse_arn(name, arn)) name = {};
      break;
    case Uid::kS3Bucket:
      if (aws::is_valid_bucket_name(id)) {
        name = id;
        if (!ctx.partition.empty())
          res.uid = "arn:" + std::string(ctx.partition) + ":s3:::" + std::string(id);
      } else {
        res.uid = std::string(id);
      }
      break;
  }
  res.name = std::string(name);
  if (res.uid.empty() && res.name.empty()) return false;
  if (!d.regional && !res.uid.starts_with("arn:")) res.region.clear();
  return true;
}

bool listed(const std::vector<std::string_view>& events, std::string_view name) {
  return std::find(events.begin(), events.end(), name) != events.end();
}

void add(std::vector<Resource>& out, Resource res) {
  if (out.size() >= kMaxResources) return;
  for (const Resource& o : out)
    if (o.type == res.type && o.uid == res.uid && o.name == res.name) return;
  out.push_back(std::move(res));
}

}  // namespace

std::vector<Resource> collect_resources(const dom::element* r) {
  std::vector<Resource> out;
  if (!r) return out;
  dom::element e;
  dom::array arr;
  if (lookup(*r, {"resources"}, e) && e.get_array().get(arr) == simdjson::SUCCESS) {
    for (dom::element item : arr) {
      if (out.size() >= kMaxResources) break;
      if (!item.is_object()) continue;
      std::string_view arn = str(&item, {"ARN"});
      if (arn.empty()) arn = str(&item, {"arn"});
      if (arn.empty() || arn.size() > kMaxValueBytes) continue;
      Resource res;
      set_from_arn(res, arn);
      std::string_view type = str(&item, {"type"});
      if (type.size() <= kMaxValueBytes) res.type = std::string(type);
      std::string_view account = str(&item, {"accountId"});
      if (account.empty()) account = str(&item, {"accountID"});
      if (aws::is_valid_account_id(account)) res.account = std::string(account);
      add(out, std::move(res));
    }
    if (!out.empty()) return out;
  }

  Context ctx;
  const std::string_view region = str(r, {"awsRegion"});
  if (aws::is_valid_region(region)) {
    ctx.region = region;
    ctx.partition = aws::partition_of(region).name;
  }
  const std::string_view account = str(r, {"recipientAccountId"});
  if (aws::is_valid_account_id(account)) ctx.account = account;
  const std::string_view caller = str(r, {"userIdentity", "accountId"});
  ctx.owner_certain = str(r, {"errorCode"}).empty() &&
                      (!aws::is_valid_account_id(caller) || caller == ctx.account);
  const std::string_view source = str(r, {"eventSource"});
  const std::string_view event = str(r, {"eventName"});
  for (const Derivation& d : derivations()) {
    if (d.source != source) continue;
    if (!d.only_events.empty() && !listed(d.only_events, event)) continue;
    if (listed(d.not_events, event)) continue;
    Resource res;
    if (derive(r, d, ctx, res)) add(out, std::move(res));
  }
  return out;
}

}  // namespace trailwarden::normalize
