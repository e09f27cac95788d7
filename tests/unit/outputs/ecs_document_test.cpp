// format = "ecs" (outputs/ecs_document.h): Elastic Common Schema 8.17 documents built from the
// OCSF finding (normalized parts) and the CloudTrail record (aws.cloudtrail.* as Elastic's AWS
// CloudTrail integration names them). Alerts are made by the real normalizer (make_alert).
#include "outputs/ecs_document.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <toml++/toml.h>

#include <string>
#include <vector>

#include "agent/normalize/integrity_finding.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/rule.h"
#include "outputs/format.h"
#include "outputs/settings.h"

using namespace trailwarden;
namespace dom = simdjson::dom;

namespace {

constexpr int64_t kNow = 1764806400123;  // 2025-12-04T00:00:00.123Z

rules::Rule pack_rule(const std::string& id) {
  for (auto& r : rules::load_builtin_pack("cis-aws-foundations"))
    if (r.id == id) return r;
  FAIL("rule missing: " << id);
  return {};
}

AlertRecord alert_for(const std::string& rule_id, const std::string& record,
                      const RecordOrigin& origin = {}, OcsfOptions options = {}) {
  dom::parser p;
  dom::element e = p.parse(record);
  return make_alert(pack_rule(rule_id), record, &e, options, origin);
}

// The document, parsed; the test keeps the parser alive.
struct Doc {
  dom::parser parser;
  dom::element root;
  std::string text;
  explicit Doc(const AlertRecord& a) {
    append_ecs_document(a, kNow, text);
    REQUIRE(text.find('\n') == std::string::npos);
    REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
  }
  bool has(std::string_view pointer) { return root.at_pointer(pointer).error() == simdjson::SUCCESS; }
  std::string s(std::string_view pointer) {
    std::string_view v;
    auto err = root.at_pointer(pointer).get_string().get(v);
    if (err) return "<" + std::string(pointer) + ": " + simdjson::error_message(err) + ">";
    return std::string(v);
  }
  int64_t i(std::string_view pointer) {
    int64_t v = -1;
    if (root.at_pointer(pointer).get_int64().get(v) != simdjson::SUCCESS) return -1;
    return v;
  }
  std::vector<std::string> arr(std::string_view pointer) {
    std::vector<std::string> out;
    dom::array a;
    if (root.at_pointer(pointer).get_array().get(a)) return out;
    for (dom::element e : a) out.emplace_back(std::string_view(e.get_string().value_unsafe()));
    return out;
  }
};

using Strings = std::vector<std::string>;

// A string of the alert's OCSF finding ("" when absent): ECS must say what OCSF says.
std::string ocsf_string(const AlertRecord& a, std::string_view pointer) {
  dom::parser p;
  std::string_view v;
  if (p.parse(a.ocsf).at_pointer(pointer).get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

const std::string kIamUser = R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE","userName":"alice"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":{"configurationRecorderName":"default"},"responseElements":null,"requestID":"req-1","eventID":"ev-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"config.eu-west-1.amazonaws.com"}})";

const std::string kAssumedRole = R"({"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:session","arn":"arn:aws:sts::123456789012:assumed-role/Admin/session","accountId":"123456789012","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::123456789012:role/Admin","accountId":"123456789012","userName":"Admin"},"attributes":{"creationDate":"2024-05-06T06:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-06T07:08:09.5Z","eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy","awsRegion":"us-east-1","sourceIPAddress":"2001:db8::1","userAgent":"console.amazonaws.com","requestParameters":{"userName":"bob","policyName":"p"},"responseElements":null,"requestID":"req-2","eventID":"ev-2","eventType":"AwsApiCall","recipientAccountId":"123456789012","resources":[{"ARN":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","type":"AWS::IAM::User"},{"ARN":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","type":"AWS::IAM::User"}]})";

const std::string kRoot = R"({"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"console","requestParameters":{"bucketName":"b"},"eventID":"ev-3","eventType":"AwsApiCall","recipientAccountId":"123456789012"})";

const std::string kService = R"({"eventVersion":"1.08","userIdentity":{"type":"AWSService","invokedBy":"config.amazonaws.com"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"config.amazonaws.com","eventName":"PutConfigurationRecorder","awsRegion":"us-east-1","sourceIPAddress":"config.amazonaws.com","userAgent":"config.amazonaws.com","eventID":"ev-4","eventType":"AwsApiCall","recipientAccountId":"123456789012","sharedEventID":"shared-1"})";

const std::string kFailedLogin = R"({"eventVersion":"1.05","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","accountId":"123456789012","userName":"carol"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.8","userAgent":"Mozilla/5.0","errorMessage":"Failed authentication","requestParameters":null,"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/","MobileVersion":"No","MFAUsed":"No"},"eventID":"ev-5","eventType":"AwsConsoleSignIn","recipientAccountId":"123456789012"})";

const std::string kNoIdentity = R"({"eventVersion":"1.08","eventTime":"2024-05-06T07:08:09Z","eventSource":"config.amazonaws.com","eventName":"DeleteDeliveryChannel","awsRegion":"us-east-1","sourceIPAddress":"AWS Internal","eventID":"ev-6","eventType":"AwsServiceEvent","recipientAccountId":"123456789012","serviceEventDetails":{"note":"x"}})";

}  // namespace

TEST_CASE("ecs: an IAM user's call (StopConfigurationRecorder)") {
  Doc d(alert_for("cis-4.9", kIamUser));
  CHECK(d.s("/@timestamp") == "2024-05-06T07:08:09.000Z");
  CHECK(d.s("/ecs/version") == "8.17.0");
  CHECK(d.s("/message").starts_with("AWS Config configuration changes: StopConfigurationRecorder"));
  CHECK(d.s("/event/kind") == "alert");
  CHECK(d.arr("/event/category") == Strings{"configuration"});
  CHECK(d.arr("/event/type") == Strings{"change"});
  CHECK(d.s("/event/action") == "StopConfigurationRecorder");
  CHECK(d.s("/event/outcome") == "success");
  CHECK(d.s("/event/provider") == "config.amazonaws.com");
  CHECK(d.s("/event/id") == "ev-1");  // as Elastic's integration: the eventID
  CHECK(d.s("/event/dataset") == "trailwarden.alert");
  CHECK(d.s("/event/module") == "trailwarden");
  CHECK(d.s("/event/created") == "2025-12-04T00:00:00.123Z");
  CHECK(d.i("/event/severity") == 4);  // cis-4.9 is high
  CHECK(d.i("/event/risk_score") == 73);
  CHECK(d.s("/event/original") == kIamUser);
  CHECK(d.s("/rule/id") == "cis-4.9");
  CHECK(d.s("/rule/name") == "AWS Config configuration changes");
  CHECK(d.s("/rule/ruleset") == "cis-aws-foundations");
  CHECK(d.has("/rule/description"));
  CHECK(d.s("/cloud/provider") == "aws");
  CHECK(d.s("/cloud/region") == "eu-west-1");
  CHECK(d.s("/cloud/account/id") == "123456789012");
  CHECK(d.s("/cloud/service/name") == "config.amazonaws.com");
  CHECK(d.s("/user/name") == "alice");
  CHECK(d.s("/user/id") == "AIDAEXAMPLE");
  CHECK(d.s("/user_agent/original") == "aws-cli/2.15.0");
  CHECK(d.s("/source/address") == "198.51.100.7");
  CHECK(d.s("/source/ip") == "198.51.100.7");
  CHECK_FALSE(d.has("/source/domain"));
  CHECK(d.arr("/related/user") == Strings{"alice"});
  CHECK(d.arr("/related/ip") == Strings{"198.51.100.7"});
  CHECK(d.s("/observer/product") == "trailwarden");
  CHECK(d.s("/agent/type") == "trailwarden");
  CHECK(d.s("/tls/version_protocol") == "tls");
  CHECK(d.s("/tls/version") == "1.3");
  CHECK(d.s("/tls/cipher") == "TLS_AES_128_GCM_SHA256");
  CHECK(d.s("/tls/client/server_name") == "config.eu-west-1.amazonaws.com");
  // aws.cloudtrail.*: Elastic's names
  CHECK(d.s("/aws/cloudtrail/event_version") == "1.08");
  CHECK(d.s("/aws/cloudtrail/event_category") == "Management");
  CHECK(d.s("/aws/cloudtrail/user_identity/type") == "IAMUser");
  CHECK(d.s("/aws/cloudtrail/user_identity/arn") == "arn:aws:iam::123456789012:user/alice");
  CHECK(d.s("/aws/cloudtrail/user_identity/access_key_id") == "AKIAEXAMPLE");
  CHECK(d.s("/aws/cloudtrail/request_parameters") == R"({"configurationRecorderName":"default"})");
  CHECK(d.s("/aws/cloudtrail/flattened/request_parameters/configurationRecorderName") == "default");
  CHECK_FALSE(d.has("/aws/cloudtrail/response_elements"));  // null: left out
  CHECK(d.s("/aws/cloudtrail/request_id") == "req-1");
  CHECK(d.s("/aws/cloudtrail/event_type") == "AwsApiCall");
  CHECK(d.s("/aws/cloudtrail/management_event") == "true");
  CHECK(d.root.at_pointer("/aws/cloudtrail/read_only").get_bool().value_unsafe() == false);
  CHECK(d.s("/aws/cloudtrail/recipient_account_id") == "123456789012");
  CHECK(d.s("/trailwarden/finding_uid") == d.s("/trailwarden/correlation_uid"));
  CHECK(d.s("/trailwarden/severity") == "High");
  CHECK_FALSE(d.has("/trailwarden/route"));  // replay adds no route
  CHECK_FALSE(d.has("/trailwarden/ecs_degraded"));
}

TEST_CASE("ecs: an assumed role changing an IAM user's policy") {
  const AlertRecord a = alert_for("cis-4.4", kAssumedRole);
  Doc d(a);
  CHECK(d.s("/@timestamp") == "2024-05-06T07:08:09.500Z");
  CHECK(d.arr("/event/category") == Strings{"iam"});
  CHECK(d.arr("/event/type") == Strings{"change", "user"});
  // user.name is the OCSF actor's name (today the role, sessionIssuer.userName, as Elastic does)
  const std::string actor = ocsf_string(a, "/evidences/0/actor/user/name");
  REQUIRE_FALSE(actor.empty());
  CHECK(d.s("/user/name") == actor);
  CHECK(d.s("/user/id") == "AROAEXAMPLE:session");
  CHECK(d.s("/user/target/name") == "bob");
  CHECK(d.arr("/related/user") == Strings{actor, "bob"});
  CHECK(d.s("/source/ip") == "2001:db8::1");
  CHECK(d.s("/aws/cloudtrail/user_identity/session_context/mfa_authenticated") == "true");
  CHECK(d.s("/aws/cloudtrail/user_identity/session_context/creation_date") ==
        "2024-05-06T06:00:00.000Z");
  CHECK(d.s("/aws/cloudtrail/user_identity/session_context/session_issuer/arn") ==
        "arn:aws:iam::123456789012:role/Admin");
  CHECK(d.s("/aws/cloudtrail/user_identity/session_context/session_issuer/type") == "Role");
  // resources: duplicates dropped, ARN -> arn, accountId -> account_id
  dom::array res = d.root.at_pointer("/aws/cloudtrail/resources").get_array();
  CHECK(res.size() == 1);
  CHECK(d.s("/aws/cloudtrail/resources/0/arn") == "arn:aws:iam::123456789012:user/bob");
  CHECK(d.s("/aws/cloudtrail/resources/0/account_id") == "123456789012");
  CHECK(d.s("/aws/cloudtrail/resources/0/type") == "AWS::IAM::User");
  CHECK(d.i("/event/risk_score") == 47);
}

TEST_CASE("ecs: the root user") {
  Doc d(alert_for("cis-4.8", kRoot));
  CHECK(d.s("/aws/cloudtrail/user_identity/type") == "Root");
  CHECK(d.s("/user/id") == "123456789012");
  CHECK(d.arr("/event/category") == Strings{"configuration"});
  CHECK(d.arr("/event/type") == Strings{"change"});
  CHECK(d.s("/source/ip") == "203.0.113.9");
}

TEST_CASE("ecs: an AWS service: its name is a domain, not an IP") {
  Doc d(alert_for("cis-4.9", kService));
  CHECK(d.s("/source/address") == "config.amazonaws.com");
  CHECK(d.s("/source/domain") == "config.amazonaws.com");  // OCSF src_endpoint.svc_name
  CHECK(d.arr("/related/hosts") == Strings{"config.amazonaws.com"});
  CHECK_FALSE(d.has("/user/name"));  // a service is no user (as Elastic)
  CHECK_FALSE(d.has("/source/ip"));
  CHECK_FALSE(d.has("/related/ip"));
  CHECK(d.s("/aws/cloudtrail/user_identity/invoked_by") == "config.amazonaws.com");
  CHECK(d.s("/aws/cloudtrail/shared_event_id") == "shared-1");
  CHECK(d.s("/event/outcome") == "success");
}

TEST_CASE("ecs: a failed console login") {
  Doc d(alert_for("cis-4.6", kFailedLogin));
  CHECK(d.arr("/event/category") == Strings{"authentication"});
  CHECK(d.arr("/event/type") == Strings{"info"});
  CHECK(d.s("/event/action") == "ConsoleLogin");
  CHECK(d.s("/event/outcome") == "failure");
  CHECK(d.s("/user/name") == "carol");
  CHECK(d.s("/aws/cloudtrail/error_message") == "Failed authentication");
  CHECK(d.s("/aws/cloudtrail/console_login/additional_eventdata/login_to") ==
        "https://console.aws.amazon.com/");
  CHECK(d.root.at_pointer("/aws/cloudtrail/console_login/additional_eventdata/mfa_used")
            .get_bool()
            .value_unsafe() == false);
  CHECK(d.root.at_pointer("/aws/cloudtrail/console_login/additional_eventdata/mobile_version")
            .get_bool()
            .value_unsafe() == false);
  CHECK(d.s("/aws/cloudtrail/flattened/response_elements/ConsoleLogin") == "Failure");
  CHECK(d.s("/aws/cloudtrail/flattened/additional_eventdata/MFAUsed") == "No");
  CHECK(d.s("/aws/cloudtrail/response_elements") == R"({"ConsoleLogin":"Failure"})");
}

TEST_CASE("ecs: a denied call is api / denied, outcome failure") {
  std::string rec = kRoot;
  rec.insert(rec.size() - 1, R"(,"errorCode":"AccessDenied","errorMessage":"no")");
  Doc d(alert_for("cis-4.1", rec));
  CHECK(d.arr("/event/category") == Strings{"api"});
  CHECK(d.arr("/event/type") == Strings{"denied"});
  CHECK(d.s("/event/outcome") == "failure");
  CHECK(d.s("/aws/cloudtrail/error_code") == "AccessDenied");
  CHECK(d.i("/event/risk_score") == 21);
}

TEST_CASE("ecs: a record without userIdentity") {
  const AlertRecord a = alert_for("cis-4.9", kNoIdentity);
  Doc d(a);
  // no user.* beyond what the OCSF actor says (nothing, or a placeholder of the normalizer's)
  const std::string actor = ocsf_string(a, "/evidences/0/actor/user/name");
  if (actor.empty()) CHECK_FALSE(d.has("/user/name"));
  else CHECK(d.s("/user/name") == actor);
  CHECK_FALSE(d.has("/user/target"));
  CHECK_FALSE(d.has("/aws/cloudtrail/user_identity"));
  CHECK(d.arr("/event/type") == Strings{"deletion"});
  CHECK(d.s("/source/address") == "AWS Internal");
  CHECK_FALSE(d.has("/source/ip"));
  CHECK_FALSE(d.has("/source/domain"));  // "AWS Internal" is no host name
  CHECK(d.s("/aws/cloudtrail/service_event_details") == R"({"note":"x"})");
  CHECK(d.s("/aws/cloudtrail/flattened/service_event_details/note") == "x");
  CHECK(d.s("/cloud/account/id") == "123456789012");
}

TEST_CASE("ecs: an unparseable event time: @timestamp is still a date") {
  std::string rec = kIamUser;
  const std::string t = R"("eventTime":"2024-05-06T07:08:09Z")";
  rec.replace(rec.find(t), t.size(), R"("eventTime":"last tuesday")");
  Doc d(alert_for("cis-4.9", rec));
  // the finding's time (the processing time, when the normalizer falls back), else now
  const std::string ts = d.s("/@timestamp");
  REQUIRE(ts.size() == 24);
  CHECK(ts[10] == 'T');
  CHECK(ts.ends_with("Z"));
  CHECK(ts[19] == '.');
}

TEST_CASE("ecs: the route under trailwarden.*") {
  RecordOrigin s3;
  s3.route = RecordOrigin::Route::kS3Object;
  s3.bucket = "trail-bucket";
  s3.key = "AWSLogs/o.json.gz";
  s3.notification = "sns/s3";
  Doc d(alert_for("cis-4.9", kIamUser, s3));
  CHECK(d.s("/trailwarden/route") == "s3");
  CHECK(d.root.at_pointer("/trailwarden/verified").get_bool().value_unsafe() == true);
  CHECK(d.s("/trailwarden/bucket") == "trail-bucket");
  CHECK(d.s("/trailwarden/key") == "AWSLogs/o.json.gz");
  CHECK(d.s("/trailwarden/notification") == "sns/s3");

  RecordOrigin eb;
  eb.route = RecordOrigin::Route::kInlineEvent;
  eb.event_id = "eb-1";
  eb.notification = "eventbridge/cloudtrail";
  Doc u(alert_for("cis-4.9", kIamUser, eb));
  CHECK(u.s("/trailwarden/route") == "eventbridge");
  CHECK(u.root.at_pointer("/trailwarden/verified").get_bool().value_unsafe() == false);
  CHECK(u.s("/trailwarden/eventbridge_event_id") == "eb-1");
  // the unverified finding's uid differs from the authoritative one
  CHECK(u.s("/trailwarden/finding_uid") != u.s("/trailwarden/correlation_uid"));
}

TEST_CASE("ecs: include_raw_data = false leaves event.original out") {
  OcsfOptions o;
  o.include_raw_data = false;
  Doc d(alert_for("cis-4.9", kIamUser, {}, o));
  CHECK_FALSE(d.has("/event/original"));
  CHECK(d.s("/aws/cloudtrail/event_version") == "1.08");  // the record is still mapped
}

TEST_CASE("ecs: hostile or unparseable input gives valid JSON and is counted") {
  // control characters and invalid UTF-8 in the record's strings
  std::string rec = kIamUser;
  rec.replace(rec.find("aws-cli/2.15.0"), 14, "a\\u0000b\\n\\u001b[31m");
  Doc d(alert_for("cis-4.9", rec));
  CHECK(d.s("/user_agent/original") == std::string("a\0b\n\x1b[31m", 9));

  // an alert whose finding and record cannot be parsed (an old buffer, a damaged record)
  AlertRecord a;
  a.uid = "u-1";
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config configuration changes";
  a.event_name = "StopConfigurationRecorder";
  a.event_source = "config.amazonaws.com";
  a.source_ip = "198.51.100.7\x01\xff";
  a.region = "us-east-1";
  a.account = "123456789012";
  a.ocsf = "{not json";
  a.raw = "[1,2";
  const uint64_t before = ecs_degraded_documents();
  Doc bad(a);
  CHECK(ecs_degraded_documents() == before + 1);
  CHECK(bad.arr("/trailwarden/ecs_degraded") == Strings{"finding", "record"});
  CHECK(bad.s("/rule/id") == "cis-4.9");
  CHECK(bad.s("/event/action") == "StopConfigurationRecorder");
  CHECK(bad.s("/event/outcome") == "unknown");
  CHECK(bad.s("/@timestamp") == "2025-12-04T00:00:00.123Z");  // no time: the processing time
  CHECK_FALSE(bad.has("/source/ip"));
  CHECK_FALSE(bad.has("/aws"));
  CHECK(bad.s("/trailwarden/finding_uid") == "u-1");

  // deeply nested request parameters: copied as valid JSON
  std::string deep = kIamUser;
  std::string nest;
  for (int i = 0; i < 200; ++i) nest += R"({"a":)";
  nest += "1";
  for (int i = 0; i < 200; ++i) nest += "}";
  const std::string params = R"({"configurationRecorderName":"default"})";
  deep.replace(deep.find(params), params.size(), nest);
  Doc dd(alert_for("cis-4.9", deep));
  CHECK(dd.s("/aws/cloudtrail/request_parameters") == nest);
  CHECK_FALSE(dd.has("/aws/cloudtrail/flattened"));  // deeper than Elastic's flattened takes
}

TEST_CASE("ecs: every output type takes format = \"ecs\"") {
  for (const char* type : {"file", "kafka", "splunk_hec", "syslog"}) {
    const toml::table doc = toml::parse(std::string("[[outputs]]\ntype = \"") + type +
                                        "\"\nformat = \"ecs\"\n");
    const OutputSettings s =
        parse_output_settings(*doc["outputs"].as_array()->front().as_table(), "t.toml", 0);
    CHECK(s.format == AlertFormat::kEcs);
  }
  const toml::table bad = toml::parse("[[outputs]]\ntype = \"file\"\nformat = \"elastic\"\n");
  try {
    parse_output_settings(*bad["outputs"].as_array()->front().as_table(), "t.toml", 0);
    FAIL("no error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("unknown format 'elastic' (ocsf, cloudtrail, ecs, cef)") !=
          std::string::npos);
  }
}

TEST_CASE("ecs: the format name and format_alert") {
  AlertFormat f = AlertFormat::kOcsf;
  REQUIRE(parse_alert_format("ecs", f));
  CHECK(f == AlertFormat::kEcs);
  CHECK(alert_format_name(AlertFormat::kEcs) == "ecs");
  std::string out;
  format_alert(alert_for("cis-4.9", kIamUser), AlertFormat::kEcs, out);
  dom::parser p;
  dom::element e;
  REQUIRE(p.parse(out).get(e) == simdjson::SUCCESS);
  CHECK(std::string_view(e["ecs"]["version"].get_string().value_unsafe()) == "8.17.0");
}

namespace {

// `rec` with `"key":value` added at its end.
std::string with_field(std::string rec, const std::string& key, const std::string& value) {
  rec.insert(rec.size() - 1, ",\"" + key + "\":" + value);
  return rec;
}

// `rec` with the field `"key":old` (written exactly so) replaced by `"key":value`.
std::string replace_field(std::string rec, const std::string& key, const std::string& old,
                          const std::string& value) {
  const std::string from = "\"" + key + "\":" + old;
  const size_t at = rec.find(from);
  REQUIRE(at != std::string::npos);
  rec.replace(at, from.size(), "\"" + key + "\":" + value);
  return rec;
}

// `levels` objects nested in each other, the innermost holding 1: depth `levels`.
std::string nested_objects(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += R"({"a":)";
  s += "1";
  for (int i = 0; i < levels; ++i) s += "}";
  return s;
}

int64_t fixed_now() { return 1700000000000; }  // 2023-11-14T22:13:20.000Z

}  // namespace

TEST_CASE("ecs: resources[] is capped at 64 distinct entries, the cut named and counted") {
  // 5,000 distinct resources, each twice: the old dedupe compared every entry with every kept one
  std::string res = "[";
  for (int i = 0; i < 5000; ++i)
    for (int copy = 0; copy < 2; ++copy)
      res += fmt::format(R"({{"ARN":"arn:aws:iam::123456789012:user/u{}","accountId":"123456789012","type":"AWS::IAM::User"}},)", i);
  res.back() = ']';
  const uint64_t before = ecs_truncated_documents();
  Doc d(alert_for("cis-4.9", with_field(kIamUser, "resources", res)));
  dom::array kept = d.root.at_pointer("/aws/cloudtrail/resources").get_array();
  CHECK(kept.size() == 64);  // distinct ones, in the record's order
  CHECK(d.s("/aws/cloudtrail/resources/0/arn") == "arn:aws:iam::123456789012:user/u0");
  CHECK(d.s("/aws/cloudtrail/resources/63/arn") == "arn:aws:iam::123456789012:user/u63");
  CHECK(d.arr("/trailwarden/truncated_fields") == Strings{"aws.cloudtrail.resources"});
  CHECK(ecs_truncated_documents() == before + 1);

  // exactly 64 distinct (with duplicates): nothing cut
  std::string res64 = "[";
  for (int i = 0; i < 64; ++i)
    res64 += fmt::format(R"({{"ARN":"arn:aws:s3:::b{}"}},{{"ARN":"arn:aws:s3:::b{}"}},)", i, i);
  res64.back() = ']';
  Doc e(alert_for("cis-4.9", with_field(kIamUser, "resources", res64)));
  CHECK(e.root.at_pointer("/aws/cloudtrail/resources").get_array().size() == 64);
  CHECK_FALSE(e.has("/trailwarden/truncated_fields"));
  CHECK(ecs_truncated_documents() == before + 1);
}

TEST_CASE("ecs: an unparseable eventTime is marked, with the raw text") {
  OcsfOptions o;
  o.now_ms = fixed_now;
  const std::string rec =
      replace_field(kIamUser, "eventTime", R"("2024-05-06T07:08:09Z")", R"("2024-05-06 07:08:09")");
  Doc d(alert_for("cis-4.9", rec, {}, o));
  CHECK(d.s("/@timestamp") == "2023-11-14T22:13:20.000Z");  // the finding's (processing) time
  CHECK(d.root.at_pointer("/trailwarden/time_unparsed").get_bool().value_unsafe() == true);
  CHECK(d.s("/trailwarden/original_time") == "2024-05-06 07:08:09");

  // no eventTime at all: marked, nothing to quote
  std::string none = kIamUser;
  const std::string t = R"("eventTime":"2024-05-06T07:08:09Z",)";
  none.erase(none.find(t), t.size());
  Doc n(alert_for("cis-4.9", none, {}, o));
  CHECK(n.s("/@timestamp") == "2023-11-14T22:13:20.000Z");
  CHECK(n.root.at_pointer("/trailwarden/time_unparsed").get_bool().value_unsafe() == true);
  CHECK_FALSE(n.has("/trailwarden/original_time"));

  // a good time: no mark
  Doc g(alert_for("cis-4.9", kIamUser, {}, o));
  CHECK_FALSE(g.has("/trailwarden/time_unparsed"));
  CHECK_FALSE(g.has("/trailwarden/original_time"));
}

TEST_CASE("ecs: eventTime 1970-01-01T00:00:00Z is the epoch, not the processing time") {
  const std::string rec =
      replace_field(kIamUser, "eventTime", R"("2024-05-06T07:08:09Z")", R"("1970-01-01T00:00:00Z")");
  Doc d(alert_for("cis-4.9", rec));
  CHECK(d.s("/@timestamp") == "1970-01-01T00:00:00.000Z");
  CHECK_FALSE(d.has("/trailwarden/time_unparsed"));
}

TEST_CASE("ecs: flattened objects only up to Elastic's depth limit of 20") {
  const std::string params = R"({"configurationRecorderName":"default"})";
  Doc ok(alert_for("cis-4.9", replace_field(kIamUser, "requestParameters", params,
                                            nested_objects(20))));
  CHECK(ok.has("/aws/cloudtrail/flattened/request_parameters/a"));
  CHECK(ok.s("/aws/cloudtrail/request_parameters") == nested_objects(20));

  Doc deep(alert_for("cis-4.9", replace_field(kIamUser, "requestParameters", params,
                                              nested_objects(21))));
  CHECK_FALSE(deep.has("/aws/cloudtrail/flattened"));  // Elastic would reject the document
  CHECK(deep.s("/aws/cloudtrail/request_parameters") == nested_objects(21));  // the text stays

  // depth through arrays counts too; a sibling within the limit is still flattened
  std::string arrays = R"({"x":)";
  for (int i = 0; i < 20; ++i) arrays += "[";
  arrays += "1";
  for (int i = 0; i < 20; ++i) arrays += "]";
  arrays += "}";
  std::string rec = replace_field(kIamUser, "requestParameters", params, arrays);
  rec = replace_field(rec, "responseElements", "null", R"({"ok":true})");
  Doc mixed(alert_for("cis-4.9", rec));
  CHECK_FALSE(mixed.has("/aws/cloudtrail/flattened/request_parameters"));
  CHECK(mixed.has("/aws/cloudtrail/flattened/response_elements/ok"));
}

TEST_CASE("ecs: an AWS service is no user: no user.name, no related.user") {
  const AlertRecord a = alert_for("cis-4.9", kService);
  REQUIRE_FALSE(ocsf_string(a, "/evidences/0/actor/user/name").empty());  // OCSF names it
  Doc d(a);
  CHECK_FALSE(d.has("/user/name"));
  CHECK_FALSE(d.has("/related/user"));
  CHECK(d.s("/aws/cloudtrail/user_identity/invoked_by") == "config.amazonaws.com");
  CHECK(d.s("/source/domain") == "config.amazonaws.com");
  CHECK(d.arr("/related/hosts") == Strings{"config.amazonaws.com"});
}

TEST_CASE("ecs: group.name only from IAM's groupName, not from a security group's") {
  const std::string sg = R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"ec2.amazonaws.com","eventName":"CreateSecurityGroup","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"groupName":"web","groupDescription":"d","vpcId":"vpc-0123abcd"},"eventID":"ev-7","eventType":"AwsApiCall","recipientAccountId":"123456789012"})";
  Doc ec2(alert_for("cis-4.10", sg));
  CHECK_FALSE(ec2.has("/group"));

  const std::string iam = R"({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"},"eventTime":"2024-05-06T07:08:09Z","eventSource":"iam.amazonaws.com","eventName":"PutGroupPolicy","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"groupName":"admins","policyName":"p","policyDocument":"{}"},"eventID":"ev-8","eventType":"AwsApiCall","recipientAccountId":"123456789012"})";
  Doc g(alert_for("cis-4.4", iam));
  CHECK(g.s("/group/name") == "admins");
}

TEST_CASE("ecs: access denial is decided as OCSF decides it") {
  for (const char* code : {"AccessDenied", "AccessDeniedException", "Client.UnauthorizedOperation",
                           "UnauthorizedOperation", "UnauthorizedAccess", "ThrottlingException",
                           "NoSuchEntity"}) {
    CAPTURE(code);
    const std::string rec = with_field(kRoot, "errorCode", std::string("\"") + code + "\"");
    const AlertRecord a = alert_for("cis-4.1", rec);
    dom::parser p;
    int64_t http = 0;
    const bool ocsf_denied =
        p.parse(a.ocsf).at_pointer("/evidences/0/api/response/code").get_int64().get(http) ==
            simdjson::SUCCESS &&
        http == 403;
    CHECK(ocsf_denied == is_access_denied(code));
    Doc d(a);
    CHECK((d.arr("/event/category") == Strings{"api"}) == ocsf_denied);
    CHECK((d.arr("/event/type") == Strings{"denied"}) == ocsf_denied);
    CHECK(d.s("/event/outcome") == "failure");
  }
}

namespace {

IntegrityFindingInput integrity_input(IntegrityCheck check) {
  IntegrityFindingInput in;
  in.check = check;
  in.reason = "hash value doesn't match";
  in.bucket = "trail-bucket";
  in.key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/f.json.gz";
  in.account = "111122223333";
  in.region = "eu-west-1";
  in.digest_key = "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/d.json.gz";
  in.expected_sha256 = std::string(64, 'e');
  in.actual_sha256 = std::string(64, 'a');
  in.from_ms = 1795136431000;
  in.to_ms = 1795140031000;
  in.time_ms = 1795143631123;
  return in;
}

}  // namespace

TEST_CASE("ecs: an integrity finding is a file alert about the S3 object, with its evidence") {
  const AlertRecord a = make_integrity_alert(integrity_input(IntegrityCheck::kLogFileModified));
  const uint64_t degraded = ecs_degraded_documents();
  Doc d(a);
  CHECK(ecs_degraded_documents() == degraded);
  CHECK_FALSE(d.has("/trailwarden/ecs_degraded"));
  CHECK(d.s("/@timestamp") == "2026-11-20T03:00:31.123Z");
  CHECK_FALSE(d.has("/trailwarden/time_unparsed"));  // the finding's time is when it was found
  CHECK(d.s("/event/kind") == "alert");
  CHECK(d.arr("/event/category") == Strings{"file"});
  CHECK(d.arr("/event/type") == Strings{"change"});
  CHECK(d.s("/event/action") == "log_file_modified");
  CHECK(d.s("/event/outcome") == "failure");
  CHECK(d.i("/event/severity") == 5);
  CHECK(d.s("/event/original") == a.raw);
  CHECK_FALSE(d.has("/event/provider"));
  CHECK(d.s("/rule/id") == "integrity.log_file_modified");
  CHECK(d.s("/rule/name") == "CloudTrail log file modified");
  CHECK(d.s("/rule/description") == "hash value doesn't match");
  CHECK(d.s("/rule/ruleset") == "integrity");
  CHECK(d.s("/cloud/account/id") == "111122223333");
  CHECK(d.s("/cloud/region") == "eu-west-1");
  CHECK(d.s("/file/path") == "s3://trail-bucket/" + a.key);
  CHECK(d.s("/file/name") == "f.json.gz");
  CHECK(d.s("/file/hash/sha256") == std::string(64, 'a'));
  CHECK(d.arr("/related/hash") == Strings{std::string(64, 'a')});
  CHECK_FALSE(d.has("/aws"));  // the evidence is no CloudTrail record
  CHECK_FALSE(d.has("/source"));
  CHECK(d.s("/trailwarden/kind") == "integrity");
  CHECK(d.s("/trailwarden/route") == "s3");
  CHECK(d.s("/trailwarden/key") == a.key);
  CHECK(d.s("/trailwarden/integrity/check") == "log_file_modified");
  CHECK(d.s("/trailwarden/integrity/expected_sha256") == std::string(64, 'e'));
  CHECK(d.s("/trailwarden/integrity/digest_key") == integrity_input(IntegrityCheck::kLogFileModified).digest_key);
  CHECK(d.s("/trailwarden/integrity/from") == "2026-11-20T01:00:31.000Z");
  CHECK(d.s("/trailwarden/integrity/to") == "2026-11-20T02:00:31.000Z");

  // The other checks say what is known about the trail's files; a hash that is not one is not
  // indexed as a hash.
  IntegrityFindingInput in = integrity_input(IntegrityCheck::kDigestChainBroken);
  in.actual_sha256 = "not a hash";
  Doc b(make_integrity_alert(in));
  CHECK(b.arr("/event/type") == Strings{"info"});
  CHECK_FALSE(b.has("/file/hash"));
  CHECK_FALSE(b.has("/related"));
  CHECK(b.s("/trailwarden/integrity/actual_sha256") == "not a hash");
}

TEST_CASE("ecs: an alarm transition has no record, and is not degraded for it") {
  AlertRecord a = alert_for("cis-4.9", R"({"eventTime":"2024-01-02T03:04:05Z","eventName":"X"})");
  a.kind = AlertKind::kAlarm;
  a.raw.clear();
  const uint64_t degraded = ecs_degraded_documents();
  Doc d(a);
  CHECK(ecs_degraded_documents() == degraded);
  CHECK_FALSE(d.has("/trailwarden/ecs_degraded"));
  CHECK(d.s("/trailwarden/kind") == "alarm");
  // An integrity alert whose evidence cannot be read is degraded as a record alert would be.
  AlertRecord i = make_integrity_alert(integrity_input(IntegrityCheck::kDigestInvalid));
  i.raw = "{not json";
  Doc e(i);
  CHECK(ecs_degraded_documents() == degraded + 1);
  CHECK(e.arr("/trailwarden/ecs_degraded") == Strings{"record"});
  CHECK(e.s("/rule/id") == "integrity.digest_invalid");
}
