// Issue 11 §2: the evidence analysts pivot on — observables, confidence, api.response on denied
// calls, and resources derived from the request for the services the built-in rules cover.
// Checked through make_alert, as the pipeline calls it.
#include <doctest/doctest.h>
#include <simdjson.h>

#include "agent/normalize/ocsf.h"
#include "tests/unit/normalize/finding_fixture.h"

using namespace trailwarden;

namespace {

rules::Rule any_rule() { return test::rule_by_id("cis-4.9"); }

// The shared Finding, with the evidence this file reads.
struct Finding : test::Finding {
  explicit Finding(const std::string& record, const RecordOrigin& origin = {})
      : test::Finding(record, "cis-4.9", origin) {}
  // The observable named `name`: "type_id type value", or "<absent>".
  std::string observable(std::string_view name) {
    simdjson::dom::array arr;
    if (f["observables"].get_array().get(arr) != simdjson::SUCCESS) return "<absent>";
    for (simdjson::dom::element o : arr) {
      std::string_view n, t, v;
      int64_t id;
      if (o["name"].get(n) == simdjson::SUCCESS && n == name && o["type"].get(t) == simdjson::SUCCESS &&
          o["value"].get(v) == simdjson::SUCCESS && o["type_id"].get(id) == simdjson::SUCCESS)
        return std::to_string(id) + " " + std::string(t) + " " + std::string(v);
    }
    return "<absent>";
  }
  // Resource i as "type|uid|name|region|partition".
  std::string resource(size_t i) {
    const std::string p = "/resources/" + std::to_string(i);
    auto g = [&](const char* k) {
      std::string v = s(p + "/" + k);
      return v == "<absent>" ? std::string() : v;
    };
    if (!has(p)) return "<absent>";
    return g("type") + "|" + g("uid") + "|" + g("name") + "|" + g("region") + "|" + g("cloud_partition");
  }
};

// A record of `source`/`event` in eu-west-1, account 111122223333, with the given request and
// response.
std::string record(std::string_view source, std::string_view event, std::string_view request,
                   std::string_view response = "null", std::string_view region = "eu-west-1") {
  return std::string(R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"bob"},"eventTime":"2024-11-18T00:01:02Z","eventSource":")") +
         std::string(source) + R"(","eventName":")" + std::string(event) + R"(","awsRegion":")" +
         std::string(region) + R"(","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","requestParameters":)" +
         std::string(request) + R"(,"responseElements":)" + std::string(response) +
         R"(,"eventID":"e1","recipientAccountId":"111122223333"})";
}

}  // namespace

TEST_CASE("observables: actor, credential, source IP, account, region, resources") {
  Finding x(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", R"({"groupId":"sg-0123456789abcdef0"})"));
  CHECK(x.observable("evidences[0].actor.user.uid") == "31 User Object: uid arn:aws:iam::111122223333:user/bob");
  CHECK(x.observable("evidences[0].actor.user.name") == "4 User Name bob");
  CHECK(x.observable("evidences[0].actor.user.credential_uid") == "19 User Credential ID AKIAEXAMPLE");
  CHECK(x.observable("evidences[0].src_endpoint.ip") == "2 IP Address 198.51.100.7");
  CHECK(x.observable("cloud.account.uid") == "35 Account Object: uid 111122223333");
  CHECK(x.observable("cloud.region") == "99 Other eu-west-1");
  CHECK(x.observable("resources[0].uid") ==
        "10 Resource UID arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123456789abcdef0");
  CHECK(x.i("/confidence_id") == 3);
  CHECK(x.s("/confidence") == "High");
  CHECK(x.s("/cloud/cloud_partition") == "aws");
}

TEST_CASE("observables are bounded and never empty-valued") {
  Finding x(R"({"eventName":"X","sourceIPAddress":"AWS Internal"})");
  CHECK_FALSE(x.has("/observables"));  // nothing to pivot on
  std::string many = R"({"eventName":"X","resources":[)";
  for (int i = 0; i < 100; ++i) many += (i ? "," : "") + std::string(R"({"ARN":"arn:aws:s3:::b)") + std::to_string(i) + R"("})";
  many += "]}";
  Finding y(many);
  simdjson::dom::array res, obs;
  REQUIRE(y.f["resources"].get_array().get(res) == simdjson::SUCCESS);
  REQUIRE(y.f["observables"].get_array().get(obs) == simdjson::SUCCESS);
  CHECK(res.size() == 16);
  CHECK(obs.size() <= 40);
}

TEST_CASE("api.response on a denied call: error, message and 403") {
  std::string r = record("ec2.amazonaws.com", "DescribeInstances", "{}");
  r.insert(r.size() - 1, R"(,"errorCode":"Client.UnauthorizedOperation","errorMessage":"You are not authorized")");
  Finding x(r);
  CHECK(x.s("/evidences/0/api/response/error") == "Client.UnauthorizedOperation");
  CHECK(x.s("/evidences/0/api/response/error_message") == "You are not authorized");
  CHECK(x.i("/evidences/0/api/response/code") == 403);
  std::string other = record("ec2.amazonaws.com", "RunInstances", "{}");
  other.insert(other.size() - 1, R"(,"errorCode":"InvalidParameterValue")");
  Finding y(other);
  CHECK_FALSE(y.has("/evidences/0/api/response/code"));
}

TEST_CASE("metadata.log_name: the S3 object") {
  RecordOrigin s3;
  s3.route = RecordOrigin::Route::kS3Object;
  s3.bucket = "trail";
  s3.key = "AWSLogs/x.json.gz";
  CHECK(Finding(record("s3.amazonaws.com", "PutBucketPolicy", "{}"), s3).s("/metadata/log_name") ==
        "s3://trail/AWSLogs/x.json.gz");
}

TEST_CASE("derived resources: one per service the built-in rules cover") {
  const std::string acct = "111122223333";
  auto first = [](const std::string& rec) { return Finding(rec).resource(0); };
  auto second = [](const std::string& rec) { return Finding(rec).resource(1); };
  // AWS Config (CIS 4.9)
  CHECK(first(record("config.amazonaws.com", "StopConfigurationRecorder", R"({"configurationRecorderName":"default"})")) ==
        "AWS::Config::ConfigurationRecorder||default|eu-west-1|aws");
  CHECK(first(record("config.amazonaws.com", "PutConfigurationRecorder", R"({"configurationRecorder":{"name":"rec"}})")) ==
        "AWS::Config::ConfigurationRecorder||rec|eu-west-1|aws");
  CHECK(first(record("config.amazonaws.com", "DeleteDeliveryChannel", R"({"deliveryChannelName":"dc"})")) ==
        "AWS::Config::DeliveryChannel||dc|eu-west-1|aws");
  CHECK(first(record("config.amazonaws.com", "PutDeliveryChannel", R"({"deliveryChannel":{"name":"dc","s3BucketName":"b"}})")) ==
        "AWS::Config::DeliveryChannel||dc|eu-west-1|aws");
  // CloudTrail (CIS 4.5): a name, an ARN, or the ARN of the response
  CHECK(first(record("cloudtrail.amazonaws.com", "StopLogging", R"({"name":"main"})")) ==
        "AWS::CloudTrail::Trail||main|eu-west-1|aws");
  CHECK(first(record("cloudtrail.amazonaws.com", "StopLogging", R"({"name":"arn:aws:cloudtrail:us-east-1:111122223333:trail/main"})")) ==
        "AWS::CloudTrail::Trail|arn:aws:cloudtrail:us-east-1:111122223333:trail/main||us-east-1|aws");
  CHECK(first(record("cloudtrail.amazonaws.com", "CreateTrail", R"({"name":"main","s3BucketName":"b"})",
                     R"({"name":"main","trailARN":"arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"})")) ==
        "AWS::CloudTrail::Trail|arn:aws:cloudtrail:eu-west-1:111122223333:trail/main|main|eu-west-1|aws");
  // S3 (CIS 4.8): the bucket ARN has no region or account
  CHECK(first(record("s3.amazonaws.com", "PutBucketPolicy", R"({"bucketName":"my-bucket","policy":"{}"})")) ==
        "AWS::S3::Bucket|arn:aws:s3:::my-bucket|my-bucket||aws");
  CHECK(first(record("s3.amazonaws.com", "PutBucketAcl", R"({"bucketName":"b"})", "null", "cn-north-1")) ==
        "AWS::S3::Bucket|b|||aws-cn");  // "b" is no valid bucket name: the id as given
  // EC2 (CIS 4.10-4.14)
  CHECK(first(record("ec2.amazonaws.com", "CreateSecurityGroup", R"({"groupName":"web","vpcId":"vpc-0123abcd"})",
                     R"({"_return":true,"groupId":"sg-0123456789abcdef0"})")) ==
        "AWS::EC2::SecurityGroup|arn:aws:ec2:eu-west-1:" + acct + ":security-group/sg-0123456789abcdef0|web|eu-west-1|aws");
  CHECK(second(record("ec2.amazonaws.com", "CreateSecurityGroup", R"({"groupName":"web","vpcId":"vpc-0123abcd"})")) ==
        "AWS::EC2::VPC|vpc-0123abcd||eu-west-1|aws");  // may be a shared VPC's owner's: the id
  CHECK(first(record("ec2.amazonaws.com", "ModifySecurityGroupRules", R"({"ModifySecurityGroupRulesRequest":{"GroupId":"sg-01234567"}})")) ==
        "AWS::EC2::SecurityGroup|arn:aws:ec2:eu-west-1:" + acct + ":security-group/sg-01234567||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "CreateNetworkAclEntry", R"({"networkAclId":"acl-0123abcd","ruleNumber":100})")) ==
        "AWS::EC2::NetworkAcl|arn:aws:ec2:eu-west-1:" + acct + ":network-acl/acl-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "CreateRouteTable", R"({"vpcId":"bad id"})",
                     R"({"routeTable":{"routeTableId":"rtb-0123abcd"}})")) ==
        "AWS::EC2::RouteTable|arn:aws:ec2:eu-west-1:" + acct + ":route-table/rtb-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "AttachInternetGateway", R"({"internetGatewayId":"igw-0123abcd","vpcId":"vpc-0123abcd"})")) ==
        "AWS::EC2::InternetGateway|arn:aws:ec2:eu-west-1:" + acct + ":internet-gateway/igw-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "CreateRoute", R"({"routeTableId":"rtb-0123abcd","natGatewayId":"nat-0123456789abcdef0"})")) ==
        "AWS::EC2::RouteTable|arn:aws:ec2:eu-west-1:" + acct + ":route-table/rtb-0123abcd||eu-west-1|aws");
  CHECK(second(record("ec2.amazonaws.com", "CreateRoute", R"({"routeTableId":"rtb-0123abcd","natGatewayId":"nat-0123456789abcdef0"})")) ==
        "AWS::EC2::NatGateway|arn:aws:ec2:eu-west-1:" + acct + ":natgateway/nat-0123456789abcdef0||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "DeleteCustomerGateway", R"({"customerGatewayId":"cgw-0123abcd"})")) ==
        "AWS::EC2::CustomerGateway|arn:aws:ec2:eu-west-1:" + acct + ":customer-gateway/cgw-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "DetachVpnGateway", R"({"vpnGatewayId":"vgw-0123abcd"})")) ==
        "AWS::EC2::VPNGateway|arn:aws:ec2:eu-west-1:" + acct + ":vpn-gateway/vgw-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "CreateVpc", R"({"cidrBlock":"10.0.0.0/16"})", R"({"vpc":{"vpcId":"vpc-0123abcd"}})")) ==
        "AWS::EC2::VPC|vpc-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "AcceptVpcPeeringConnection", R"({"vpcPeeringConnectionId":"pcx-0123abcd"})")) ==
        "AWS::EC2::VPCPeeringConnection|pcx-0123abcd||eu-west-1|aws");
  CHECK(first(record("ec2.amazonaws.com", "DeleteVpc", R"({"vpcId":"not-an-id"})")) ==
        "AWS::EC2::VPC|not-an-id||eu-west-1|aws");  // no exact ARN: the id as given
  // KMS (CIS 4.7)
  CHECK(first(record("kms.amazonaws.com", "DisableKey", R"({"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"})")) ==
        "AWS::KMS::Key|arn:aws:kms:eu-west-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab||eu-west-1|aws");
  CHECK(first(record("kms.amazonaws.com", "ScheduleKeyDeletion", R"({"keyId":"alias/x","pendingWindowInDays":7})",
                     R"({"keyId":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"})")) ==
        "AWS::KMS::Key|arn:aws:kms:eu-west-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab||eu-west-1|aws");
  CHECK(first(record("kms.amazonaws.com", "DisableKey", R"({"keyId":"alias/x"})")) == "AWS::KMS::Key||alias/x|eu-west-1|aws");
  // IAM (CIS 4.4): global, ARNs only as the record gives them
  CHECK(first(record("iam.amazonaws.com", "AttachRolePolicy", R"({"roleName":"r","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"})", "null", "us-east-1")) ==
        "AWS::IAM::ManagedPolicy|arn:aws:iam::aws:policy/AdministratorAccess|||aws");
  CHECK(second(record("iam.amazonaws.com", "AttachRolePolicy", R"({"roleName":"r","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"})", "null", "us-east-1")) ==
        "AWS::IAM::Role||r||aws");
  CHECK(first(record("iam.amazonaws.com", "PutUserPolicy", R"({"userName":"u","policyName":"inline","policyDocument":"{}"})", "null", "us-east-1")) ==
        "AWS::IAM::Policy||inline||aws");
  CHECK(second(record("iam.amazonaws.com", "PutUserPolicy", R"({"userName":"u","policyName":"inline","policyDocument":"{}"})", "null", "us-east-1")) ==
        "AWS::IAM::User||u||aws");
  CHECK(first(record("iam.amazonaws.com", "CreatePolicy", R"({"policyName":"p","policyDocument":"{}"})",
                     R"({"policy":{"arn":"arn:aws:iam::111122223333:policy/p","policyName":"p"}})", "us-east-1")) ==
        "AWS::IAM::ManagedPolicy|arn:aws:iam::111122223333:policy/p|p||aws");
  CHECK(first(record("iam.amazonaws.com", "DeleteGroupPolicy", R"({"groupName":"g","policyName":"x"})", "null", "us-east-1")) ==
        "AWS::IAM::Policy||x||aws");
  CHECK(second(record("iam.amazonaws.com", "DeleteGroupPolicy", R"({"groupName":"g","policyName":"x"})", "null", "us-east-1")) ==
        "AWS::IAM::Group||g||aws");
  // Organizations (CIS 4.15)
  CHECK(first(record("organizations.amazonaws.com", "AttachPolicy", R"({"policyId":"p-examplepolicyid111","targetId":"ou-a1b2-f6g7h222"})", "null", "us-east-1")) ==
        "AWS::Organizations::Policy|p-examplepolicyid111|||aws");
  // `resources` in the record wins over derivation
  std::string with = record("s3.amazonaws.com", "PutBucketPolicy", R"({"bucketName":"my-bucket"})");
  with.insert(with.size() - 1, R"(,"resources":[{"ARN":"arn:aws:s3:::other","type":"AWS::S3::Bucket"}])");
  CHECK(first(with) == "AWS::S3::Bucket|arn:aws:s3:::other|||aws");
  // Without a valid region, no partition and no ARN is built.
  CHECK(first(record("ec2.amazonaws.com", "DeleteVpc", R"({"vpcId":"vpc-0123abcd"})", "null", "mars-1")) ==
        "AWS::EC2::VPC|vpc-0123abcd|||");
}

// `extra` appended to record()'s fields (",\"errorCode\":...").
std::string with_fields(std::string rec, std::string_view extra) {
  rec.insert(rec.size() - 1, extra);
  return rec;
}

TEST_CASE("derived EC2 resources: the id's prefix names the type; ARNs only where the owner is certain") {
  const std::string sg = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0123abcd";
  // Another type's id is not this resource: no ARN pointing at a security group "vpc-...".
  Finding wrong(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", R"({"groupId":"vpc-0123abcd"})"));
  CHECK_FALSE(wrong.has("/resources"));
  CHECK(Finding(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
                       R"({"groupId":"vpc-0123abcd","groupName":"web"})")).resource(0) ==
        "AWS::EC2::SecurityGroup||web|eu-west-1|aws");
  for (auto [key, id] : {std::pair{"networkAclId", "sg-0123abcd"}, {"routeTableId", "acl-0123abcd"},
                         {"internetGatewayId", "rtb-0123abcd"}, {"natGatewayId", "igw-0123abcd"},
                         {"customerGatewayId", "vgw-0123abcd"}, {"vpnGatewayId", "cgw-0123abcd"},
                         {"vpcId", "sg-0123abcd"}}) {
    CAPTURE(key);
    Finding x(record("ec2.amazonaws.com", "X", std::string(R"({")") + key + R"(":")" + id + R"("})"));
    CHECK_FALSE(x.has("/resources"));
  }
  // The right prefix in a successful call of the recipient account: the ARN and its owner.
  Finding ok(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", R"({"groupId":"sg-0123abcd"})"));
  CHECK(ok.s("/resources/0/uid") == sg);
  CHECK(ok.s("/resources/0/owner/account/uid") == "111122223333");
  // A VPC may be a shared VPC's owner's (another account): only its id, no owner.
  Finding vpc(record("ec2.amazonaws.com", "CreateSecurityGroup", R"({"groupName":"web","vpcId":"vpc-0123abcd"})",
                     R"({"groupId":"sg-0123abcd"})"));
  CHECK(vpc.resource(0) == "AWS::EC2::SecurityGroup|" + sg + "|web|eu-west-1|aws");
  CHECK(vpc.resource(1) == "AWS::EC2::VPC|vpc-0123abcd||eu-west-1|aws");
  CHECK_FALSE(vpc.has("/resources/1/owner"));
  // A failed call may name what does not exist or another account's: the id only.
  Finding failed(with_fields(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", R"({"groupId":"sg-0123abcd"})"),
                             R"(,"errorCode":"Client.UnauthorizedOperation")"));
  CHECK(failed.resource(0) == "AWS::EC2::SecurityGroup|sg-0123abcd||eu-west-1|aws");
  CHECK_FALSE(failed.has("/resources/0/owner"));
  // The caller's account is not the recipient: whose resource it is is not certain.
  std::string cross = record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", R"({"groupId":"sg-0123abcd"})");
  cross.replace(cross.find(R"("accountId":"111122223333")"), 26, R"("accountId":"444455556666")");
  CHECK(Finding(cross).resource(0) == "AWS::EC2::SecurityGroup|sg-0123abcd||eu-west-1|aws");
  // KMS key ids follow the same rule.
  CHECK(Finding(with_fields(record("kms.amazonaws.com", "DisableKey", R"({"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"})"),
                            R"(,"errorCode":"NotFoundException")")).resource(0) ==
        "AWS::KMS::Key|1234abcd-12ab-34cd-56ef-1234567890ab||eu-west-1|aws");
}

TEST_CASE("derived KMS keys: only a key ARN is the uid; an alias is the name; other ARNs are no key") {
  // An alias ARN names the key by its alias, in the alias's account and region.
  Finding alias(record("kms.amazonaws.com", "DisableKey", R"({"keyId":"arn:aws:kms:eu-west-1:111122223333:alias/prod"})"));
  CHECK(alias.resource(0) == "AWS::KMS::Key||arn:aws:kms:eu-west-1:111122223333:alias/prod|eu-west-1|aws");
  CHECK(alias.s("/resources/0/owner/account/uid") == "111122223333");
  // A key ARN of another region and account: as the ARN says.
  Finding key(record("kms.amazonaws.com", "DisableKey",
                     R"({"keyId":"arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"})"));
  CHECK(key.resource(0) ==
        "AWS::KMS::Key|arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab||us-east-1|aws");
  CHECK(key.s("/resources/0/owner/account/uid") == "444455556666");
  // Any other ARN is not a KMS key.
  for (const char* arn : {"arn:aws:iam::111122223333:user/alice", "arn:aws:kms:eu-west-1:111122223333:custom-key-store/x",
                          "arn:aws:s3:::bucket"}) {
    CAPTURE(arn);
    CHECK_FALSE(Finding(record("kms.amazonaws.com", "DisableKey", std::string(R"({"keyId":")") + arn + R"("})")).has("/resources"));
  }
}

TEST_CASE("ARNs in the record: partition only a known one, region only from the ARN") {
  // A trail ARN with an unknown partition and no region: neither is written (not the record's).
  Finding evil(record("cloudtrail.amazonaws.com", "DeleteTrail", R"({"name":"arn:evil:cloudtrail::999999999999:trail/t"})"));
  CHECK(evil.resource(0) == "AWS::CloudTrail::Trail|arn:evil:cloudtrail::999999999999:trail/t|||");
  CHECK(evil.s("/resources/0/owner/account/uid") == "999999999999");
  CHECK(Finding(record("cloudtrail.amazonaws.com", "StopLogging",
                       R"({"name":"arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t"})")).resource(0) ==
        "AWS::CloudTrail::Trail|arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t||us-gov-west-1|aws-us-gov");
  // An ARN of another service or resource type is not a trail.
  CHECK_FALSE(Finding(record("cloudtrail.amazonaws.com", "StopLogging", R"({"name":"arn:aws:iam::111122223333:user/t"})"))
                  .has("/resources"));
  // IAM ARNs of the right kind only.
  CHECK(Finding(record("iam.amazonaws.com", "AttachUserPolicy", R"({"userName":"u","policyArn":"arn:aws:iam::aws:role/x"})",
                       "null", "us-east-1")).resource(0) == "AWS::IAM::User||u||aws");
  // The record's own resources[]: the same rules.
  std::string own = with_fields(record("s3.amazonaws.com", "PutBucketPolicy", "{}"),
                                R"(,"resources":[{"ARN":"arn:evil:s3:::b"},{"ARN":"arn:aws-iso-b:iam::111122223333:role/r"}])");
  Finding x(own);
  CHECK(x.resource(0) == "|arn:evil:s3:::b|||");
  CHECK(x.resource(1) == "|arn:aws-iso-b:iam::111122223333:role/r|||aws-iso-b");
}

TEST_CASE("derived resources stay bounded on huge requests") {
  std::string big = R"({"groupId":"sg-0123abcd","pad":[)";
  for (int i = 0; i < 2000; ++i) big += (i ? "," : "") + std::string(R"({"a":[[[[1]]]]})");
  big += "]}";
  Finding x(record("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", big));
  simdjson::dom::array res;
  REQUIRE(x.f["resources"].get_array().get(res) == simdjson::SUCCESS);
  CHECK(res.size() == 1);
  std::string long_id(5000, 'a');
  Finding y(record("ec2.amazonaws.com", "DeleteVpc", R"({"vpcId":")" + long_id + R"("})"));
  CHECK_FALSE(y.has("/resources"));
}

TEST_CASE("without a usable eventTime the finding's time is the processing time (OcsfOptions::now_ms)") {
  OcsfOptions o;
  o.now_ms = [] { return int64_t{1700000000123}; };
  const std::string rec = R"({"eventName":"X","eventTime":"2024-13-01T00:00:00Z"})";
  simdjson::dom::parser rp;
  simdjson::dom::element e = rp.parse(rec);
  NormalizeNotes notes;
  AlertRecord a = make_alert(any_rule(), rec, &e, o, {}, &notes);
  CHECK(notes.time_unparsed);
  CHECK(a.time_ms == 0);  // outputs' "event time": unknown
  CHECK(a.ocsf.find(R"("time":1700000000123,"time_dt":"2023-11-14T22:13:20.123Z")") != std::string::npos);
  CHECK(a.ocsf.find(R"("original_time":"2024-13-01T00:00:00Z")") != std::string::npos);
  const std::string good = R"({"eventName":"X","eventTime":"2024-12-01T00:00:00Z"})";
  simdjson::dom::element g = rp.parse(good);
  make_alert(any_rule(), good, &g, o, {}, &notes);
  CHECK_FALSE(notes.time_unparsed);
}
