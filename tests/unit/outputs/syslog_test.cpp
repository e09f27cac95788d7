// The syslog output: message formatting (RFC 5424 / 3164 headers, PRI, structured data),
// framing (RFC 6587), CEF escaping, the size policy, configuration, and the delivery logic
// against a fake transport. No network, no sleeping: the clock is injected.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "agent/config/toml_util.h"
#include "outputs/format.h"
#include "outputs/settings.h"
#include "outputs/syslog/syslog_config.h"
#include "outputs/syslog/syslog_message.h"
#include "outputs/syslog/syslog_output.h"
#include "outputs/syslog/syslog_transport.h"

using namespace trailwarden;

namespace {

// 2026-11-26T10:00:00.123Z
constexpr int64_t kNow = 1795687200123;

AlertRecord sample_alert() {
  AlertRecord a;
  a.uid = "b83fdfa1-2ee7-87d9-9d02-063b723ce383";
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config configuration changes";
  a.severity_id = 4;
  a.time_ms = 1795687200000;
  a.account = "123456789012";
  a.region = "us-east-1";
  a.event_name = "StopConfigurationRecorder";
  a.event_source = "config.amazonaws.com";
  a.actor = "arn:aws:iam::123456789012:user/alice";
  a.source_ip = "192.0.2.10";
  a.event_id = "c7000000-0000-4000-8000-000000000001";
  a.ocsf = R"({"class_uid":2004,"finding_info":{"uid":"b83fdfa1"}})";
  a.raw = R"({"eventName":"StopConfigurationRecorder"})";
  return a;
}

SyslogMessageOptions message_options() {
  SyslogMessageOptions o;
  o.hostname = "tw-host.example";
  o.procid = "4242";
  o.local_time = false;
  return o;
}

std::string format_message(const AlertRecord& a, SyslogMessageOptions o = message_options(),
                           SyslogFormatter::Outcome* outcome = nullptr) {
  SyslogFormatter f(std::move(o));
  std::string out;
  const auto r = f.format(a, kNow, out);
  if (outcome) *outcome = r;
  return out;
}

std::string sd_value(std::string_view v, size_t max = kSyslogMaxSdValue) {
  std::string out;
  append_sd_param_value(out, v, max);
  return out;
}

std::string cef(const AlertRecord& a) {
  std::string out;
  format_cef(a, out);
  return out;
}

bool valid_json(std::string_view s) {
  simdjson::dom::parser p;
  simdjson::padded_string padded(s);
  return !p.parse(padded).error();
}

}  // namespace

TEST_CASE("syslog severity from OCSF severity, and PRI") {
  CHECK(syslog_severity(5) == 2);
  CHECK(syslog_severity(4) == 3);
  CHECK(syslog_severity(3) == 4);
  CHECK(syslog_severity(2) == 5);
  CHECK(syslog_severity(1) == 6);
  CHECK(syslog_severity(99) == 2);
  CHECK(syslog_severity(0) == 6);
  AlertRecord a = sample_alert();
  for (int sev = 1; sev <= 5; ++sev) {
    a.severity_id = sev;
    CHECK(format_message(a).rfind("<" + std::to_string(20 * 8 + syslog_severity(sev)) + ">1 ", 0) ==
          0);
  }
  SyslogMessageOptions o = message_options();
  o.facility = 4;  // auth
  a.severity_id = 5;
  CHECK(format_message(a, o).rfind("<34>1 ", 0) == 0);
  o.facility = 0;
  CHECK(format_message(a, o).rfind("<2>1 ", 0) == 0);
}

TEST_CASE("facility names and numbers") {
  int f = -1;
  CHECK((parse_syslog_facility("local4", f) && f == 20));
  CHECK((parse_syslog_facility("auth", f) && f == 4));
  CHECK((parse_syslog_facility("authpriv", f) && f == 10));
  CHECK((parse_syslog_facility("kern", f) && f == 0));
  CHECK((parse_syslog_facility("local7", f) && f == 23));
  CHECK((parse_syslog_facility("13", f) && f == 13));
  CHECK((parse_syslog_facility("0", f) && f == 0));
  CHECK_FALSE(parse_syslog_facility("24", f));
  CHECK_FALSE(parse_syslog_facility("local8", f));
  CHECK_FALSE(parse_syslog_facility("", f));
  CHECK_FALSE(parse_syslog_facility("-1", f));
  CHECK_FALSE(parse_syslog_facility("LOCAL4", f));
}

TEST_CASE("RFC 5424 message, exactly") {
  const AlertRecord a = sample_alert();
  CHECK(format_message(a) ==
        "<163>1 2026-11-26T10:00:00.123Z tw-host.example trailwarden 4242 cis-4.9 "
        "[trailwarden@32473 rule=\"cis-4.9\" severity=\"High\" "
        "uid=\"b83fdfa1-2ee7-87d9-9d02-063b723ce383\" account=\"123456789012\"] " +
            a.ocsf);
  SyslogMessageOptions o = message_options();
  o.format = AlertFormat::kCloudTrail;
  const std::string m = format_message(a, o);
  const std::string msg = m.substr(m.find("\"] ") + 3);
  CHECK(msg.rfind("{\"trailwarden\":{\"rule_id\":\"cis-4.9\"", 0) == 0);
  CHECK(valid_json(msg));
  o.format = AlertFormat::kCef;
  CHECK(format_message(a, o).find("\"] CEF:0|trailwarden|trailwarden|") != std::string::npos);
}

TEST_CASE("RFC 5424 timestamps") {
  std::string s;
  append_rfc5424_timestamp(s, 0);
  CHECK(s == "1970-01-01T00:00:00.000Z");
  s.clear();
  append_rfc5424_timestamp(s, 951782400999);  // 2000-02-29
  CHECK(s == "2000-02-29T00:00:00.999Z");
  s.clear();
  append_rfc5424_timestamp(s, -1);
  CHECK(s == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("RFC 3164 message") {
  SyslogMessageOptions o = message_options();
  o.rfc = SyslogRfc::k3164;
  AlertRecord a = sample_alert();
  a.severity_id = 2;
  CHECK(format_message(a, o) ==
        "<165>Nov 26 10:00:00 tw-host.example trailwarden[4242]: " + a.ocsf);
  std::string s;
  append_rfc3164_timestamp(s, 1794391200000, false);  // 2026-11-11T10:00:00Z
  CHECK(s == "Nov 11 10:00:00");
  s.clear();
  append_rfc3164_timestamp(s, 1793527200000, false);  // 2026-11-01T10:00:00Z: day padded
  CHECK(s == "Nov  1 10:00:00");
  // The TAG keeps letters, digits, '_', '-', '.', at most 32 of them.
  o.app_name = "my app:[x]" + std::string(40, 'a');
  o.procid.clear();
  const std::string m = format_message(a, o);
  CHECK(m.find(" my_app__x_aaaaaaaaaaaaaaaaaaaaaa: ") != std::string::npos);
}

TEST_CASE("header fields: PRINTUSASCII only, RFC lengths, NILVALUE") {
  std::string s;
  append_syslog_header_field(s, "", 48);
  CHECK(s == "-");
  s.clear();
  append_syslog_header_field(s, "a b\nc\td\x7f\xc3\xa9\xff]\"=", 48);
  CHECK(s == "a_b_c_d____]\"=");
  s.clear();
  append_syslog_header_field(s, std::string(300, 'h'), kSyslogMaxHostname);
  CHECK(s.size() == 255);

  AlertRecord a = sample_alert();
  a.rule_id = "rule with spaces\n<13>1 forged " + std::string(40, 'x');
  SyslogMessageOptions o = message_options();
  o.hostname = "host name\nwith newline";
  o.app_name = std::string(60, 'p');
  o.procid = std::string(200, '9');
  const std::string m = format_message(a, o);
  // HOSTNAME APP-NAME PROCID MSGID are single tokens of bounded length.
  std::vector<std::string> tokens;
  size_t p = m.find(' ') + 1;  // after "<PRI>1"
  p = m.find(' ', p) + 1;      // after TIMESTAMP
  for (int i = 0; i < 4; ++i) {
    const size_t e = m.find(' ', p);
    tokens.push_back(m.substr(p, e - p));
    p = e + 1;
  }
  CHECK(tokens[0] == "host_name_with_newline");
  CHECK(tokens[1] == std::string(48, 'p'));
  CHECK(tokens[2] == std::string(128, '9'));
  CHECK(tokens[3] == "rule_with_spaces_<13>1_forged_xx");
  CHECK(tokens[3].size() == kSyslogMaxMsgId);
  CHECK(m.find('\n') == std::string::npos);
  CHECK(m.compare(p, 18, "[trailwarden@32473") == 0);
}

TEST_CASE("SD-PARAM values: escaping, control characters, UTF-8, length") {
  CHECK(sd_value("plain") == "plain");
  CHECK(sd_value("a\"b\\c]d") == "a\\\"b\\\\c\\]d");
  CHECK(sd_value("x\ny\rz\t\x01\x7f") == "x y z   ");
  CHECK(sd_value(std::string("nul\0nul", 7)) == "nul nul");
  CHECK(sd_value("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
  CHECK(sd_value("bad \xff\xfe end") == "bad \xEF\xBF\xBD\xEF\xBF\xBD end");
  CHECK(sd_value("trunc \xe2\x82") == "trunc \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sd_value("overlong \xc0\xaf") == "overlong \xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sd_value("surrogate \xed\xa0\x80") == "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(sd_value("=|[") == "=|[");
  // Cut at 128 octets, never inside a character; escapes do not count.
  CHECK(sd_value(std::string(200, 'a')) == std::string(128, 'a'));
  CHECK(sd_value(std::string(127, 'a') + "\xc3\xa9") == std::string(127, 'a'));
  CHECK(sd_value(std::string(200, ']')).size() == 256);

  AlertRecord a = sample_alert();
  a.account = "1234\"] [forged@1 x=\"y\"]\n5678\\\xff";
  a.uid = "u\"]";
  const std::string m = format_message(a);
  CHECK(m.find("uid=\"u\\\"\\]\" account=\"1234\\\"\\] [forged@1 x=\\\"y\\\"\\] "
               "5678\\\\\xEF\xBF\xBD\"] ") != std::string::npos);
  CHECK(m.find('\n') == std::string::npos);
}

TEST_CASE("utf8_prefix") {
  CHECK(utf8_prefix("abc", 5) == "abc");
  CHECK(utf8_prefix("abc", 2) == "ab");
  CHECK(utf8_prefix("a\xc3\xa9", 2) == "a");
  CHECK(utf8_prefix("a\xe2\x82\xac", 3) == "a");
  CHECK(utf8_prefix("a\xe2\x82\xac", 4) == "a\xe2\x82\xac");
  CHECK(utf8_prefix("\x80\x80\x80\x80\x80", 4) == "\x80\x80\x80\x80");  // not UTF-8: plain cut
  CHECK(utf8_prefix("", 0).empty());
}

TEST_CASE("framing: octet counting, newline, datagram") {
  std::string out;
  append_syslog_frame(SyslogFraming::kOctetCounting, "<13>1 - - - - - - caf\xc3\xa9", out);
  CHECK(out == "23 <13>1 - - - - - - caf\xc3\xa9");
  append_syslog_frame(SyslogFraming::kOctetCounting, "x", out);
  CHECK(out ==
        "23 <13>1 - - - - - - caf\xc3\xa9"
        "1 x");
  out.clear();
  append_syslog_frame(SyslogFraming::kNewline, "a\nb\n", out);
  CHECK(out == "a b \n");
  out.clear();
  append_syslog_frame(SyslogFraming::kNone, "a\nb", out);
  CHECK(out == "a\nb");
}

TEST_CASE("CEF: header and extension escaping") {
  AlertRecord a = sample_alert();
  CHECK(
      cef(a) ==
      "CEF:0|trailwarden|trailwarden|" TRAILWARDEN_VERSION
      "|cis-4.9|AWS Config configuration changes|8|rt=1795687200000 act=StopConfigurationRecorder "
      "destinationServiceName=config.amazonaws.com suser=arn:aws:iam::123456789012:user/alice "
      "src=192.0.2.10 cs1Label=awsAccountId cs1=123456789012 cs2Label=awsRegion cs2=us-east-1 "
      "cs3Label=eventID cs3=c7000000-0000-4000-8000-000000000001 "
      "externalId=b83fdfa1-2ee7-87d9-9d02-063b723ce383");

  a.rule_id = "id|with\\pipe=eq";
  a.rule_title = "title|x\\y\nz\r\x01";
  a.event_name = "Name=1\\2\n3\r4|5";
  a.actor = "arn|x";  // a value ending the old way: the next key still gets its space
  a.region = "r\xff";
  const std::string c = cef(a);
  CHECK(c.find("|id\\|with\\\\pipe=eq|title\\|x\\\\y z  |8|") != std::string::npos);
  CHECK(c.find("act=Name\\=1\\\\2\\n3\\r4|5 ") != std::string::npos);
  CHECK(c.find(" suser=arn|x src=") != std::string::npos);
  CHECK(c.find(" cs2=r\xEF\xBF\xBD ") != std::string::npos);
  CHECK(c.find('\n') == std::string::npos);
  CHECK(c.find('\r') == std::string::npos);

  // Severity 0-10.
  for (auto [ocsf, sev] :
       {std::pair{1, "|1|"}, {2, "|3|"}, {3, "|5|"}, {4, "|8|"}, {5, "|10|"}, {0, "|5|"}}) {
    a.severity_id = ocsf;
    CHECK(cef(a).find(sev) != std::string::npos);
  }
}

TEST_CASE("CEF: source address kinds, empty values, lengths") {
  AlertRecord a = sample_alert();
  a.source_ip = "2001:db8::1";
  CHECK(cef(a).find(" c6a2Label=Source IPv6 Address c6a2=2001:db8::1 ") != std::string::npos);
  a.source_ip = "AWS Internal";
  CHECK(cef(a).find(" shost=AWS Internal ") != std::string::npos);
  CHECK(cef(a).find(" src=") == std::string::npos);
  a.source_ip = "ec2.amazonaws.com";
  CHECK(cef(a).find(" shost=ec2.amazonaws.com ") != std::string::npos);
  a.source_ip.clear();
  a.region.clear();
  a.time_ms = 0;
  const std::string c = cef(a);
  CHECK(c.find("cs2Label") == std::string::npos);
  CHECK(c.find("rt=") == std::string::npos);
  CHECK(c.find("|8|act=") != std::string::npos);  // the first extension has no leading space
  a.event_name = std::string(100, 'n');
  CHECK(cef(a).find("act=" + std::string(63, 'n') + " ") != std::string::npos);
  a.rule_title = std::string(600, 't');
  CHECK(cef(a).find("|" + std::string(512, 't') + "|") != std::string::npos);
}

TEST_CASE("size policy: summaries instead of cut messages") {
  AlertRecord a = sample_alert();
  a.ocsf = "{\"big\":\"" + std::string(5000, 'x') + "\"}";
  SyslogMessageOptions o = message_options();
  o.max_message_bytes = 2048;
  SyslogFormatter::Outcome outcome;
  const std::string m = format_message(a, o, &outcome);
  CHECK(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(m.size() <= 2048);
  CHECK(m.rfind("<163>1 2026-11-26T10:00:00.123Z tw-host.example trailwarden 4242 cis-4.9 "
                "[trailwarden@32473 ",
                0) == 0);
  const std::string msg = m.substr(m.find("\"] ") + 3);
  CHECK(valid_json(msg));
  CHECK(msg.find("{\"trailwarden\":{\"truncated\":true,\"original_bytes\":") == 0);
  CHECK(msg.find("\"finding_uid\":\"b83fdfa1-2ee7-87d9-9d02-063b723ce383\"") != std::string::npos);
  CHECK(msg.find("\"account\":\"123456789012\"") != std::string::npos);

  // Fits: the full message, untouched.
  o.max_message_bytes = 8192;
  format_message(a, o, &outcome);
  CHECK(outcome == SyslogFormatter::Outcome::kFull);

  // Hostile, escape-heavy fields: the summary shrinks its fields until it fits.
  a.actor = std::string(3000, '\x01');
  a.rule_title = std::string(3000, '"');
  a.event_name = std::string(3000, '\n');
  o.max_message_bytes = 1024;
  const std::string h = format_message(a, o, &outcome);
  CHECK(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(h.size() <= 1024);
  CHECK(valid_json(h.substr(h.find("\"] ") + 3)));
  CHECK(h.find('\n') == std::string::npos);

  // CEF summary.
  o.format = AlertFormat::kCef;
  a = sample_alert();
  a.actor = std::string(5000, 'a');
  const std::string c = format_message(a, o, &outcome);
  CHECK(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(c.size() <= 1024);
  CHECK(c.find("|8|rt=") != std::string::npos);
  CHECK(c.find(" cs6Label=trailwardenTruncated cs6=original message ") != std::string::npos);

  // ECS summary: an ECS document of the cut fields, marked truncated, with the route.
  o.format = AlertFormat::kEcs;
  o.max_message_bytes = 2048;
  a = sample_alert();
  a.raw = "{\"big\":\"" + std::string(5000, 'x') + "\"}";
  a.event_name = std::string(3000, '\x01');
  const std::string e = format_message(a, o, &outcome);
  CHECK(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(e.size() <= 2048);
  const std::string doc = e.substr(e.find("\"] ") + 3);
  CHECK(valid_json(doc));
  CHECK(doc.find("{\"@timestamp\":") == 0);
  CHECK(doc.find("\"ecs\":{\"version\":\"8.17.0\"}") != std::string::npos);
  CHECK(doc.find("\"truncated\":true,\"original_bytes\":") != std::string::npos);
  CHECK(doc.find("\"ecs_degraded\"") == std::string::npos);  // a summary, not a lost record
  CHECK(doc.find("\"rule\":{\"id\":\"cis-4.9\"") != std::string::npos);

  // Not even a summary fits: nothing (never a cut message).
  o.format = AlertFormat::kOcsf;
  o.max_message_bytes = kSyslogMinMessageBytes;
  o.hostname = std::string(255, 'h');
  a.uid = std::string(200, '\\');
  a.account = std::string(200, ']');
  std::string out = "stale";
  SyslogFormatter f(o);
  CHECK(f.format(a, kNow, out) == SyslogFormatter::Outcome::kTooLarge);
  CHECK(out.empty());
}

TEST_CASE("route: structured data and summaries say how the alert came, verified or not") {
  AlertRecord a = sample_alert();
  a.route = AlertRoute::kS3Object;
  a.bucket = "trail-bucket";
  a.key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/" + std::string(300, 'k');
  a.notification = "sns/s3";
  CHECK(format_message(a).find(" account=\"123456789012\" route=\"s3\" verified=\"true\"] ") !=
        std::string::npos);
  AlertRecord b = sample_alert();
  b.route = AlertRoute::kInlineEvent;
  b.eventbridge_event_id = "eb-1";
  b.notification = "eventbridge/cloudtrail";
  CHECK(format_message(b).find(" route=\"eventbridge\" verified=\"false\"] ") != std::string::npos);
  AlertRecord c = sample_alert();
  c.route = AlertRoute::kUnknown;
  CHECK(format_message(c).find(" route=\"unknown\" verified=\"false\"] ") != std::string::npos);
  // RFC 3164 has no structured data: the MSG (JSON or CEF) carries the route.
  SyslogMessageOptions o = message_options();
  o.rfc = SyslogRfc::k3164;
  o.format = AlertFormat::kCloudTrail;
  CHECK(format_message(b, o).find(R"("route":"eventbridge","verified":false)") !=
        std::string::npos);

  // Summaries keep the route, the bucket and the (cut) key.
  o = message_options();
  o.max_message_bytes = 1024;
  for (AlertRecord* x : {&a, &b}) x->ocsf = "{\"big\":\"" + std::string(5000, 'x') + "\"}";
  SyslogFormatter::Outcome outcome;
  std::string m = format_message(a, o, &outcome);
  REQUIRE(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(m.size() <= 1024);
  std::string msg = m.substr(m.find("\"] ") + 3);
  REQUIRE(valid_json(msg));
  simdjson::dom::parser p;
  simdjson::padded_string padded(msg);
  simdjson::dom::element t = p.parse(padded)["trailwarden"];
  CHECK(std::string_view(t["route"]) == "s3");
  CHECK(bool(t["verified"]));
  CHECK(std::string_view(t["bucket"]) == "trail-bucket");
  CHECK(a.key.starts_with(std::string_view(t["key"])));
  CHECK(std::string_view(t["notification"]) == "sns/s3");
  m = format_message(b, o, &outcome);
  REQUIRE(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(m.find(R"("finding_uid":"b83fdfa1-2ee7-87d9-9d02-063b723ce383","route":"eventbridge",)"
               R"("verified":false,"eventbridge_event_id":"eb-1",)"
               R"("notification":"eventbridge/cloudtrail"})") != std::string::npos);
  o.format = AlertFormat::kCef;
  for (AlertRecord* x : {&a, &b}) x->actor = std::string(5000, 'a');
  m = format_message(a, o, &outcome);
  REQUIRE(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(m.find(" cs4Label=trailwardenRoute cs4=s3 cn1Label=trailwardenVerified cn1=1 "
               "cs5Label=s3Object cs5=s3://trail-bucket/AWSLogs/") != std::string::npos);
  m = format_message(b, o, &outcome);
  REQUIRE(outcome == SyslogFormatter::Outcome::kSummary);
  CHECK(m.find(" cs4Label=trailwardenRoute cs4=eventbridge cn1Label=trailwardenVerified cn1=0 "
               "cs5Label=eventBridgeEventId cs5=eb-1 cs6Label=trailwardenTruncated") !=
        std::string::npos);
}

// --- configuration ---------------------------------------------------------------------------

namespace {

OutputSettings settings_from(const std::string& toml) {
  const toml::table doc = parse_toml(toml, "test.toml");
  return parse_output_settings(*doc["outputs"].as_array()->front().as_table(), "test.toml", 0);
}

SyslogOptions options_from(const std::string& keys) {
  return parse_syslog_options(settings_from("[[outputs]]\ntype = \"syslog\"\n" + keys));
}

std::string config_error(const std::string& keys) {
  try {
    options_from(keys);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("configuration: defaults") {
  SyslogOptions o = options_from("address = \"siem.example:1514\"\n");
  CHECK(o.transport.protocol == SyslogProtocol::kTcp);
  CHECK(o.transport.host == "siem.example");
  CHECK(o.transport.port == "1514");
  CHECK(o.framing == SyslogFraming::kOctetCounting);
  CHECK(o.message.rfc == SyslogRfc::k5424);
  CHECK(o.message.facility == 20);
  CHECK(o.message.app_name == "trailwarden");
  CHECK_FALSE(o.message.hostname.empty());
  CHECK(o.message.max_message_bytes == 65536);
  CHECK(o.message.format == AlertFormat::kOcsf);
  CHECK(o.transport.connect_timeout.count() == 5000);
  CHECK(o.transport.write_timeout.count() == 10000);

  o = options_from("address = \"siem.example\"\nprotocol = \"udp\"\n");
  CHECK(o.transport.port == "514");
  CHECK(o.framing == SyslogFraming::kNone);
  CHECK(o.message.max_message_bytes == 2048);
  o = options_from("address = \"siem.example\"\nprotocol = \"udp\"\nrfc = \"3164\"\n");
  CHECK(o.message.max_message_bytes == 1024);
  o = options_from("address = \"[2001:db8::1]\"\nprotocol = \"tls\"\n");
  CHECK(o.transport.host == "2001:db8::1");
  CHECK(o.transport.port == "6514");

  o = options_from(
      "address = \"127.0.0.1:6514\"\nprotocol = \"tls\"\nrfc = 3164\nframing = \"newline\"\n"
      "facility = \"auth\"\napp_name = \"tw\"\nhostname = \"agent-1\"\nca_file = \"/ca.pem\"\n"
      "cert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\ntls_server_name = \"siem\"\n"
      "max_message_bytes = 4096\nconnect_timeout_ms = 100\nwrite_timeout_ms = 200\n"
      "format = \"cef\"\n");
  CHECK(o.message.rfc == SyslogRfc::k3164);
  CHECK(o.framing == SyslogFraming::kNewline);
  CHECK(o.message.facility == 4);
  CHECK(o.message.app_name == "tw");
  CHECK(o.message.hostname == "agent-1");
  CHECK(o.transport.ca_file == "/ca.pem");
  CHECK(o.transport.cert_file == "/c.pem");
  CHECK(o.transport.key_file == "/k.pem");
  CHECK(o.transport.tls_server_name == "siem");
  CHECK(o.message.max_message_bytes == 4096);
  CHECK(o.transport.connect_timeout.count() == 100);
  CHECK(o.transport.write_timeout.count() == 200);
  CHECK(o.message.format == AlertFormat::kCef);
  CHECK(options_from("address = \"h:1\"\nfacility = 23\n").message.facility == 23);
}

TEST_CASE("configuration: errors name the place") {
  CHECK(config_error("").find("needs an address") != std::string::npos);
  // file:line:column (the line and column are 0 while OutputSettings::table is a copy: toml++
  // does not copy source positions).
  CHECK(config_error("address = \"h:0\"\n").find("test.toml:") == 0);
  CHECK(config_error("address = \"h:70000\"\n").find("is not \"host:port\"") != std::string::npos);
  CHECK(config_error("address = \"[::1\"\n").find("is not") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nprotocol = \"sctp\"\n").find("protocol must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nprotocol = \"udp\"\nframing = \"newline\"\n")
            .find("framing applies") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nframing = \"lf\"\n").find("framing must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nrfc = \"5425\"\n").find("rfc must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nfacility = 24\n").find("facility must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nfacility = \"security\"\n").find("facility must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\napp_name = \"a b\"\n").find("app_name must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nrfc = \"3164\"\napp_name = \"" + std::string(40, 'a') +
                     "\"\n")
            .find("app_name must be 1-32") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nhostname = \"a b\"\n").find("hostname must be") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nca_file = \"/x\"\n").find("applies to protocol") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nprotocol = \"udp\"\ntls_server_name = \"x\"\n")
            .find("applies to protocol") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nprotocol = \"tls\"\nkey_file = \"/k\"\n")
            .find("go together") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nmax_message_bytes = 479\n").find("at least 480") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nprotocol = \"udp\"\nmax_message_bytes = 65508\n")
            .find("at most 65507") != std::string::npos);
  CHECK(config_error("address = \"h:1\"\nconnect_timeout_ms = 0\n").find("at least 1") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nwrite_timeout_ms = 3600001\n").find("at most") !=
        std::string::npos);
  CHECK(config_error("address = \"h:1\"\nadress = \"typo\"\n").find("unknown key 'adress'") !=
        std::string::npos);
}

TEST_CASE("split_host_port") {
  std::string h, p;
  CHECK((split_host_port("a.example:514", "1", h, p) && h == "a.example" && p == "514"));
  CHECK((split_host_port("a.example", "6514", h, p) && h == "a.example" && p == "6514"));
  CHECK((split_host_port("[::1]:10514", "1", h, p) && h == "::1" && p == "10514"));
  CHECK((split_host_port("[::1]", "514", h, p) && h == "::1" && p == "514"));
  CHECK((split_host_port("2001:db8::1", "514", h, p) && h == "2001:db8::1" && p == "514"));
  CHECK_FALSE(split_host_port("", "514", h, p));
  CHECK_FALSE(split_host_port(":514", "514", h, p));
  CHECK_FALSE(split_host_port("h:", "514", h, p));
  CHECK_FALSE(split_host_port("h:x", "514", h, p));
  CHECK_FALSE(split_host_port("h:65536", "514", h, p));
  CHECK_FALSE(split_host_port("[::1]x", "514", h, p));
  CHECK_FALSE(split_host_port("h os:1", "514", h, p));
}

// --- delivery logic against a fake transport --------------------------------------------------

namespace {

class FakeTransport final : public SyslogTransport {
 public:
  struct State {
    bool datagram = false;
    std::deque<Connection> connects;  // outcomes of ensure_connected(); empty: kReady/kConnected
    std::vector<bool> writes;         // outcomes of write(), in order; past the end: success
    size_t write_calls = 0;
    std::vector<bool> acks;  // outcomes of wait_acknowledged(), in order; past the end: success
    size_t ack_calls = 0;
    size_t written_when_acked = 0;  // written.size() at the last successful wait_acknowledged()
    bool reset = false;             // take_reset() reports a reset once
    bool open = false;
    int closes = 0;
    std::vector<std::string> written;  // successful writes
    // Streams: what the receiver answers to a successful write (RELP), made readable.
    std::function<std::string(std::string_view)> answer;
    std::string readable;
  };
  explicit FakeTransport(State& s) : s_(s) {}
  bool datagram() const override { return s_.datagram; }
  Connection ensure_connected(std::string& error) override {
    Connection c = s_.open ? Connection::kReady : Connection::kConnected;
    if (!s_.connects.empty()) {
      c = s_.connects.front();
      s_.connects.pop_front();
    }
    if (c == Connection::kFailed) error = "connect to fake:514 failed: Connection refused";
    s_.open = c != Connection::kFailed;
    return c;
  }
  bool write(std::string_view data, std::string& error) override {
    const bool ok = s_.write_calls < s_.writes.size() ? s_.writes[s_.write_calls] : true;
    ++s_.write_calls;
    if (!ok) {
      error = "write to fake:514 failed: Broken pipe";
      close();
      return false;
    }
    s_.written.emplace_back(data);
    if (s_.answer) s_.readable += s_.answer(data);
    return true;
  }
  bool read(std::string& out, std::chrono::milliseconds, std::string& error) override {
    if (!s_.open || s_.readable.empty()) {
      error = "no answer from fake:514 within 10000 ms";
      close();
      return false;
    }
    out += s_.readable;
    s_.readable.clear();
    return true;
  }
  bool wait_acknowledged(std::string& error) override {
    const bool ok = s_.ack_calls < s_.acks.size() ? s_.acks[s_.ack_calls] : true;
    ++s_.ack_calls;
    if (!ok) {
      error = "9000 bytes written to fake:514 not acknowledged by the receiver within 10000 ms";
      close();
      return false;
    }
    s_.written_when_acked = s_.written.size();
    return true;
  }
  bool take_reset(std::string& why) override {
    if (!s_.reset) return false;
    s_.reset = false;
    why = "Connection reset by peer";
    return true;
  }
  void close() override {
    s_.open = false;
    s_.readable.clear();
    ++s_.closes;
  }
  std::string peer() const override { return "fake:514"; }

 private:
  State& s_;
};

struct Harness {
  FakeTransport::State state;
  std::unique_ptr<SyslogOutput> output;
  std::vector<AlertRecord> alerts;
  std::vector<const AlertRecord*> batch;

  explicit Harness(bool datagram, size_t n = 3, size_t max_bytes = 65536, bool relp = false) {
    state.datagram = datagram;
    SyslogOptions o;
    o.message = message_options();
    o.message.max_message_bytes = max_bytes;
    o.framing = datagram ? SyslogFraming::kNone : SyslogFraming::kOctetCounting;
    o.relp = relp;
    output = std::make_unique<SyslogOutput>("siem", o, std::make_unique<FakeTransport>(state),
                                            [] { return kNow; });
    for (size_t i = 0; i < n; ++i) {
      AlertRecord a = sample_alert();
      a.uid = "uid-" + std::to_string(i);
      alerts.push_back(a);
    }
    for (const auto& a : alerts) batch.push_back(&a);
  }
  DeliveryResult send() { return output->send(batch); }
};

using Status = DeliveryResult::Status;

}  // namespace

TEST_CASE("stream: the whole batch framed in one write, delivered when written") {
  Harness h(false);
  const DeliveryResult r = h.send();
  CHECK(r.status == Status::kDelivered);
  REQUIRE(h.state.written.size() == 1);
  const std::string& w = h.state.written[0];
  std::string expected;
  for (const auto* a : h.batch) {
    SyslogFormatter f(message_options());
    std::string m;
    f.format(*a, kNow, m);
    append_syslog_frame(SyslogFraming::kOctetCounting, m, expected);
  }
  CHECK(w == expected);
  CHECK(h.output->counters().sent == 3);
  CHECK(h.output->counters().connects == 1);
  // The next batch uses the same connection.
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.output->counters().connects == 1);
  CHECK(h.output->counters().sent == 6);
}

TEST_CASE("stream: connect failure and write failure are kRetry for the whole batch") {
  Harness h(false);
  h.state.connects = {SyslogTransport::Connection::kFailed};
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items.empty());
  CHECK(r.message.find("Connection refused") != std::string::npos);
  CHECK(h.state.write_calls == 0);
  CHECK(h.output->counters().connect_failures == 1);

  h.state.writes = {false};
  r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items.empty());  // TCP cannot tell which alerts arrived
  CHECK(r.message.find("Broken pipe") != std::string::npos);
  CHECK(h.output->counters().write_failures == 1);
  CHECK(h.output->counters().sent == 0);
  CHECK_FALSE(h.state.open);

  // Next send: a new connection, the batch again.
  r = h.send();
  CHECK(r.status == Status::kDelivered);
  CHECK(h.output->counters().connects == 2);
  CHECK(h.output->counters().sent == 3);
}

TEST_CASE("stream: delivered only once the receiver acknowledged every byte written") {
  Harness h(false);
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.state.ack_calls == 1);
  CHECK(h.state.written_when_acked == 1);  // waited for after the batch was written
  // Written, but the receiver's TCP never acknowledged it: the whole batch again.
  h.state.acks = {true, false};
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items.empty());
  CHECK(r.message.find("not acknowledged") != std::string::npos);
  CHECK(h.output->counters().write_failures == 1);
  CHECK(h.output->counters().sent == 3);
  CHECK_FALSE(h.state.open);
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.output->counters().sent == 6);
  CHECK(h.output->counters().connects == 2);
  // Datagrams have nothing to wait for.
  Harness d(true);
  d.state.acks = {false};
  CHECK(d.send().status == Status::kDelivered);
}

TEST_CASE("stream: a connection closed by the receiver is replaced before writing") {
  Harness h(false);
  CHECK(h.send().status == Status::kDelivered);
  h.state.connects = {SyslogTransport::Connection::kLost};
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.output->counters().connects == 2);
  CHECK(h.state.written.size() == 2);
  CHECK(h.output->counters().resets == 0);
  // Reset rather than closed, and the receiver not back: counted (and logged) all the same.
  h.state.connects = {SyslogTransport::Connection::kFailed};
  h.state.reset = true;
  CHECK(h.send().status == Status::kRetry);
  CHECK(h.output->counters().resets == 1);
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.output->counters().resets == 1);
}

TEST_CASE("stream: an alert too large even as a summary is rejected, the rest delivered") {
  Harness h(false, 3, kSyslogMinMessageBytes);
  h.alerts[1].uid = std::string(200, '\\');
  h.alerts[1].account = std::string(200, ']');
  SyslogOptions o;
  o.message = message_options();
  o.message.hostname = std::string(255, 'h');
  o.message.max_message_bytes = kSyslogMinMessageBytes;
  h.output = std::make_unique<SyslogOutput>("siem", o, std::make_unique<FakeTransport>(h.state),
                                            [] { return kNow; });
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kReject);
  CHECK(r.items == std::vector<size_t>{1});
  CHECK(r.retry_items.empty());
  CHECK(h.output->counters().too_large == 1);
  CHECK(h.output->counters().sent == 2);
  // With a write failure, everything (the too-large alert too) is retried, nothing rejected.
  h.state.writes = std::vector<bool>(h.state.write_calls, true);
  h.state.writes.push_back(false);
  r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items.empty());
  CHECK(h.output->counters().too_large == 1);
}

TEST_CASE("datagrams: one per alert; a failed send retries that alert and the rest") {
  Harness h(true, 4);
  CHECK(h.send().status == Status::kDelivered);
  REQUIRE(h.state.written.size() == 4);
  for (const auto& w : h.state.written) {
    CHECK(w.rfind("<163>1 ", 0) == 0);  // no framing
    CHECK(w.back() != '\n');
  }
  h.state.writes = {true, true, true, true, true, false};
  const DeliveryResult r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items == std::vector<size_t>{1, 2, 3});
  CHECK(h.output->counters().sent == 5);
}

TEST_CASE("datagrams: summaries and rejects") {
  Harness h(true, 3, 2048);
  h.alerts[0].ocsf = "{\"x\":\"" + std::string(4000, 'x') + "\"}";
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kDelivered);
  CHECK(h.output->counters().summarized == 1);
  REQUIRE(h.state.written.size() == 3);
  CHECK(h.state.written[0].size() <= 2048);
  CHECK(h.state.written[0].find("\"truncated\":true") != std::string::npos);

  // A too-large alert before a failed send is retried (and rejected once the rest is sent).
  Harness g(true, 3, kSyslogMinMessageBytes);
  SyslogOptions o;
  o.message = message_options();
  o.message.hostname = std::string(255, 'h');
  o.message.max_message_bytes = kSyslogMinMessageBytes;
  g.output = std::make_unique<SyslogOutput>("siem", o, std::make_unique<FakeTransport>(g.state),
                                            [] { return kNow; });
  g.alerts[0].account = std::string(200, '"');
  g.alerts[0].uid = std::string(200, '"');
  g.state.writes = {true, false};
  r = g.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items == std::vector<size_t>{0, 2});
  g.state.writes.clear();
  g.state.write_calls = 0;
  r = g.send();
  CHECK(r.status == Status::kReject);
  CHECK(r.items == std::vector<size_t>{0});
  CHECK(g.output->counters().too_large == 1);
}

TEST_CASE("reopen closes the connection; the next send connects again") {
  Harness h(false);
  CHECK(h.send().status == Status::kDelivered);
  h.output->reopen();
  CHECK_FALSE(h.state.open);
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.output->counters().connects == 2);
}

TEST_CASE("newline framing carries no raw newline even for hostile alerts") {
  FakeTransport::State state;
  SyslogOptions o;
  o.message = message_options();
  o.framing = SyslogFraming::kNewline;
  for (AlertFormat format :
       {AlertFormat::kOcsf, AlertFormat::kCloudTrail, AlertFormat::kCef, AlertFormat::kEcs}) {
    o.message.format = format;
    SyslogOutput out("siem", o, std::make_unique<FakeTransport>(state), [] { return kNow; });
    AlertRecord a = sample_alert();
    a.rule_id = "r\nx";
    a.rule_title = "t\n<13>1 forged";
    a.account = "a\nb";
    a.actor = "x\r\ny";
    a.event_name = "e\n";
    a.source_ip = "AWS Internal\n";
    a.ocsf = "{\"a\":\"x\\ny\"}\n";  // a raw newline where none should be: replaced
    a.raw = "{\"n\":\"\\n\"}";
    state.written.clear();
    REQUIRE(out.send({&a, &a}).status == Status::kDelivered);
    REQUIRE(state.written.size() == 1);
    const std::string& w = state.written[0];
    CHECK(std::count(w.begin(), w.end(), '\n') == 2);
    CHECK(w.back() == '\n');
  }
}

// ---- RELP ----

TEST_CASE("relp: frames are written and read back, across partial reads") {
  std::string out;
  relp::append_frame(7, "syslog", "<14>1 hello", out);
  relp::append_frame(8, "close", "", out);
  CHECK(out == "7 syslog 11 <14>1 hello\n8 close 0\n");
  relp::FrameReader r;
  relp::Frame f;
  std::string error;
  const std::string stream = "1 rsp 6 200 OK\n0 serverclose 0\n";
  for (size_t i = 0; i + 1 < 15; ++i) {  // every prefix of the first frame is "need more"
    relp::FrameReader partial;
    partial.feed(stream.substr(0, i));
    CHECK(partial.next(f, error) == relp::FrameReader::Result::kNeedMore);
  }
  r.feed(stream.substr(0, 9));
  CHECK(r.next(f, error) == relp::FrameReader::Result::kNeedMore);
  r.feed(stream.substr(9));
  REQUIRE(r.next(f, error) == relp::FrameReader::Result::kFrame);
  CHECK(f.txnr == 1);
  CHECK(f.command == "rsp");
  CHECK(f.data == "200 OK");
  REQUIRE(r.next(f, error) == relp::FrameReader::Result::kFrame);
  CHECK(f.txnr == 0);
  CHECK(f.command == "serverclose");
  CHECK(f.data.empty());
  CHECK(r.next(f, error) == relp::FrameReader::Result::kNeedMore);
  relp::Response rsp;
  REQUIRE(relp::parse_response("500 queue full\nmore", rsp));
  CHECK(rsp.code == 500);
  CHECK(rsp.text == "queue full");
  CHECK_FALSE(relp::parse_response("OK", rsp));
  CHECK(relp::offers_syslog("relp_version=0\ncommands=open,syslog,close"));
  CHECK_FALSE(relp::offers_syslog("relp_version=0\ncommands=syslogx"));
  CHECK(relp::next_txnr(relp::kMaxTxnr) == 1);
}

TEST_CASE("relp: a stream that is not RELP is an error, and so is a huge frame") {
  std::string error;
  relp::Frame f;
  for (const char* bad : {"HTTP/1.1 400 Bad Request\r\n", "1 rsp x\n", "1 rsp 2 OKX\n",
                          "1234567890 rsp 0\n", "1 rsp 0 \n"}) {
    relp::FrameReader r;
    r.feed(bad);
    CHECK_MESSAGE(r.next(f, error) == relp::FrameReader::Result::kError, bad);
  }
  relp::FrameReader r;
  r.feed("1 rsp 99999999 ");
  CHECK(r.next(f, error) == relp::FrameReader::Result::kError);
  CHECK(error.find("too large") != std::string::npos);
}

namespace {

// A RELP receiver behind the fake transport: answers "open" with 200 and the syslog command,
// and each "syslog" with the next of `codes` (then 200); `stop_after` answers, then silence.
struct FakeRelpServer {
  std::vector<int> codes;
  std::vector<std::string> messages;  // the syslog messages answered 200
  int opens = 0;
  int open_code = 200;
  size_t stop_after = SIZE_MAX;
  size_t answered = 0;
  bool reverse = false;    // answer the frames of one write last to first
  bool duplicate = false;  // answer the last syslog frame of a write twice
  relp::FrameReader reader;
  std::string operator()(std::string_view written) {
    reader.feed(written);
    std::string out, error;
    relp::Frame f;
    std::vector<relp::Frame> frames;
    while (reader.next(f, error) == relp::FrameReader::Result::kFrame) frames.push_back(f);
    if (reverse) std::reverse(frames.begin(), frames.end());
    for (const relp::Frame& frame : frames) {
      if (answered >= stop_after) continue;
      ++answered;
      if (frame.command == "open") {
        ++opens;
        relp::append_frame(frame.txnr, "rsp",
                           fmt::format("{} OK\nrelp_version=0\ncommands=syslog", open_code), out);
        continue;
      }
      const int code = codes.empty() ? 200 : codes.front();
      if (!codes.empty()) codes.erase(codes.begin());
      if (code == 200) messages.push_back(frame.data);
      relp::append_frame(frame.txnr, "rsp", code == 200 ? "200 OK" : "500 queue full", out);
    }
    if (duplicate && !frames.empty() && frames.back().command == "syslog")
      relp::append_frame(frames.back().txnr, "rsp", "200 OK", out);
    return out;
  }
};

// The scripted receiver behind h's transport.
std::shared_ptr<FakeRelpServer> serve_relp(Harness& h) {
  auto server = std::make_shared<FakeRelpServer>();
  h.state.answer = [server](std::string_view w) { return (*server)(w); };
  return server;
}

}  // namespace

TEST_CASE("relp: a session is opened once; every message answered 200 is delivered") {
  Harness h(false, 3, 65536, /*relp=*/true);
  auto server = serve_relp(h);
  CHECK(h.send().status == Status::kDelivered);
  CHECK(server->opens == 1);
  REQUIRE(server->messages.size() == 3);
  SyslogFormatter f(message_options());
  std::string m;
  f.format(*h.batch[0], kNow, m);
  CHECK(server->messages[0] == m);  // the message as is, no octet count
  CHECK(h.state.written[0].starts_with("1 open "));
  CHECK(h.state.written[1].starts_with("2 syslog "));
  CHECK(h.send().status == Status::kDelivered);
  CHECK(server->opens == 1);
  CHECK(server->messages.size() == 6);
  CHECK(h.state.written.back().starts_with("5 syslog "));
  CHECK(h.output->counters().sent == 6);
}

TEST_CASE("relp: windows of 128 messages, answers in any order") {
  Harness h(false, 300, 65536, true);
  auto server = serve_relp(h);
  server->reverse = true;
  CHECK(h.send().status == Status::kDelivered);
  CHECK(h.state.written.size() == 4);  // the open, then 128 + 128 + 44 messages
  CHECK(server->messages.size() == 300);
  CHECK(h.output->counters().sent == 300);
}

TEST_CASE("relp: an answer sent twice puts the next batch on a new session") {
  Harness h(false, 3, 65536, true);
  auto server = serve_relp(h);
  server->duplicate = true;
  CHECK(h.send().status == Status::kDelivered);
  server->duplicate = false;
  CHECK(h.send().status == Status::kDelivered);  // not confused by the stale answer
  CHECK(server->opens == 2);
  CHECK(server->messages.size() == 6);
  CHECK(h.output->counters().sent == 6);
}

TEST_CASE("relp: reopen (SIGHUP) ends the session with a close command") {
  Harness h(false, 3, 65536, true);
  auto server = serve_relp(h);
  CHECK(h.send().status == Status::kDelivered);
  h.output->reopen();
  CHECK(h.state.written.back() == "5 close 0\n");
  CHECK_FALSE(h.state.open);
  CHECK(h.send().status == Status::kDelivered);  // a new session
  CHECK(server->opens == 2);
}

TEST_CASE("relp: a message answered 500 is sent again, alone") {
  Harness h(false, 3, 65536, true);
  auto server = serve_relp(h);
  server->codes = {200, 500, 200};
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items == std::vector<size_t>{1});
  CHECK(r.message.find("500 queue full") != std::string::npos);
  CHECK(h.output->counters().refused == 1);
  CHECK(h.output->counters().sent == 2);
  CHECK(h.state.open);  // the session goes on
  std::vector<const AlertRecord*> again = {h.batch[1]};
  CHECK(h.output->send(again).status == Status::kDelivered);
  CHECK(server->messages.size() == 3);
  CHECK(server->opens == 1);
}

TEST_CASE("relp: a connection lost before the answers sends the unanswered again") {
  Harness h(false, 3, 65536, true);
  auto server = serve_relp(h);
  server->stop_after = 2;  // the open and the first message
  DeliveryResult r = h.send();
  CHECK(r.status == Status::kRetry);
  CHECK(r.items == std::vector<size_t>{1, 2});
  CHECK(r.message.find("no answer") != std::string::npos);
  CHECK_FALSE(h.state.open);
  CHECK(h.output->counters().sent == 1);
  // A new connection: a new session.
  server->stop_after = SIZE_MAX;
  std::vector<const AlertRecord*> again = {h.batch[1], h.batch[2]};
  CHECK(h.output->send(again).status == Status::kDelivered);
  CHECK(server->opens == 2);
  CHECK(server->messages.size() == 3);
}

TEST_CASE("relp: a refused session or a receiver that is not RELP is kRetry with the reason") {
  {
    Harness h(false, 3, 65536, true);
    auto server = serve_relp(h);
    server->open_code = 500;
      DeliveryResult r = h.send();
    CHECK(r.status == Status::kRetry);
    CHECK(r.items.empty());
    CHECK(r.message.find("refused the RELP session: 500") != std::string::npos);
    CHECK_FALSE(h.state.open);
  }
  {
    Harness h(false, 3, 65536, true);
    h.state.answer = [](std::string_view) { return std::string("<html>hello</html>\n"); };
    DeliveryResult r = h.send();
    CHECK(r.status == Status::kRetry);
    CHECK(r.message.find("not a RELP frame") != std::string::npos);
    CHECK_FALSE(h.state.open);
  }
}

TEST_CASE("relp: configuration") {
  SyslogOptions o = options_from("protocol = \"relp\"\naddress = \"h\"\n");
  CHECK(o.relp);
  CHECK(o.transport.protocol == SyslogProtocol::kTcp);
  CHECK(o.transport.port == "2514");
  CHECK(o.framing == SyslogFraming::kNone);
  o = options_from("protocol = \"relp-tls\"\naddress = \"h:20514\"\nca_file = \"/x\"\n");
  CHECK(o.relp);
  CHECK(o.transport.protocol == SyslogProtocol::kTls);
  CHECK(o.transport.ca_file == "/x");
  CHECK(config_error("protocol = \"relp\"\naddress = \"h\"\nframing = \"newline\"\n")
            .find("RELP has its own") != std::string::npos);
  CHECK(config_error("protocol = \"relp\"\naddress = \"h\"\nca_file = \"/x\"\n")
            .find("\"relp-tls\" only") != std::string::npos);
}
