// The SNS output: topic ARNs and configuration keys, the Publish entry (subject, attributes,
// FIFO ids, trimming of oversized alerts), the CloudWatch alarm notification encoder, and the
// sink's requests and classification of SNS's answers against a fake HttpClient
// (tests/unit/aws/fakes.h). Nothing here touches the network.
#include "outputs/sns/sns_output.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <map>
#include <stdexcept>

#include "agent/config/toml_util.h"
#include "agent/normalize/integrity_finding.h"
#include "outputs/settings.h"
#include "outputs/sns/cloudwatch_alarm_message.h"
#include "tests/unit/aws/fakes.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::aws::test;

namespace {

const std::string kArn = "arn:aws:sns:us-east-1:123456789012:alerts";
const std::string kPost = "POST https://sns.us-east-1.amazonaws.com/";

AlertRecord alert(int i) {
  AlertRecord a;
  a.uid = "uid-" + std::to_string(i);
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config configuration changes";
  a.severity_id = 4;
  a.time_ms = 1700000000123;
  a.account = "123456789012";
  a.region = "eu-west-1";
  a.event_name = "StopConfigurationRecorder";
  a.ocsf = R"({"class_uid":2004,"finding_info":{"uid":"uid-)" + std::to_string(i) +
           R"("},"raw_data":"{}","unmapped":{"trailwarden":{"route":"s3"},"x":1}})";
  a.raw = R"({"eventName":"StopConfigurationRecorder"})";
  return a;
}

OutputSettings settings(const std::string& body) {
  const toml::table doc = parse_toml("[[outputs]]\ntype = \"sns\"\n" + body, "sns.toml");
  return parse_output_settings(*doc["outputs"].as_array()->front().as_table(), "sns.toml", 0);
}

SnsOptions parse(const std::string& body, aws::Environment env = {},
                 aws::EndpointConfig endpoints = {}) {
  return parse_sns_config(settings(body), endpoints, env);
}

std::string parse_error(const std::string& body, aws::Environment env = {}) {
  try {
    parse(body, env);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

SnsOptions options() { return parse("topic_arn = \"" + kArn + "\"\n"); }

std::string batch_response(const std::vector<int>& ok, const std::string& failed_members) {
  std::string s =
      "<PublishBatchResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
      "<PublishBatchResult><Successful>";
  for (int i : ok)
    s += "<member><Id>" + std::to_string(i) + "</Id><MessageId>m-" + std::to_string(i) +
         "</MessageId></member>";
  s += "</Successful><Failed>" + failed_members +
       "</Failed></PublishBatchResult><ResponseMetadata><RequestId>r</RequestId>"
       "</ResponseMetadata></PublishBatchResponse>";
  return s;
}

std::string failed_member(int id, const std::string& code, bool sender) {
  return "<member><Code>" + code + "</Code><Id>" + std::to_string(id) +
         "</Id><Message>no</Message><SenderFault>" + (sender ? "true" : "false") +
         "</SenderFault></member>";
}

std::string error_xml(const std::string& code, const std::string& message) {
  return "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender"
         "</Type><Code>" +
         code + "</Code><Message>" + message +
         "</Message></Error><RequestId>r</RequestId></ErrorResponse>";
}

struct Batch {
  std::vector<AlertRecord> alerts;
  std::vector<const AlertRecord*> ptrs;
  explicit Batch(int n) {
    for (int i = 0; i < n; ++i) alerts.push_back(alert(i));
    for (const auto& a : alerts) ptrs.push_back(&a);
  }
};

struct Sink {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  SnsOutput out;
  explicit Sink(SnsOptions o = options())
      : out("sns-0", std::move(o), http, std::make_shared<StaticCredentials>()) {}
};

}  // namespace

TEST_CASE("sns topic ARN: region, partition, account and FIFO come from it") {
  SnsTopicArn t;
  std::string error;
  REQUIRE(parse_sns_topic_arn(kArn, t, error));
  CHECK(t.region == "us-east-1");
  CHECK(t.partition == "aws");
  CHECK(t.account == "123456789012");
  CHECK(t.name == "alerts");
  CHECK_FALSE(t.fifo);
  REQUIRE(parse_sns_topic_arn("arn:aws-cn:sns:cn-north-1:123456789012:a_b-c.fifo", t, error));
  CHECK(t.fifo);
  CHECK(t.partition == "aws-cn");
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sns:cn-north-1:123456789012:a", t, error));
  CHECK(error.find("partition aws-cn") != std::string::npos);
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sqs:us-east-1:123456789012:a", t, error));
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sns:us-east-1:12345:a", t, error));
  CHECK(error.find("account") != std::string::npos);
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sns:us-east-1:123456789012:a/b", t, error));
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sns:us-east-1:123456789012:.fifo", t, error));
  CHECK_FALSE(parse_sns_topic_arn("arn:aws:sns:not a region:123456789012:a", t, error));
  CHECK_FALSE(parse_sns_topic_arn("alerts", t, error));
}

TEST_CASE("sns config: endpoint and signing region from the ARN, the overrides and the environment") {
  SnsOptions o = options();
  CHECK(o.host == "sns.us-east-1.amazonaws.com");
  CHECK(o.scheme == "https");
  CHECK(o.region == "us-east-1");
  CHECK(o.batch);
  CHECK(o.attributes == sns_default_attributes());
  o = parse("topic_arn = \"arn:aws:sns:eu-west-1:123456789012:a\"\n",
            {{"AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:4566"}});
  CHECK(o.host == "127.0.0.1:4566");
  CHECK(o.scheme == "http");
  CHECK(o.region == "eu-west-1");
  o = parse("topic_arn = \"" + kArn + "\"\nendpoint_url = \"http://localhost:9000\"\n",
            {{"AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:4566"}});
  CHECK(o.host == "localhost:9000");
  aws::EndpointConfig fips;
  fips.use_fips = true;
  o = parse("topic_arn = \"" + kArn + "\"\n", {}, fips);
  CHECK(o.host == "sns-fips.us-east-1.amazonaws.com");
  // A VPC endpoint names its region, which signs.
  o = parse("topic_arn = \"" + kArn +
            "\"\nendpoint_url = \"https://vpce-0abc-xyz.sns.us-east-1.vpce.amazonaws.com\"\n");
  CHECK(o.region == "us-east-1");
  o = parse("topic_arn = \"" + kArn + "\"\nregion = \"us-west-2\"\n");
  CHECK(o.region == "us-west-2");
  CHECK(o.host == "sns.us-west-2.amazonaws.com");
}

TEST_CASE("sns config: bad values are errors naming the key and its position") {
  CHECK(parse_error("").find("needs topic_arn") != std::string::npos);
  CHECK(parse_error("topic_arn = \"arn:aws:sns:us-east-1:1:a\"\n").find("sns.toml:3:1: topic_arn") !=
        std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nregion = \"cn-north-1\"\n")
            .find("not in the topic's partition") != std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nsubject = \"{nope}\"\n")
            .find("unknown field {nope}") != std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nsubject = \"{rule_id\"\n").find("unclosed") !=
        std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nmessage_attributes = [\"bogus\"]\n")
            .find("unknown field 'bogus'") != std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nmessage_group_id = \"account\"\n")
            .find("only for FIFO topics") != std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nendpoint_url = \"http://sns.example.com\"\n")
            .find("clear text") != std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\nformat = \"cef\"\n").find("for syslog outputs") !=
        std::string::npos);
  CHECK(parse_error("topic_arn = \"" + kArn + "\"\ntopic = \"x\"\n").find("unknown key 'topic'") !=
        std::string::npos);
}

TEST_CASE("sns subject: ASCII printable, one line, at most 100 characters, from a template") {
  CHECK(sns_safe_subject("a\nb\tc") == "a b c");
  CHECK(sns_safe_subject("caf\xc3\xa9 \xe2\x9c\x93!") == "caf? ?!");
  CHECK(sns_safe_subject("   ") == "");
  CHECK(sns_safe_subject("  x ") == "x");
  CHECK(sns_safe_subject(std::string(300, ' ') + "\n\tsubject") == "subject");
  const std::string cut = sns_safe_subject(std::string(300, 'x'));
  CHECK(cut.size() == 100);
  CHECK(cut.ends_with("..."));
  SnsSubjectTemplate t;
  std::string error;
  REQUIRE(parse_sns_subject("{{{severity}}} {rule_id}: {rule_title}", t, error));
  CHECK(sns_subject(t, alert(0)) == "{High} cis-4.9: AWS Config configuration changes");
  CHECK(sns_subject(options().subject, alert(0)) ==
        "trailwarden High: AWS Config configuration changes");
}

TEST_CASE("sns entry: String attributes for filter policies, empty ones left out") {
  AlertRecord a = alert(0);
  a.region.clear();
  const SnsEntry e = make_sns_entry(a, options());
  CHECK(e.message == a.ocsf);
  CHECK_FALSE(e.trimmed);
  std::vector<std::pair<std::string, std::string>> want = {{"severity", "High"},
                                                            {"severity_id", "4"},
                                                            {"rule_id", "cis-4.9"},
                                                            {"account", "123456789012"},
                                                            {"event_name", "StopConfigurationRecorder"}};
  CHECK(e.attributes == want);
  CHECK(e.group_id.empty());
  CHECK(e.deduplication_id.empty());
  // A huge value is cut on a UTF-8 boundary, so that attributes never crowd out the message.
  a.event_name = "x" + std::string(2000, '\xc3');
  for (size_t i = 2; i < a.event_name.size(); i += 2) a.event_name[i] = '\xa9';
  const SnsEntry big = make_sns_entry(a, options());
  CHECK(big.attributes.back().second.size() == 1023);
  CHECK(big.attributes.back().second.back() == '\xa9');
}

TEST_CASE("sns entry: FIFO topics group by the configured field and deduplicate by finding uid") {
  const SnsOptions o = parse(
      "topic_arn = \"arn:aws:sns:us-east-1:123456789012:alerts.fifo\"\nmessage_group_id = "
      "\"account\"\n");
  AlertRecord a = alert(7);
  SnsEntry e = make_sns_entry(a, o);
  CHECK(e.group_id == "123456789012");
  CHECK(e.deduplication_id == "uid-7");
  a.account.clear();
  a.uid = std::string(200, 'u');  // too long for an SNS id: its SHA-256
  e = make_sns_entry(a, o);
  CHECK(e.group_id == "trailwarden");
  CHECK(e.deduplication_id.size() == 64);
  CHECK(make_sns_entry(a, o).deduplication_id == e.deduplication_id);
}

TEST_CASE("sns entry: an alert over 256 KiB is trimmed, marked and counted, never dropped") {
  AlertRecord a = alert(1);
  a.ocsf = R"({"class_uid":2004,"finding_info":{"uid":"uid-1"},"raw_data":")" +
           std::string(300000, 'r') + R"(","unmapped":{"trailwarden":{"route":"s3"},"x":1}})";
  const uint64_t before = sns_trimmed_messages();
  SnsEntry e = make_sns_entry(a, options());
  CHECK(e.trimmed);
  CHECK(sns_trimmed_messages() == before + 1);
  CHECK(e.payload_bytes() <= kSnsMaxPayloadBytes);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(e.message).get(doc) == simdjson::SUCCESS);
  CHECK(doc["raw_data"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(doc["class_uid"].get_int64().value() == 2004);
  CHECK(doc["unmapped"]["x"].get_int64().value() == 1);  // level 1 keeps unmapped
  CHECK(doc["unmapped"]["trailwarden"]["route"].get_string().value() == "s3");
  CHECK(doc["unmapped"]["trailwarden"]["sns_trimmed"]["fields"].at(0).get_string().value() ==
        "raw_data");
  CHECK(doc["unmapped"]["trailwarden"]["sns_trimmed"]["original_bytes"].get_uint64().value() ==
        a.ocsf.size());

  // Both big: unmapped keeps only trailwarden.
  a.ocsf = R"({"class_uid":2004,"raw_data":")" + std::string(200000, 'r') +
           R"(","unmapped":{"trailwarden":{"route":"s3"},"big":")" + std::string(270000, 'b') +
           R"("}})";
  e = make_sns_entry(a, options());
  REQUIRE(p.parse(e.message).get(doc) == simdjson::SUCCESS);
  CHECK(doc["unmapped"]["big"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(doc["unmapped"]["trailwarden"]["sns_trimmed"]["fields"].at(1).get_string().value() ==
        "unmapped");

  // Still too big without them: a summary of the alert.
  a.ocsf = R"({"class_uid":2004,"message":")" + std::string(300000, 'm') + R"("})";
  e = make_sns_entry(a, options());
  CHECK(e.payload_bytes() <= kSnsMaxPayloadBytes);
  REQUIRE(p.parse(e.message).get(doc) == simdjson::SUCCESS);
  CHECK(doc["trailwarden"]["finding_uid"].get_string().value() == "uid-1");
  CHECK(doc["trailwarden"]["sns_trimmed"]["fields"].at(0).get_string().value() == "*");
  CHECK(sns_trimmed_messages() == before + 3);
}

TEST_CASE("cloudwatch alarm message: CloudWatch's members, order, types and formats") {
  CloudWatchAlarmChange c;
  c.alarm_name = "cis-4.3-root-usage";
  c.account_id = "123456789012";
  c.configuration_updated_ms = 1796379900000;  // 2026-12-04T10:25:00.000Z
  c.new_state = "ALARM";
  c.new_state_reason =
      "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (04/12/26 10:05:00)] was greater "
      "than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).";
  c.state_change_ms = 1796378700123;  // 2026-12-04T10:05:00.123Z
  c.region = "us-east-1";
  c.old_state = "OK";
  c.alarm_actions = {"arn:aws:sns:us-east-1:123456789012:alerts"};
  c.trigger.metric_name = "RootAccountUsageCount";
  c.trigger.metric_namespace = "CISBenchmark";
  c.trigger.dimensions = {{"userName", "root"}};
  const std::string want =
      R"j({"AlarmName":"cis-4.3-root-usage","AlarmDescription":null,"AWSAccountId":"123456789012",)j"
      R"j("AlarmConfigurationUpdatedTimestamp":"2026-12-04T10:25:00.000+0000","NewStateValue":"ALARM",)j"
      R"j("NewStateReason":"Threshold Crossed: 1 out of the last 1 datapoints [2.0 (04/12/26 10:05:00)] )j"
      R"j(was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM )j"
      R"j(transition).","StateChangeTime":"2026-12-04T10:05:00.123+0000","Region":"US East (N. Virginia)",)j"
      R"j("AlarmArn":"arn:aws:cloudwatch:us-east-1:123456789012:alarm:cis-4.3-root-usage",)j"
      R"j("OldStateValue":"OK","OKActions":[],"AlarmActions":["arn:aws:sns:us-east-1:123456789012:alerts"],)j"
      R"j("InsufficientDataActions":[],"Trigger":{"MetricName":"RootAccountUsageCount",)j"
      R"j("Namespace":"CISBenchmark","StatisticType":"Statistic","Statistic":"SUM","Unit":null,)j"
      R"j("Dimensions":[{"value":"root","name":"userName"}],"Period":300,"EvaluationPeriods":1,)j"
      R"j("DatapointsToAlarm":1,"ComparisonOperator":"GreaterThanOrEqualToThreshold","Threshold":1.0,)j"
      R"j("TreatMissingData":"missing","EvaluateLowSampleCountPercentile":""}})j";
  CHECK(cloudwatch_alarm_message(c) == want);
  CHECK(cloudwatch_alarm_subject(c) == R"(ALARM: "cis-4.3-root-usage" in US East (N. Virginia))");
  c.region = "eu-central-1";
  c.new_state = "OK";
  CHECK(cloudwatch_alarm_subject(c) == R"(OK: "cis-4.3-root-usage" in EU (Frankfurt))");
  c.alarm_name = std::string(120, 'n');
  CHECK(cloudwatch_alarm_subject(c).size() == 100);
  CHECK(cloudwatch_region_long_name("xx-new-9") == "xx-new-9");
  CHECK(cloudwatch_statistic("SampleCount") == "SAMPLE_COUNT");
  CHECK(cloudwatch_statistic("Average") == "AVERAGE");
  CHECK(cloudwatch_number(0.004) == "0.004");
  CHECK(cloudwatch_number(580) == "580.0");
  CHECK(cloudwatch_timestamp(0) == "1970-01-01T00:00:00.000+0000");
  c.alarm_description = "d";
  c.trigger.unit = "Count";
  const std::string m = cloudwatch_alarm_message(c);
  CHECK(m.find(R"("AlarmDescription":"d")") != std::string::npos);
  CHECK(m.find(R"("Unit":"Count")") != std::string::npos);
}

TEST_CASE("sns output: one alert is a signed Publish with subject and attributes") {
  Sink s;
  s.http->on(kPost, 200,
             "<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult>"
             "</PublishResponse>");
  Batch b(1);
  const DeliveryResult r = s.out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  REQUIRE(s.http->calls.size() == 1);
  const auto& req = s.http->calls[0].request;
  auto f = form_fields(req.body);
  CHECK(f["Action"] == "Publish");
  CHECK(f["Version"] == "2010-03-31");
  CHECK(f["TopicArn"] == kArn);
  CHECK(f["Message"] == b.alerts[0].ocsf);
  CHECK(f["Subject"] == "trailwarden High: AWS Config configuration changes");
  CHECK(f["MessageAttributes.entry.1.Name"] == "severity");
  CHECK(f["MessageAttributes.entry.1.Value.DataType"] == "String");
  CHECK(f["MessageAttributes.entry.1.Value.StringValue"] == "High");
  const std::string* auth = req.find_header("Authorization");
  REQUIRE(auth);
  CHECK(auth->find("/us-east-1/sns/aws4_request") != std::string::npos);
}

TEST_CASE("sns output: PublishBatch of up to 10; failed entries alone are retried or rejected") {
  Sink s;
  s.http->on(kPost, [](const http::HttpRequest& req) {
    auto f = form_fields(req.body);
    CHECK(f["Action"] == "PublishBatch");
    CHECK(f["PublishBatchRequestEntries.member.3.Id"] == "2");
    CHECK(f["PublishBatchRequestEntries.member.3.MessageAttributes.entry.3.Name"] == "rule_id");
    return response(200, batch_response({0, 3}, failed_member(1, "InternalError", false) +
                                                    failed_member(2, "InvalidParameter", true)));
  });
  Batch b(5);  // entry 4 is not mentioned: retried
  const DeliveryResult r = s.out.send(b.ptrs);
  CHECK(s.http->calls.size() == 1);
  CHECK(r.status == DeliveryResult::Status::kReject);
  CHECK(r.items == std::vector<size_t>{2});
  CHECK(r.retry_items == std::vector<size_t>{1, 4});
  CHECK(r.message.find("InvalidParameter") != std::string::npos);

  Sink t;
  t.http->on(kPost, 200, batch_response({0}, failed_member(1, "Throttled", true)));
  Batch two(2);
  const DeliveryResult r2 = t.out.send(two.ptrs);
  CHECK(r2.status == DeliveryResult::Status::kRetry);
  CHECK(r2.items == std::vector<size_t>{1});
}

TEST_CASE("sns output: requests stay within 10 entries and 256 KiB") {
  Sink s;
  std::vector<size_t> sizes;
  s.http->on(kPost, [&](const http::HttpRequest& req) {
    auto f = form_fields(req.body);
    size_t n = 0;
    while (f.count("PublishBatchRequestEntries.member." + std::to_string(n + 1) + ".Id")) ++n;
    sizes.push_back(n);
    std::vector<int> ok;
    for (size_t i = 0; i < n; ++i) ok.push_back(static_cast<int>(i));
    if (n == 0)
      return response(200, "<PublishResponse><PublishResult><MessageId>m</MessageId>"
                           "</PublishResult></PublishResponse>");
    return response(200, batch_response(ok, ""));
  });
  Batch b(12);
  for (auto& a : b.alerts)
    a.ocsf = R"({"class_uid":2004,"message":")" + std::string(100000, 'm') + R"("})";
  const DeliveryResult r = s.out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  CHECK(sizes == std::vector<size_t>{2, 2, 2, 2, 2, 2});
}

TEST_CASE("sns output: SNS errors: throttling retries, a missing topic or denied access is fatal, "
          "bad parameters are rejected") {
  Batch b(1);
  {
    Sink s;
    s.http->on(kPost, 400, error_xml("Throttled", "Rate exceeded"));
    CHECK(s.out.send(b.ptrs).status == DeliveryResult::Status::kRetry);
  }
  {
    Sink s;
    s.http->on(kPost, 500, "oops");
    CHECK(s.out.send(b.ptrs).status == DeliveryResult::Status::kRetry);
  }
  {
    Sink s;  // no route: connection refused
    CHECK(s.out.send(b.ptrs).status == DeliveryResult::Status::kRetry);
  }
  {
    Sink s;
    s.http->on(kPost, 404, error_xml("NotFound", "Topic does not exist"));
    const DeliveryResult r = s.out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kFatal);
    CHECK(r.message.find(kArn) != std::string::npos);
    CHECK(r.message.find("NotFound") != std::string::npos);
  }
  {
    Sink s;
    s.http->on(kPost, 403, error_xml("AuthorizationError", "not authorized"));
    const DeliveryResult r = s.out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kFatal);
    CHECK(r.message.find("sns:Publish") != std::string::npos);
  }
  {
    Sink s;
    s.http->on(kPost, 400, error_xml("InvalidParameter", "Invalid parameter: Message"));
    const DeliveryResult r = s.out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kReject);
    CHECK(r.message.find("InvalidParameter") != std::string::npos);
  }
  {
    Sink s;
    Batch three(3);
    s.http->on(kPost, 400, error_xml("BatchRequestTooLong", "too long"));
    CHECK(s.out.send(three.ptrs).status == DeliveryResult::Status::kRetry);
    CHECK_FALSE(s.out.batching());
  }
  {
    Sink s;  // an expired token is refreshed once
    int n = 0;
    s.http->on(kPost, [&](const http::HttpRequest&) {
      return ++n == 1 ? response(403, error_xml("ExpiredToken", "expired"))
                      : response(200, "<PublishResponse/>");
    });
    CHECK(s.out.send(b.ptrs).status == DeliveryResult::Status::kDelivered);
    CHECK(n == 2);
  }
}

TEST_CASE("sns PublishBatch answers: hostile or foreign documents are errors") {
  std::vector<std::string> ok;
  std::vector<SnsBatchFailure> failed;
  std::string error;
  CHECK_FALSE(parse_sns_publish_batch_response("<x>", ok, failed, error));
  CHECK_FALSE(parse_sns_publish_batch_response("<Other><a>1</a></Other>", ok, failed, error));
  REQUIRE(parse_sns_publish_batch_response(
      batch_response({0}, failed_member(1, "KMSThrottling", false)), ok, failed, error));
  CHECK(ok == std::vector<std::string>{"0"});
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].id == "1");
  CHECK(failed[0].code == "KMSThrottling");
  CHECK_FALSE(failed[0].sender_fault);
}

TEST_CASE("sns output: a CloudWatch alarm change is published as CloudWatch publishes it") {
  CloudWatchAlarmChange c;
  c.alarm_name = "cis-4.3 root usage";
  c.account_id = "123456789012";
  c.new_state = "ALARM";
  c.old_state = "OK";
  c.region = "eu-west-1";
  c.state_change_ms = 1796378700123;
  Sink s;
  s.http->on(kPost, 200, "<PublishResponse/>");
  std::vector<SnsEntry> entries{make_sns_alarm_entry(c, s.out.options())};
  CHECK(s.out.send_entries(std::move(entries)).status == DeliveryResult::Status::kDelivered);
  REQUIRE(s.http->calls.size() == 1);
  auto f = form_fields(s.http->calls[0].request.body);
  CHECK(f["Subject"] == R"(ALARM: "cis-4.3 root usage" in EU (Ireland))");
  CHECK(f["Message"] == cloudwatch_alarm_message(c));
  CHECK(f["MessageAttributes.entry.2.Name"] == "NewStateValue");
  CHECK(f["MessageAttributes.entry.2.Value.StringValue"] == "ALARM");
  CHECK(f.count("MessageDeduplicationId") == 0);

  const SnsOptions fifo = parse("topic_arn = \"arn:aws:sns:eu-west-1:123456789012:alarms.fifo\"\n");
  const SnsEntry e = make_sns_alarm_entry(c, fifo);
  CHECK(e.group_id == "cis-4.3_root_usage");
  CHECK(e.deduplication_id.size() == 64);
  CHECK(make_sns_alarm_entry(c, fifo).deduplication_id == e.deduplication_id);
  c.new_state = "OK";
  CHECK(make_sns_alarm_entry(c, fifo).deduplication_id != e.deduplication_id);
}

TEST_CASE("sns output: an alarm transition alert is sent as CloudWatch's alarm notification, "
          "record alerts in the same batch as before") {
  AlertRecord alarm = alert(1);
  alarm.kind = AlertKind::kAlarm;
  alarm.alarm =
      R"({"AlarmName":"RootUsage","AlarmDescription":"","AWSAccountId":"111122223333",)"
      R"("NewStateValue":"ALARM","NewStateReason":"Threshold Crossed: 1 datapoint [2.0 (04/12/26 10:00:00)] was greater than or equal to the threshold (1.0).",)"
      R"("StateChangeTime":1796378400000,"Region":"eu-west-1","OldStateValue":"INSUFFICIENT_DATA",)"
      R"("Trigger":{"MetricName":"RootUsage","Namespace":"CloudTrailMetrics","Statistic":"Sum",)"
      R"("Unit":"Count","Dimensions":[{"value":"alice","name":"user"}],"Period":300,)"
      R"("EvaluationPeriods":1,"DatapointsToAlarm":1,"ComparisonOperator":)"
      R"("GreaterThanOrEqualToThreshold","Threshold":1,"TreatMissingData":"notBreaching"}})";
  CloudWatchAlarmChange c;
  std::string error;
  REQUIRE(alarm_change_from_alert(alarm, c, error));
  CHECK(c.alarm_name == "RootUsage");
  CHECK(c.trigger.dimensions.size() == 1);
  CHECK(c.trigger.threshold == 1.0);
  CHECK(c.trigger.period == 300);
  CHECK(c.state_change_ms == 1796378400000);

  Sink s;
  s.http->on(kPost, 200, batch_response({0, 1}, ""));
  std::vector<AlertRecord> alerts{alert(0), alarm};
  std::vector<const AlertRecord*> ptrs{&alerts[0], &alerts[1]};
  CHECK(s.out.send(ptrs).status == DeliveryResult::Status::kDelivered);
  REQUIRE(s.http->calls.size() == 1);
  auto f = form_fields(s.http->calls[0].request.body);
  CHECK(f["Action"] == "PublishBatch");
  CHECK(f["PublishBatchRequestEntries.member.1.Message"] == alerts[0].ocsf);
  CHECK(f["PublishBatchRequestEntries.member.2.Subject"] == R"(ALARM: "RootUsage" in EU (Ireland))");
  const std::string message = f["PublishBatchRequestEntries.member.2.Message"];
  CHECK(message == cloudwatch_alarm_message(c));
  CHECK(message.find(R"("NewStateValue":"ALARM")") != std::string::npos);
  CHECK(message.find(R"("StateChangeTime":"2026-12-04T10:00:00.000+0000")") != std::string::npos);
  CHECK(message.find(R"("Threshold":1.0)") != std::string::npos);

  // An alarm alert whose change cannot be read is still sent (as an alert), never dropped.
  AlertRecord broken = alarm;
  broken.alarm = "not json";
  CHECK_FALSE(alarm_change_from_alert(broken, c, error));
  CHECK_FALSE(alarm_change_from_alert(alert(2), c, error));
}

TEST_CASE("sns output: an integrity finding is published as a record alert is, not as an alarm") {
  IntegrityFindingInput in;
  in.check = IntegrityCheck::kLogFileModified;
  in.reason = "hash value doesn't match";
  in.bucket = "trail-bucket";
  in.key = "AWSLogs/111122223333/CloudTrail/eu-west-1/f.json.gz";
  in.account = "111122223333";
  in.region = "eu-west-1";
  const AlertRecord finding = make_integrity_alert(in);
  Sink s;
  s.http->on(kPost, 200,
             "<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult>"
             "</PublishResponse>");
  const std::vector<const AlertRecord*> ptrs{&finding};
  CHECK(s.out.send(ptrs).status == DeliveryResult::Status::kDelivered);
  REQUIRE(s.http->calls.size() == 1);
  auto f = form_fields(s.http->calls[0].request.body);
  CHECK(f["Action"] == "Publish");
  CHECK(f["Message"] == finding.ocsf);
  CHECK(f["Subject"] == "trailwarden Critical: CloudTrail log file modified");
  std::map<std::string, std::string> attributes;
  for (int i = 1; i <= 10; ++i) {
    const std::string n = "MessageAttributes.entry." + std::to_string(i);
    if (f.count(n + ".Name")) attributes[f[n + ".Name"]] = f[n + ".Value.StringValue"];
  }
  CHECK(attributes["rule_id"] == "integrity.log_file_modified");
  CHECK(attributes["event_name"] == "log_file_modified");
  CHECK(attributes["account"] == "111122223333");
  CHECK(attributes.count("AlarmName") == 0);
}
