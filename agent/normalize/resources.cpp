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
  kId,        // the id as given (no ARN can be built exactly)
  kEc2,       // arn:<p>:ec2:<region>:<account>:<arn_prefix>/<id> for a well-formed EC2 id
  kKmsKey,    // key ARN as given; a key id → arn:<p>:kms:<region>:<account>:key/<id>; alias → name
  kArnOnly,   // only an ARN the record gives; anything else is the name
  kS3Bucket,  // arn:<p>:s3:::<bucket>, name = the bucket
};

// One kind of resource a service's requests name.
struct Derivation {
  std::string_view source;  // eventSource
  std::string_view type;
  std::vector<std::vector<std::string_view>> id_paths;  // the first present one is the id
  std::vector<std::string_view> name_path;              // optional
  Uid uid = Uid::kId;
  std::string_view arn_prefix = {};
  bool regional = true;                          // the resource lives in the record's region
  std::vector<std::string_view> only_events = {};  // empty: every event
  std::vector<std::string_view> not_events = {};
};

const std::vector<Derivation>& derivations() {
  static const std::vector<std::string_view> kInlinePolicyEvents = {
      "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy",
      "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy"};
  static const std::vector<Derivation> kTable = {
      // AWS Config (CIS 4.9)
      {"config.amazonaws.com", "AWS::Config::ConfigurationRecorder", {}, {"requestParameters", "configurationRecorderName"}},
      {"config.amazonaws.com", "AWS::Config::ConfigurationRecorder", {}, {"requestParameters", "configurationRecorder", "name"}},
      {"config.amazonaws.com", "AWS::Config::DeliveryChannel", {}, {"requestParameters", "deliveryChannelName"}},
      {"config.amazonaws.com", "AWS::Config::DeliveryChannel", {}, {"requestParameters", "deliveryChannel", "name"}},
      // CloudTrail (CIS 4.5): `name` is a trail name or ARN
      {"cloudtrail.amazonaws.com", "AWS::CloudTrail::Trail",
       {{"responseElements", "trailARN"}, {"requestParameters", "name"}}, {"requestParameters", "name"}, Uid::kArnOnly},
      // S3 bucket policy and configuration changes (CIS 4.8)
      {"s3.amazonaws.com", "AWS::S3::Bucket", {{"requestParameters", "bucketName"}}, {}, Uid::kS3Bucket, {}, false},
      // EC2 network objects (CIS 4.10-4.14)
      {"ec2.amazonaws.com", "AWS::EC2::SecurityGroup",
       {{"requestParameters", "groupId"}, {"responseElements", "groupId"},
        {"requestParameters", "ModifySecurityGroupRulesRequest", "GroupId"}},
       {"requestParameters", "groupName"}, Uid::kEc2, "security-group"},
      {"ec2.amazonaws.com", "AWS::EC2::NetworkAcl",
       {{"requestParameters", "networkAclId"}, {"responseElements", "networkAcl", "networkAclId"}}, {}, Uid::kEc2, "network-acl"},
      {"ec2.amazonaws.com", "AWS::EC2::RouteTable",
       {{"requestParameters", "routeTableId"}, {"responseElements", "routeTable", "routeTableId"}}, {}, Uid::kEc2, "route-table"},
      {"ec2.amazonaws.com", "AWS::EC2::InternetGateway",
       {{"requestParameters", "internetGatewayId"}, {"responseElements", "internetGateway", "internetGatewayId"}}, {},
       Uid::kEc2, "internet-gateway"},
      {"ec2.amazonaws.com", "AWS::EC2::NatGateway",
       {{"requestParameters", "natGatewayId"}, {"responseElements", "natGateway", "natGatewayId"}}, {}, Uid::kEc2, "natgateway"},
      {"ec2.amazonaws.com", "AWS::EC2::CustomerGateway",
       {{"requestParameters", "customerGatewayId"}, {"responseElements", "customerGateway", "customerGatewayId"}}, {},
       Uid::kEc2, "customer-gateway"},
      {"ec2.amazonaws.com", "AWS::EC2::VPNGateway",
       {{"requestParameters", "vpnGatewayId"}, {"responseElements", "vpnGateway", "vpnGatewayId"}}, {}, Uid::kEc2, "vpn-gateway"},
      {"ec2.amazonaws.com", "AWS::EC2::VPC",
       {{"requestParameters", "vpcId"}, {"responseElements", "vpc", "vpcId"}}, {}, Uid::kEc2, "vpc"},
      // A peering connection may belong to the other account: its id only.
      {"ec2.amazonaws.com", "AWS::EC2::VPCPeeringConnection",
       {{"requestParameters", "vpcPeeringConnectionId"}, {"responseElements", "vpcPeeringConnection", "vpcPeeringConnectionId"}}, {}},
      // KMS (CIS 4.7)
      {"kms.amazonaws.com", "AWS::KMS::Key", {{"responseElements", "keyId"}, {"requestParameters", "keyId"}}, {}, Uid::kKmsKey},
      // IAM (CIS 4.4): global; user, role and group ARNs need their path, so only ARNs the
      // response gives are used.
      {"iam.amazonaws.com", "AWS::IAM::ManagedPolicy",
       {{"requestParameters", "policyArn"}, {"responseElements", "policy", "arn"}}, {"requestParameters", "policyName"},
       Uid::kArnOnly, {}, false, {}, kInlinePolicyEvents},
      {"iam.amazonaws.com", "AWS::IAM::Policy", {}, {"requestParameters", "policyName"}, Uid::kId, {}, false, kInlinePolicyEvents},
      {"iam.amazonaws.com", "AWS::IAM::User", {{"responseElements", "user", "arn"}}, {"requestParameters", "userName"},
       Uid::kArnOnly, {}, false},
      {"iam.amazonaws.com", "AWS::IAM::Role", {{"responseElements", "role", "arn"}}, {"requestParameters", "roleName"},
       Uid::kArnOnly, {}, false},
      {"iam.amazonaws.com", "AWS::IAM::Group", {{"responseElements", "group", "arn"}}, {"requestParameters", "groupName"},
       Uid::kArnOnly, {}, false},
      // Organizations (CIS 4.15): global; ARNs need the organization id, so ids only.
      {"organizations.amazonaws.com", "AWS::Organizations::Policy", {{"requestParameters", "policyId"}}, {}, Uid::kId, {}, false},
      {"organizations.amazonaws.com", "AWS::Organizations::OrganizationalUnit",
       {{"requestParameters", "organizationalUnitId"}}, {}, Uid::kId, {}, false},
      {"organizations.amazonaws.com", "AWS::Organizations::Account", {{"requestParameters", "accountId"}}, {}, Uid::kId, {},
       false},
  };
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
  return std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
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

struct Context {
  std::string_view region;     // a valid region name, or empty
  std::string_view partition;  // of that region, or empty
  std::string_view account;    // a valid recipient account id, or empty
};

void set_from_arn(Resource& res, std::string_view arn) {
  res.uid = std::string(arn);
  Arn a;
  if (parse_arn(arn, a)) {
    res.partition = std::string(a.partition);
    if (aws::is_valid_region(a.region)) res.region = std::string(a.region);
    if (aws::is_valid_account_id(a.account)) res.account = std::string(a.account);
  }
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
      if (!id.empty() && is_ec2_id(id) && !ctx.partition.empty() && !ctx.region.empty() && !ctx.account.empty()) {
        res.uid = std::string(ctx.partition) + ":ec2:" + std::string(ctx.region) + ":" + std::string(ctx.account) + ":" +
                  std::string(d.arn_prefix) + "/" + std::string(id);
        res.uid.insert(0, "arn:");
        res.account = std::string(ctx.account);
      } else {
        res.uid = std::string(id);
      }
      break;
    case Uid::kKmsKey:
      if (parse_arn(id, arn)) {
        set_from_arn(res, id);
      } else if (id.starts_with("alias/")) {
        name = id;
      } else if (is_kms_key_id(id) && !ctx.partition.empty() && !ctx.region.empty() && !ctx.account.empty()) {
        res.uid = "arn:" + std::string(ctx.partition) + ":kms:" + std::string(ctx.region) + ":" + std::string(ctx.account) +
                  ":key/" + std::string(id);
        res.account = std::string(ctx.account);
      } else {
        res.uid = std::string(id);
      }
      break;
    case Uid::kArnOnly:
      if (parse_arn(id, arn)) set_from_arn(res, id);
      if (parse_arn(name, arn)) name = {};  // a trail named by its ARN: the uid says it
      break;
    case Uid::kS3Bucket:
      if (aws::is_valid_bucket_name(id)) {
        name = id;
        if (!ctx.partition.empty()) res.uid = "arn:" + std::string(ctx.partition) + ":s3:::" + std::string(id);
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
