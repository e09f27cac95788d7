#include "agent/sources/notification.h"

#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>

#include "tests/unit/test_util.h"

using namespace trailwarden;
using Kind = Notification::Kind;

namespace {

// Shapes as AWS documents them (samples: tests/data/notifications, reference/notifications).
std::string s3_event(const std::string& bucket, const std::string& encoded_key,
                     const std::string& event_name = "ObjectCreated:Put") {
  return R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-west-2",)"
         R"("eventTime":"1970-01-01T00:00:00.000Z","eventName":")" + event_name +
         R"(","userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},)"
         R"("requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810"},)"
         R"("s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule","bucket":{"name":")" +
         bucket + R"(","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::)" + bucket +
         R"("},"object":{"key":")" + encoded_key +
         R"(","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}}]})";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string sns(const std::string& message) {
  return R"({"Type":"Notification","MessageId":"dc1e94d9-56c5-5e96-808d-cc7f68faa162","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Subject":"Amazon S3 Notification","Message":)" +
         json_string(message) +
         R"(,"Timestamp":"2021-02-16T21:41:19.978Z","SignatureVersion":"1","Signature":"EXAMPLE","SigningCertURL":"https://sns.us-west-2.amazonaws.com/x.pem","UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"})";
}

const char* kTestEvent =
    R"({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"bucketname","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"})";

const char* kCloudTrailSns =
    R"({"s3Bucket":"your-bucket-name","s3ObjectKey":["AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2215Z_kpaMYavMQA9Ahp7L.json.gz","AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2210Z_zqDkyQv3TK8ZdLr0.json.gz"]})";

const char* kEventBridgeObjectCreated =
    R"({"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2021-11-12T00:00:00Z","region":"ca-central-1","resources":["arn:aws:s3:::DOC-EXAMPLE-BUCKET1"],"detail":{"version":"0","bucket":{"name":"DOC-EXAMPLE-BUCKET1"},"object":{"key":"example-key","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","version-id":"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e","sequencer":"617f08299329d189"},"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}})";

const char* kEventBridgeApiCall =
    R"({"version":"0","id":"36eb8523-97d0-4518-b33d-ee3579ff19f0","detail-type":"AWS API Call via CloudTrail","source":"aws.config","account":"123456789012","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/x"},"eventTime":"2024-01-01T00:00:00Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"us-east-1","eventID":"e-1","eventType":"AwsApiCall"}})";

}  // namespace

TEST_CASE("direct S3 event: keys are URL-decoded") {
  auto n = parse_notification(s3_event("mybucket", "AWSLogs/1/CloudTrail/red+flower%2B1%3A2.json.gz"));
  REQUIRE(n.kind == Kind::kObjects);
  CHECK(n.route == "s3");
  REQUIRE(n.objects.size() == 1);
  CHECK(n.objects[0].bucket == "mybucket");
  CHECK(n.objects[0].key == "AWSLogs/1/CloudTrail/red flower+1:2.json.gz");
  CHECK(n.objects[0].size == 1024u);
  CHECK(n.objects[0].version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko");
  CHECK(n.objects[0].etag == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("notified ETags: kept if they are ETags, quotes removed, junk dropped") {
  auto with_etag = [](const std::string& etag) {
    std::string event = s3_event("b", "k.json.gz");
    const std::string from = "d41d8cd98f00b204e9800998ecf8427e";
    event.replace(event.find(from), from.size(), etag);
    auto n = parse_notification(event);
    REQUIRE(n.kind == Kind::kObjects);
    return n.objects[0].etag;
  };
  CHECK(with_etag("0123abcd-12") == "0123abcd-12");  // multipart upload
  CHECK(with_etag("\\\"0123abcd\\\"") == "0123abcd");
  CHECK(with_etag("ab\\r\\nX-Evil: 1").empty());
  CHECK(with_etag("ab cd").empty());
}

TEST_CASE("S3 through SNS, raw delivery off and on") {
  auto off = parse_notification(sns(s3_event("b", "k.json.gz")));
  REQUIRE(off.kind == Kind::kObjects);
  CHECK(off.route == "sns/s3");
  CHECK(off.objects[0].key == "k.json.gz");
  auto on = parse_notification(s3_event("b", "k.json.gz"));  // raw delivery: the S3 JSON itself
  CHECK(on.kind == Kind::kObjects);
}

TEST_CASE("EventBridge Object Created") {
  auto n = parse_notification(kEventBridgeObjectCreated);
  REQUIRE(n.kind == Kind::kObjects);
  CHECK(n.route == "eventbridge/s3");
  CHECK(n.objects[0].bucket == "DOC-EXAMPLE-BUCKET1");
  CHECK(n.objects[0].key == "example-key");
  CHECK(n.objects[0].size == 5u);
  CHECK(n.objects[0].etag == "b1946ac92492d2347c6235b4d2611184");
  CHECK_FALSE(n.objects[0].verify_identity);  // set by readers only
  CHECK(n.objects[0].alternate_key.empty());  // both readings agree
}

TEST_CASE("EventBridge keys: taken as given, with the URL-decoded reading when it differs") {
  auto key_of = [](const std::string& key) {
    const std::string body =
        R"({"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3",)"
        R"("account":"111122223333","time":"2021-11-12T00:00:00Z","region":"us-east-1",)"
        R"("resources":[],"detail":{"bucket":{"name":"b"},"object":{"key":")" +
        key + R"(","size":5}}})";
    auto n = parse_notification(body);
    REQUIRE(n.kind == Kind::kObjects);
    return n.objects[0];
  };
  ObjectRef o = key_of("raw/2023-08-08T14:03:40.532432.zip");  // as a real event has it
  CHECK(o.key == "raw/2023-08-08T14:03:40.532432.zip");
  CHECK(o.alternate_key.empty());
  o = key_of("AWSLogs/a+b%2Bc.json.gz");
  CHECK(o.key == "AWSLogs/a+b%2Bc.json.gz");
  CHECK(o.alternate_key == "AWSLogs/a b+c.json.gz");
  o = key_of("AWSLogs/100%.json.gz");  // not a valid encoding: one reading only
  CHECK(o.key == "AWSLogs/100%.json.gz");
  CHECK(o.alternate_key.empty());
  // S3 -> SQS keys are always URL-encoded: decoded, one reading.
  auto s3 = parse_notification(s3_event("b", "AWSLogs/a+b%2Bc.json.gz"));
  REQUIRE(s3.kind == Kind::kObjects);
  CHECK(s3.objects[0].key == "AWSLogs/a b+c.json.gz");
  CHECK(s3.objects[0].alternate_key.empty());
}

TEST_CASE("CloudTrail's own SNS notification, with and without the envelope") {
  auto n = parse_notification(sns(kCloudTrailSns));
  REQUIRE(n.kind == Kind::kObjects);
  CHECK(n.route == "sns/cloudtrail-sns");
  REQUIRE(n.objects.size() == 2);
  CHECK(n.objects[1].bucket == "your-bucket-name");
  CHECK(n.objects[1].key.ends_with("zqDkyQv3TK8ZdLr0.json.gz"));
  CHECK(parse_notification(kCloudTrailSns).route == "cloudtrail-sns");
}

TEST_CASE("EventBridge AWS API Call via CloudTrail is matched inline") {
  auto n = parse_notification(kEventBridgeApiCall);
  REQUIRE(n.kind == Kind::kInlineEvent);
  CHECK(n.route == "eventbridge/cloudtrail");
  CHECK(n.inline_event.find("\"eventName\":\"StopConfigurationRecorder\"") != std::string::npos);
  CHECK(n.inline_event.front() == '{');
  CHECK(n.claims.id == "36eb8523-97d0-4518-b33d-ee3579ff19f0");
  CHECK(n.claims.source == "aws.config");
  CHECK(n.claims.account == "123456789012");
  CHECK(n.claims.region == "us-east-1");
  CHECK(n.claims.record_account.empty());  // this record has no recipientAccountId
  CHECK(n.claims.record_region == "us-east-1");
  CHECK(n.claims.route == "eventbridge/cloudtrail");
}

TEST_CASE("an EventBridge CloudTrail event inside SNS envelopes claims the route it came by") {
  auto once = parse_notification(sns(kEventBridgeApiCall));
  REQUIRE(once.kind == Kind::kInlineEvent);
  CHECK(once.route == "sns/eventbridge/cloudtrail");
  CHECK(once.claims.route == "sns/eventbridge/cloudtrail");
  auto twice = parse_notification(sns(sns(kEventBridgeApiCall)));
  REQUIRE(twice.kind == Kind::kInlineEvent);
  CHECK(twice.claims.route == "sns/sns/eventbridge/cloudtrail");
}

namespace {
// The "body" of a sample in tests/data/notifications, as the compact JSON SQS delivers.
std::string sample_body(const std::string& file) {
  simdjson::dom::parser p;
  std::string text = test::read_data("notifications/" + file);
  simdjson::dom::element doc = p.parse(text);
  return simdjson::minify(doc["body"]);
}
}  // namespace

TEST_CASE("S3's own API calls via CloudTrail (source aws.s3) are inline events, not ignored") {
  // PutBucketAcl, a CIS 4.8 trigger: it used to take the "Object Created" branch and be deleted.
  auto n = parse_notification(sample_body("eventbridge_s3_api_call.json"));
  REQUIRE(n.kind == Kind::kInlineEvent);
  CHECK(n.route == "eventbridge/cloudtrail");
  CHECK(n.inline_event.find("\"eventName\":\"PutBucketAcl\"") != std::string::npos);
  CHECK(n.claims.source == "aws.s3");
  CHECK(n.claims.account == "111122223333");
  CHECK(n.claims.record_account == "111122223333");
  CHECK(n.claims.region == "us-west-2");
  CHECK(n.claims.record_region == "us-west-2");
  // ... and S3's Object Created events still name objects.
  CHECK(parse_notification(kEventBridgeObjectCreated).kind == Kind::kObjects);
}

TEST_CASE("s3:TestEvent, directly and through SNS") {
  CHECK(parse_notification(kTestEvent).kind == Kind::kTestEvent);
  CHECK(parse_notification(sns(kTestEvent)).kind == Kind::kTestEvent);
}

TEST_CASE("understood but nothing to fetch: ignored") {
  auto n = parse_notification(s3_event("b", "k", "ObjectRemoved:Delete"));
  CHECK(n.kind == Kind::kIgnored);
  CHECK(n.reason.find("ObjectCreated") != std::string::npos);
  std::string deleted = kEventBridgeObjectCreated;
  deleted.replace(deleted.find("Object Created"), 14, "Object Deleted");
  CHECK(parse_notification(deleted).kind == Kind::kIgnored);
}

TEST_CASE("anything else is unknown, with a reason") {
  for (const std::string& body : {
           std::string("not json"),
           std::string("[1,2]"),
           std::string(R"({"hello":"world"})"),
           sns("This is a test message."),
           std::string(R"({"Records":[{"eventSource":"aws:dynamodb"}]})"),
           std::string(R"({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]})"),
           s3_event("b", "bad%zzescape"),
           std::string(R"({"s3Bucket":"b","s3ObjectKey":"not-a-list"})"),
           std::string(R"({"detail-type":"Something","source":"custom.app","detail":{}})"),
           std::string(R"({"Records":[]})"),
       }) {
    CAPTURE(body);
    auto n = parse_notification(body);
    CHECK(n.kind == Kind::kUnknown);
    CHECK_FALSE(n.reason.empty());
  }
  auto n = parse_notification(sns("This is a test message."));
  CHECK(n.reason.find("inside an SNS envelope") != std::string::npos);
}

TEST_CASE("URL decoding of S3 keys") {
  std::string out;
  CHECK(url_decode_s3_key("a+b%20c%2Fd", out));
  CHECK(out == "a b c/d");
  CHECK_FALSE(url_decode_s3_key("a%2", out));
  CHECK_FALSE(url_decode_s3_key("a%", out));
  CHECK_FALSE(url_decode_s3_key("%g0", out));
  CHECK(url_decode_s3_key("", out));
  CHECK(out.empty());
}
