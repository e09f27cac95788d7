// Issue 11 §1: every finding is valid OCSF 1.4.0 whatever the record holds. Each case is a
// record that reproduces one defect of the old normalizer, checked through make_alert as the
// pipeline calls it (so the cases also run against the old code).
#include <doctest/doctest.h>
#include <simdjson.h>

#include <chrono>
#include <regex>

#include "agent/normalize/ocsf.h"
#include "tests/unit/normalize/finding_fixture.h"

using namespace trailwarden;

namespace {

using test::Finding;
using test::rule_by_id;

// OCSF 1.4.0 dictionary.json, types.datetime_t.regex
bool is_datetime_t(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?([Zz]|[\+-]\d{2}:\d{2})?$)");
  return std::regex_match(s, re);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The OCSF user object's constraint: at_least_one(account, name, uid).
bool user_valid(Finding& x) {
  return x.has("/evidences/0/actor/user/account") || x.has("/evidences/0/actor/user/name") ||
         x.has("/evidences/0/actor/user/uid");
}

constexpr const char* kAwsService =
    R"({"eventVersion":"1.08","userIdentity":{"type":"AWSService","invokedBy":"config.amazonaws.com"},"eventTime":"2024-11-18T00:01:02Z","eventSource":"config.amazonaws.com","eventName":"PutDeliveryChannel","awsRegion":"eu-west-1","sourceIPAddress":"config.amazonaws.com","userAgent":"config.amazonaws.com","requestParameters":{"deliveryChannel":{"name":"default","s3BucketName":"config-bucket"}},"eventID":"e1","recipientAccountId":"111122223333"})";

}  // namespace

TEST_CASE("AWS service identity: actor.user names the service principal, System") {
  Finding x(kAwsService);
  CHECK(user_valid(x));
  CHECK(x.s("/evidences/0/actor/user/name") == "config.amazonaws.com");
  CHECK(x.i("/evidences/0/actor/user/type_id") == 3);
  CHECK(x.s("/evidences/0/actor/user/type") == "System");
  // actor.invoked_by is deprecated since OCSF 1.2: app_name instead.
  CHECK_FALSE(x.has("/evidences/0/actor/invoked_by"));
  CHECK(x.s("/evidences/0/actor/app_name") == "config.amazonaws.com");
  // "config.amazonaws.com" is a service, not an IP: src_endpoint.svc_name.
  CHECK_FALSE(x.has("/evidences/0/src_endpoint/ip"));
  CHECK_FALSE(x.has("/evidences/0/src_endpoint/domain"));
  CHECK(x.s("/evidences/0/src_endpoint/svc_name") == "config.amazonaws.com");
}

TEST_CASE("a record without userIdentity has no actor.user") {
  Finding x(R"({"eventName":"PutDeliveryChannel","eventSource":"config.amazonaws.com","eventTime":"2024-11-18T00:01:02Z"})");
  CHECK_FALSE(x.has("/evidences/0/actor/user"));
  CHECK_FALSE(x.has("/evidences/0/actor"));
  CHECK(x.s("/evidences/0/api/operation") == "PutDeliveryChannel");
  // An identity naming nobody is no user either.
  Finding y(R"({"eventName":"PutDeliveryChannel","userIdentity":{"type":"Unknown"}})");
  CHECK_FALSE(y.has("/evidences/0/actor/user"));
}

TEST_CASE("actor.user.type_id from userIdentity.type") {
  auto type_of = [](const std::string& type) {
    Finding x(R"({"eventName":"X","userIdentity":{"type":")" + type +
              R"(","accountId":"111122223333"}})");
    return std::make_pair(x.i("/evidences/0/actor/user/type_id"), x.s("/evidences/0/actor/user/type"));
  };
  CHECK(type_of("Root") == std::make_pair(int64_t{2}, std::string("Admin")));
  CHECK(type_of("IAMUser") == std::make_pair(int64_t{1}, std::string("User")));
  CHECK(type_of("AssumedRole") == std::make_pair(int64_t{1}, std::string("User")));
  CHECK(type_of("IdentityCenterUser") == std::make_pair(int64_t{1}, std::string("User")));
  CHECK(type_of("AWSService") == std::make_pair(int64_t{3}, std::string("System")));
  // Another account's principal is not the system; CloudTrail's own "Unknown" is OCSF's.
  CHECK(type_of("AWSAccount") == std::make_pair(int64_t{99}, std::string("AWSAccount")));
  CHECK(type_of("Unknown") == std::make_pair(int64_t{0}, std::string("Unknown")));
  CHECK(type_of("SomethingNew") == std::make_pair(int64_t{99}, std::string("SomethingNew")));
}

TEST_CASE("account uids are 12-digit account ids") {
  // No recipientAccountId: the caller's account, when it is one.
  Finding anon(R"({"eventName":"X","userIdentity":{"type":"AWSAccount","accountId":"ANONYMOUS_PRINCIPAL","principalId":"p"}})");
  CHECK_FALSE(anon.has("/cloud/account"));
  CHECK(anon.s("/evidences/0/actor/user/account/uid") == "ANONYMOUS_PRINCIPAL");  // documented
  Finding other(R"({"eventName":"X","userIdentity":{"type":"AWSAccount","accountId":"444455556666"}})");
  CHECK(other.s("/cloud/account/uid") == "444455556666");
  // A recipientAccountId that is no account id: the caller's instead.
  Finding bad(R"({"eventName":"X","recipientAccountId":"12345","userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"u"}})");
  CHECK(bad.s("/cloud/account/uid") == "111122223333");
  Finding none(R"({"eventName":"X","recipientAccountId":"x","userIdentity":{"type":"IAMUser","accountId":"1111222233334","userName":"u"}})");
  CHECK_FALSE(none.has("/cloud/account"));
  CHECK_FALSE(none.has("/evidences/0/actor/user/account"));
  CHECK(none.s("/message").find("in account") == std::string::npos);
}

TEST_CASE("assumed role: the user is the role session, the issuer the role") {
  Finding x(R"({"eventName":"X","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123","userName":"AWSReservedSSO_Admin_0123"},"attributes":{"creationDate":"2024-11-18T00:00:00Z","mfaAuthenticated":"false"}}}})");
  CHECK(x.s("/evidences/0/actor/user/name") == "alice@example.com");
  CHECK(x.s("/evidences/0/actor/session/issuer") ==
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123");
  CHECK(x.i("/evidences/0/actor/session/created_time") == 1731888000000);
  CHECK(x.s("/evidences/0/actor/session/created_time_dt") == "2024-11-18T00:00:00Z");
}

TEST_CASE("eventTime: RFC 3339 variants give time; time_dt is always a datetime_t") {
  Finding x(R"({"eventName":"X","eventTime":"2024-01-02T03:04:05.123456+02:00"})");
  CHECK(x.i("/time") == 1704157445123);
  CHECK(x.s("/time_dt") == "2024-01-02T01:04:05.123Z");
  CHECK(x.s("/metadata/original_time") == "2024-01-02T03:04:05.123456+02:00");
  CHECK(x.i("/finding_info/first_seen_time") == 1704157445123);

  Finding lower(R"({"eventName":"X","eventTime":"2024-01-02t03:04:05z"})");
  CHECK(lower.i("/time") == 1704164645000);
  CHECK(lower.s("/time_dt") == "2024-01-02T03:04:05Z");
}

TEST_CASE("eventTime missing or invalid: processing time, raw text in original_time") {
  for (const std::string t : {"2024-02-30T00:00:00Z", "2024-01-02T24:00:00Z", "yesterday", "2024-01-02 03:04:05Z",
                              "2024-01-02T03:04:05"}) {
    CAPTURE(t);
    const int64_t before = now_ms();
    Finding x(R"({"eventName":"X","eventTime":")" + t + R"("})");
    const int64_t after = now_ms();
    REQUIRE(x.has("/time"));
    CHECK(x.i("/time") >= before - 1);
    CHECK(x.i("/time") <= after + 1);
    CHECK(is_datetime_t(x.s("/time_dt")));
    CHECK(x.s("/metadata/original_time") == t);
    CHECK_FALSE(x.has("/finding_info/first_seen_time"));
  }
  Finding none(R"({"eventName":"X"})");
  CHECK(none.has("/time"));
  CHECK(is_datetime_t(none.s("/time_dt")));
  CHECK_FALSE(none.has("/metadata/original_time"));
}

TEST_CASE("session.created_time only from a creationDate that parses") {
  Finding x(R"({"eventName":"X","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/s","sessionContext":{"attributes":{"creationDate":"not a date","mfaAuthenticated":"true"}}}})");
  CHECK_FALSE(x.has("/evidences/0/actor/session/created_time"));
  CHECK_FALSE(x.has("/evidences/0/actor/session/created_time_dt"));
  CHECK(x.has("/evidences/0/actor/session/is_mfa"));
}

TEST_CASE("src_endpoint.ip only for real IP addresses") {
  auto src = [](const std::string& value) {
    Finding x(R"({"eventName":"X","sourceIPAddress":")" + value + R"("})");
    return x.has("/evidences/0/src_endpoint/ip") ? "ip" : x.has("/evidences/0/src_endpoint/svc_name") ? "svc_name" : "?";
  };
  CHECK(std::string(src("192.0.2.10")) == "ip");
  CHECK(std::string(src("2001:db8::1")) == "ip");
  CHECK(std::string(src("::ffff:192.0.2.1")) == "ip");
  // 45 characters, over ip_t's 40: written in its canonical form
  Finding long_v6(R"({"eventName":"X","sourceIPAddress":"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"})");
  CHECK(long_v6.s("/evidences/0/src_endpoint/ip") == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(std::string(src("AWS Internal")) == "svc_name");
  CHECK(std::string(src("cafe:babe")) == "svc_name");  // colons and hex digits are not enough
  CHECK(std::string(src("::::")) == "svc_name");
  CHECK(std::string(src("1.2.3.256")) == "svc_name");
  CHECK(std::string(src("01.2.3.4")) == "svc_name");
}

TEST_CASE("resources[]: lower-case arn, non-object entries and entries without ARN") {
  Finding x(R"({"eventName":"X","resources":[1,"x",{"type":"AWS::S3::Bucket"},{"arn":"arn:aws:s3:::b1","type":"AWS::S3::Bucket","accountID":"111122223333"},{"ARN":"arn:aws-cn:kms:cn-north-1:111122223333:key/k","type":"AWS::KMS::Key"}]})");
  simdjson::dom::array arr;
  REQUIRE(x.f.at_pointer("/resources").get_array().get(arr) == simdjson::SUCCESS);
  CHECK(arr.size() == 2);
  CHECK(x.s("/resources/0/uid") == "arn:aws:s3:::b1");
  CHECK(x.s("/resources/0/owner/account/uid") == "111122223333");
  CHECK(x.s("/resources/0/cloud_partition") == "aws");
  CHECK(x.s("/resources/1/cloud_partition") == "aws-cn");
  CHECK(x.s("/resources/1/region") == "cn-north-1");
  // A `resources` that is not an array is ignored.
  Finding y(R"({"eventName":"X","resources":{"ARN":"arn:aws:s3:::b1"}})");
  CHECK_FALSE(y.has("/resources"));
}

TEST_CASE("evidences: left out when the record has no actor, API call or source") {
  Finding x(R"({"userAgent":"curl","errorCode":"AccessDenied"})");
  CHECK_FALSE(x.has("/evidences"));
  // api.operation is required: no eventName, no api.
  Finding y(R"({"sourceIPAddress":"192.0.2.1","errorCode":"AccessDenied"})");
  CHECK_FALSE(y.has("/evidences/0/api"));
  CHECK(y.s("/evidences/0/src_endpoint/ip") == "192.0.2.1");
}
