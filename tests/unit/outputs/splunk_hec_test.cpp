// The Splunk HEC output: event bodies, request splitting, classification of Splunk's answers,
// indexer acknowledgement and the configuration keys, against a fake HttpClient
// (tests/unit/aws/fakes.h) and a fake clock. Nothing here touches the network or sleeps; the
// configuration tests use a temporary state directory.
#include "outputs/splunk_hec/splunk_hec_output.h"

#include <doctest/doctest.h>
#include <simdjson.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "agent/config/toml_util.h"
#include "agent/normalize/integrity_finding.h"
#include "outputs/settings.h"
#include "tests/unit/aws/fakes.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::aws;
using namespace trailwarden::aws::test;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "f3b0c442-98fc-1c14-9afb-4c8996fb9242";
const std::string kChannel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba";
const std::string kEvent = "POST https://splunk.example:8088/services/collector/event";
const std::string kAck = "POST https://splunk.example:8088/services/collector/ack";

AlertRecord alert(int i, int64_t time_ms = 1700000000123) {
  AlertRecord a;
  a.uid = "uid-" + std::to_string(i);
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config changes";
  a.severity_id = 4;
  a.time_ms = time_ms;
  a.event_name = "StopConfigurationRecorder";
  a.ocsf = R"({"class_uid":2004,"metadata":{"uid":"uid-)" + std::to_string(i) + R"("}})";
  a.raw = R"({"eventName":"StopConfigurationRecorder","eventID":"e-)" + std::to_string(i) + R"("})";
  return a;
}

struct Batch {
  std::vector<AlertRecord> alerts;
  std::vector<const AlertRecord*> ptrs;
  explicit Batch(int n) {
    for (int i = 0; i < n; ++i) alerts.push_back(alert(i));
    for (const auto& a : alerts) ptrs.push_back(&a);
  }
};

SplunkHecOptions options() {
  SplunkHecOptions o;
  o.host = "splunk.example:8088";
  o.token = kToken;
  o.gzip = false;
  o.ack_timeout = 10s;
  o.ack_poll = 1s;
  return o;
}

struct FakeClock {
  std::chrono::steady_clock::time_point t{};
  std::vector<std::chrono::milliseconds> sleeps;
  HecClock clock() {
    return {[this] { return t; },
            [this](std::chrono::milliseconds d) {
              sleeps.push_back(d);
              t += d;
            }};
  }
};

std::string gunzip(const std::string& in) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 32) == Z_OK);
  std::string out(in.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

std::string events_of(const Batch& b, size_t from, size_t to, const SplunkHecOptions& o) {
  std::string s;
  for (size_t i = from; i < to; ++i) append_hec_event(b.alerts[i], o, s);
  return s;
}

std::vector<size_t> range(size_t from, size_t to) {
  std::vector<size_t> v;
  for (size_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

std::string reply(int code, const std::string& text, const std::string& extra = "") {
  return "{\"text\":\"" + text + "\",\"code\":" + std::to_string(code) + extra + "}";
}

// Every request and every message must be free of the token, except the Authorization header.
void check_no_token(const FakeHttp& http, const DeliveryResult& r) {
  CHECK(r.message.find(kToken) == std::string::npos);
  for (const auto& c : http.calls) {
    CHECK(c.request.body.find(kToken) == std::string::npos);
    CHECK(c.request.path.find(kToken) == std::string::npos);
    REQUIRE(c.request.find_header("Authorization") != nullptr);
    CHECK(*c.request.find_header("Authorization") == "Splunk " + kToken);
  }
}

}  // namespace

TEST_CASE("HEC event: metadata, time with milliseconds, event last") {
  SplunkHecOptions o = options();
  o.sourcetype = "trailwarden:ocsf";
  std::string out;
  append_hec_event(alert(1), o, out);
  CHECK(out == R"({"time":1700000000.123,"source":"trailwarden","sourcetype":"trailwarden:ocsf",)"
               R"("event":{"class_uid":2004,"metadata":{"uid":"uid-1"}}})");
  out.clear();
  o.index = "security";
  o.event_host = "agent-\"7\"";
  append_hec_event(alert(2, 5), o, out);
  CHECK(out == R"({"time":0.005,"host":"agent-\"7\"","source":"trailwarden",)"
               R"("sourcetype":"trailwarden:ocsf","index":"security",)"
               R"("event":{"class_uid":2004,"metadata":{"uid":"uid-2"}}})");
  out.clear();
  o.source.clear();
  o.sourcetype.clear();
  o.index.clear();
  o.event_host.clear();
  append_hec_event(alert(3, 0), o, out);  // no time: Splunk uses the time of receipt
  CHECK(out == R"({"event":{"class_uid":2004,"metadata":{"uid":"uid-3"}}})");
}

TEST_CASE("HEC event: format cloudtrail sends the bare record with indexed trailwarden fields") {
  SplunkHecOptions o = options();
  o.format = AlertFormat::kCloudTrail;
  o.sourcetype = "aws:cloudtrail";
  std::string out;
  append_hec_event(alert(1), o, out);
  CHECK(out == R"({"time":1700000000.123,"source":"trailwarden","sourcetype":"aws:cloudtrail",)"
               R"("fields":{"trailwarden_rule_id":"cis-4.9","trailwarden_rule_title":)"
               R"("AWS Config changes","trailwarden_severity":"High",)"
               R"("trailwarden_severity_id":"4","trailwarden_finding_uid":"uid-1"},)"
               R"("event":{"eventName":"StopConfigurationRecorder","eventID":"e-1"}})");
  // Without the raw record: the envelope of format_alert().
  AlertRecord a = alert(2);
  a.raw.clear();
  out.clear();
  append_hec_event(a, o, out);
  CHECK(out.find(R"("event":{"trailwarden":{"rule_id":"cis-4.9")") != std::string::npos);
  CHECK(out.find("\"fields\"") == std::string::npos);
  // An alert with nothing to send becomes a null event (Splunk refuses it: a reject).
  a = alert(3);
  a.ocsf.clear();
  out.clear();
  append_hec_event(a, options(), out);
  CHECK(out.ends_with(R"("event":null})"));
}

TEST_CASE("HEC event: the bare record's indexed fields say the route, verified or not") {
  SplunkHecOptions o = options();
  o.format = AlertFormat::kCloudTrail;
  o.sourcetype = "aws:cloudtrail";
  AlertRecord a = alert(1);
  a.route = AlertRoute::kS3Object;
  a.bucket = "trail-bucket";
  a.key = "AWSLogs/x.json.gz";
  a.notification = "sns/s3";
  std::string out;
  append_hec_event(a, o, out);
  CHECK(out.find(R"("trailwarden_finding_uid":"uid-1","trailwarden_route":"s3",)"
                 R"("trailwarden_verified":"true","trailwarden_bucket":"trail-bucket",)"
                 R"("trailwarden_key":"AWSLogs/x.json.gz","trailwarden_notification":"sns/s3"},)"
                 R"("event":{"eventName":"StopConfigurationRecorder","eventID":"e-1"}})") !=
        std::string::npos);
  AlertRecord b = alert(2);
  b.route = AlertRoute::kInlineEvent;
  b.eventbridge_event_id = "eb-2";
  b.notification = "eventbridge/cloudtrail";
  out.clear();
  append_hec_event(b, o, out);
  CHECK(out.find(R"("trailwarden_route":"eventbridge","trailwarden_verified":"false",)"
                 R"("trailwarden_eventbridge_event_id":"eb-2",)"
                 R"("trailwarden_notification":"eventbridge/cloudtrail"})") != std::string::npos);
  CHECK(out.find("trailwarden_bucket") == std::string::npos);
  AlertRecord c = alert(3);
  c.route = AlertRoute::kUnknown;
  out.clear();
  append_hec_event(c, o, out);
  CHECK(out.find(R"("trailwarden_route":"unknown","trailwarden_verified":"false"})") !=
        std::string::npos);
  // Without the raw record: the cloudtrail envelope, which carries the route too.
  b.raw.clear();
  out.clear();
  append_hec_event(b, o, out);
  CHECK(out.find(R"("route":"eventbridge","verified":false)") != std::string::npos);
}

TEST_CASE("HEC reply parsing") {
  HecReply r = parse_hec_reply(R"({"text":"Success","code":0,"ackId":12})");
  CHECK(r.code == 0);
  CHECK(r.text == "Success");
  CHECK(r.ack_id == 12);
  CHECK(r.invalid_event == -1);
  r = parse_hec_reply(R"({"text":"Invalid data format","code":6,"invalid-event-number":3})");
  CHECK(r.code == 6);
  CHECK(r.invalid_event == 3);
  r = parse_hec_reply("<html>busy</html>");
  CHECK(r.code == -1);
  CHECK(r.ack_id == -1);
  CHECK(parse_hec_reply("").code == -1);
}

TEST_CASE("send: one request, headers, gzip body of concatenated events") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 200, reply(0, "Success"));
  SplunkHecOptions o = options();
  o.gzip = true;
  SplunkHecOutput out("hec", o, http);
  Batch b(3);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  CHECK(r.message.empty());
  REQUIRE(http->calls.size() == 1);
  const HttpRequest& req = http->calls[0].request;
  CHECK(req.method == "POST");
  CHECK(http->calls[0].timeout == 10s);
  REQUIRE(req.find_header("Content-Encoding"));
  CHECK(*req.find_header("Content-Encoding") == "gzip");
  CHECK(*req.find_header("Content-Type") == "application/json");
  CHECK(req.find_header("X-Splunk-Request-Channel") == nullptr);
  CHECK(gunzip(req.body) == events_of(b, 0, 3, o));
  check_no_token(*http, r);
  // Buffers are reused: a second send works the same.
  r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  REQUIRE(http->calls.size() == 2);
  CHECK(gunzip(http->calls[1].request.body) == events_of(b, 0, 3, o));
}

TEST_CASE("send: gzip off sends the events as they are") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 200, reply(0, "Success"));
  SplunkHecOutput out("hec", options(), http);
  Batch b(2);
  CHECK(out.send(b.ptrs).status == DeliveryResult::Status::kDelivered);
  REQUIRE(http->calls.size() == 1);
  CHECK(http->calls[0].request.find_header("Content-Encoding") == nullptr);
  CHECK(http->calls[0].request.body == events_of(b, 0, 2, options()));
}

TEST_CASE("send: a batch over batch_max_bytes is split; an oversized event goes alone") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 200, reply(0, "Success"));
  SplunkHecOptions o = options();
  Batch b(10);
  b.alerts[7].ocsf = "{\"big\":\"" + std::string(2000, 'x') + "\"}";
  std::string one;
  append_hec_event(b.alerts[0], o, one);
  o.batch_max_bytes = one.size() * 3;  // three small events per request
  SplunkHecOutput out("hec", o, http);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  std::string all;
  for (const auto& c : http->calls) {
    all += c.request.body;
    if (c.request.body.size() > o.batch_max_bytes) CHECK(c.request.body == events_of(b, 7, 8, o));
  }
  CHECK(all == events_of(b, 0, 10, o));
  // [0,3) [3,6) [6] [7] [8,10)
  CHECK(http->calls.size() == 5);
}

TEST_CASE("send: busy, throttled, server errors and network errors are retried") {
  for (auto [status, body] :
       std::vector<std::pair<int, std::string>>{{503, reply(9, "Server is busy")},
                                                {429, ""},
                                                {500, reply(8, "Internal server error")},
                                                {502, "<html>bad gateway</html>"},
                                                {408, ""}}) {
    CAPTURE(status);
    auto http = std::make_shared<FakeHttp>();
    http->on(kEvent, status, body);
    SplunkHecOutput out("hec", options(), http);
    Batch b(4);
    DeliveryResult r = out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kRetry);
    CHECK(r.items.empty());  // all of them
    CHECK(r.message.find("HTTP " + std::to_string(status)) != std::string::npos);
    check_no_token(*http, r);
  }
  auto http = std::make_shared<FakeHttp>();  // no route: connection refused
  SplunkHecOutput out("hec", options(), http);
  Batch b(2);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kRetry);
  CHECK(r.items.empty());
  CHECK(r.message.find("https://splunk.example:8088/services/collector/event") !=
        std::string::npos);
}

TEST_CASE("send: a failure after accepted requests retries only what was not accepted") {
  auto http = std::make_shared<FakeHttp>();
  int calls = 0;
  http->on(kEvent, [&calls](const HttpRequest&) {
    return ++calls == 2 ? response(503, reply(9, "Server is busy"))
                        : response(200, reply(0, "Success"));
  });
  SplunkHecOptions o = options();
  Batch b(9);
  std::string one;
  append_hec_event(b.alerts[0], o, one);
  o.batch_max_bytes = one.size() * 3;
  SplunkHecOutput out("hec", o, http);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(http->calls.size() == 2);  // stops at the first failure
  CHECK(r.status == DeliveryResult::Status::kRetry);
  CHECK(r.items == range(3, 9));
}

TEST_CASE("send: invalid-event-number rejects that event and retries the ones after it") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 400, reply(6, "Invalid data format", ",\"invalid-event-number\":2"));
  SplunkHecOutput out("hec", options(), http);
  Batch b(5);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kReject);
  CHECK(r.items == std::vector<size_t>{2});
  CHECK(r.retry_items == std::vector<size_t>{3, 4});  // 0 and 1 were indexed
  CHECK(r.message.find("code 6") != std::string::npos);
  CHECK(r.message.find("the 2 events after it were not indexed") != std::string::npos);
  check_no_token(*http, r);

  SUBCASE("with ack, the events before it have no ackId: retried too") {
    SplunkHecOptions o = options();
    o.ack = true;
    o.channel = kChannel;
    SplunkHecOutput acked("hec", o, http);
    r = acked.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kReject);
    CHECK(r.items == std::vector<size_t>{2});
    CHECK(r.retry_items == std::vector<size_t>{0, 1, 3, 4});
  }
  SUBCASE("an event number in a later request maps to the batch index") {
    int calls = 0;
    http->on(kEvent, [&calls](const HttpRequest&) {
      return ++calls == 1 ? response(200, reply(0, "Success"))
                          : response(400, reply(13, "Event field cannot be blank",
                                                ",\"invalid-event-number\":1"));
    });
    SplunkHecOptions o = options();
    std::string one;
    append_hec_event(b.alerts[0], o, one);
    o.batch_max_bytes = one.size() * 2;
    SplunkHecOutput split("hec", o, http);
    r = split.send(b.ptrs);  // [0,2) ok, [2,4): event 3 bad, then stop
    CHECK(r.status == DeliveryResult::Status::kReject);
    CHECK(r.items == std::vector<size_t>{3});
    CHECK(r.retry_items == std::vector<size_t>{4});
  }
}

TEST_CASE("send: 400 without an event number rejects the request; the others go on") {
  auto http = std::make_shared<FakeHttp>();
  int calls = 0;
  http->on(kEvent, [&calls](const HttpRequest&) {
    return ++calls == 1 ? response(400, reply(15, "Error in handling indexed fields"))
                        : response(200, reply(0, "Success"));
  });
  SplunkHecOptions o = options();
  Batch b(4);
  std::string one;
  append_hec_event(b.alerts[0], o, one);
  o.batch_max_bytes = one.size() * 2;
  SplunkHecOutput out("hec", o, http);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(http->calls.size() == 2);
  CHECK(r.status == DeliveryResult::Status::kReject);
  CHECK(r.items == std::vector<size_t>{0, 1});
  CHECK(r.retry_items.empty());
  // Other 4xx: reject.
  http->on(kEvent, 405, "");
  r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kReject);
  CHECK(r.items == range(0, 4));
}

TEST_CASE(
    "send: bad tokens, wrong URLs and configuration mismatches are fatal, without the token") {
  struct Case {
    int status;
    std::string body;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {401, reply(2, "Token is required"), "refused the token"},
           {401, reply(3, "Invalid authorization"), "refused the token"},
           {403, reply(4, "Invalid token"), "refused the token"},
           {403, reply(1, "Token disabled"), "code 1 \"Token disabled\""},
           {403, "token " + kToken + " is not valid", "[redacted]"},  // an echoing proxy
           {404, R"({"text":"The requested URL was not found on this server.","code":404})",
            "is the URL a HEC endpoint"},
           {400, reply(7, "Incorrect index", ",\"invalid-event-number\":0"), "index 'nope'"},
           {400, reply(10, "Data channel is missing"), "set ack = true"},
           {301, "", "redirect"}}) {
    CAPTURE(c.status);
    CAPTURE(c.body);
    auto http = std::make_shared<FakeHttp>();
    http->on(kEvent, c.status, c.body);
    SplunkHecOptions o = options();
    o.index = "nope";
    SplunkHecOutput out("hec", o, http);
    Batch b(2);
    DeliveryResult r = out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kFatal);
    CHECK(r.message.find(c.expect) != std::string::npos);
    if (c.status != 400) CHECK(r.message.find("splunk.example:8088") != std::string::npos);
    check_no_token(*http, r);
  }
}

TEST_CASE("send: 413 halves the request size and retries; a single event too large is rejected") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, [](const HttpRequest& req) {
    return req.body.size() > 1500 ? response(413, "Content-Length too large")
                                  : response(200, reply(0, "Success"));
  });
  SplunkHecOptions o = options();
  Batch b(20);  // about 140 bytes each
  b.alerts[19].ocsf = "{\"big\":\"" + std::string(3000, 'x') + "\"}";
  SplunkHecOutput out("hec", o, http);
  LogCapture logs;
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kRetry);
  CHECK(r.items.empty());  // nothing went through: all of them
  CHECK(out.max_request_bytes() < o.batch_max_bytes);
  CHECK(logs.text().find("sending at most") != std::string::npos);
  int rounds = 0;
  std::vector<const AlertRecord*> left = b.ptrs;
  while (rounds++ < 10) {
    r = out.send(left);
    if (r.status != DeliveryResult::Status::kRetry) break;
    std::vector<const AlertRecord*> next;
    for (size_t i : r.items) next.push_back(left[i]);
    if (!r.items.empty()) left = next;
  }
  CHECK(r.status == DeliveryResult::Status::kReject);
  REQUIRE(r.items.size() == 1);
  CHECK(left[r.items[0]]->uid == "uid-19");
  CHECK(r.retry_items.empty());
}

TEST_CASE("send with ack: channel header, ackIds polled until true") {
  auto http = std::make_shared<FakeHttp>();
  int posts = 0;
  http->on(kEvent, [&posts](const HttpRequest&) {
    return response(200, reply(0, "Success", ",\"ackId\":" + std::to_string(posts++)));
  });
  int polls = 0;
  http->on(kAck, [&polls](const HttpRequest&) {
    return response(200, ++polls < 3 ? R"({"acks":{"0":false}})" : R"({"acks":{"0":true}})");
  });
  SplunkHecOptions o = options();
  o.ack = true;
  o.channel = kChannel;
  FakeClock clock;
  SplunkHecOutput out("hec", o, http, clock.clock());
  Batch b(3);
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kDelivered);
  REQUIRE(http->calls.size() == 4);
  for (const auto& c : http->calls) {
    REQUIRE(c.request.find_header("X-Splunk-Request-Channel"));
    CHECK(*c.request.find_header("X-Splunk-Request-Channel") == kChannel);
  }
  CHECK(http->calls[1].request.body == R"({"acks":[0]})");
  CHECK(clock.sleeps == std::vector<std::chrono::milliseconds>{1s, 1s, 1s});
  check_no_token(*http, r);
}

TEST_CASE("send with ack: timeout retries the unacknowledged requests only") {
  auto http = std::make_shared<FakeHttp>();
  int posts = 0;
  http->on(kEvent, [&posts](const HttpRequest&) {
    return response(200, reply(0, "Success", ",\"ackId\":" + std::to_string(posts++)));
  });
  http->on(kAck, 200, R"({"acks":{"0":true,"1":false}})");
  SplunkHecOptions o = options();
  o.ack = true;
  o.channel = kChannel;
  Batch b(6);
  std::string one;
  append_hec_event(b.alerts[0], o, one);
  o.batch_max_bytes = one.size() * 3;
  FakeClock clock;
  SplunkHecOutput out("hec", o, http, clock.clock());
  const auto start = clock.t;
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kRetry);
  CHECK(r.items == range(3, 6));
  CHECK(r.message.find("no indexer acknowledgement for 1 of 2 requests (3 events)") !=
        std::string::npos);
  CHECK(clock.t - start == 10s);
  CHECK(http->count(kAck) == 10);
  CHECK(http->calls[2].request.body == R"({"acks":[0,1]})");
  CHECK(http->calls[3].request.body == R"({"acks":[1]})");  // acknowledged ids are not asked again
}

TEST_CASE("send with ack: poll errors are retried until the deadline; ack disabled is fatal") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 200, reply(0, "Success", ",\"ackId\":7"));
  int polls = 0;
  http->on(kAck, [&polls](const HttpRequest&) {
    ++polls;
    if (polls == 1) return transport_error("connection reset");
    if (polls == 2) return response(503, reply(9, "Server is busy"));
    return response(200, R"({"acks":{"7":true}})");
  });
  SplunkHecOptions o = options();
  o.ack = true;
  o.channel = kChannel;
  FakeClock clock;
  SplunkHecOutput out("hec", o, http, clock.clock());
  Batch b(1);
  CHECK(out.send(b.ptrs).status == DeliveryResult::Status::kDelivered);
  CHECK(polls == 3);

  http->on(kAck, 400, reply(14, "ACK is disabled"));
  DeliveryResult r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kFatal);
  CHECK(r.message.find("set ack = false") != std::string::npos);
  http->on(kAck, 403, reply(4, "Invalid token"));
  r = out.send(b.ptrs);
  CHECK(r.status == DeliveryResult::Status::kFatal);
  check_no_token(*http, r);

  SUBCASE("answers that never come: timeout, then retry") {
    http->on(kAck, 503, reply(9, "Server is busy"));
    r = out.send(b.ptrs);
    CHECK(r.status == DeliveryResult::Status::kRetry);
    CHECK(r.message.find("last ack poll: HTTP 503") != std::string::npos);
  }
}

TEST_CASE("send with ack on but a token without it: delivered, warned once") {
  auto http = std::make_shared<FakeHttp>();
  http->on(kEvent, 200, reply(0, "Success"));
  SplunkHecOptions o = options();
  o.ack = true;
  o.channel = kChannel;
  SplunkHecOutput out("hec", o, http);
  Batch b(2);
  LogCapture logs;
  CHECK(out.send(b.ptrs).status == DeliveryResult::Status::kDelivered);
  CHECK(out.send(b.ptrs).status == DeliveryResult::Status::kDelivered);
  CHECK(http->count(kAck) == 0);
  const std::string text = logs.text();
  const size_t first = text.find("returns no ackId");
  CHECK(first != std::string::npos);
  CHECK(text.find("returns no ackId", first + 1) == std::string::npos);
}

TEST_CASE("channel GUIDs") {
  for (int i = 0; i < 50; ++i) {
    const std::string g = random_guid();
    CHECK(is_guid(g));
    CHECK(g[14] == '4');
    CHECK(std::string("89ab").find(g[19]) != std::string::npos);
  }
  CHECK(random_guid() != random_guid());
  CHECK(is_guid(kChannel));
  CHECK(is_guid("0AEEAC95-AC74-4AA9-B30D-6C4C0AC581BA"));
  CHECK_FALSE(is_guid("0aeeac95ac744aa9b30d6c4c0ac581ba"));
  CHECK_FALSE(is_guid("0aeeac95-ac74-4aa9-b30d-6c4c0ac581bz"));
  CHECK_FALSE(is_guid(""));
}

// ---------------------------------------------------------------------------------------------
// Configuration

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tw-hec-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

OutputSettings settings(const std::string& body) {
  const toml::table doc = parse_toml("[[outputs]]\n" + body, "hec.toml");
  return parse_output_settings(*doc["outputs"].as_array()->front().as_table(), "hec.toml", 0);
}

SplunkHecOptions parse(const std::string& body, const std::string& state_dir = "") {
  OutputEnv env;
  env.state_dir = state_dir;
  return parse_splunk_hec_config(settings(body), env).options;
}

std::string parse_error(const std::string& body, const std::string& state_dir = "") {
  try {
    parse(body, state_dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kBase = "type = \"splunk_hec\"\nname = \"siem\"\n";

}  // namespace

TEST_CASE("config: url, endpoint paths and defaults") {
  SplunkHecOptions o =
      parse(kBase + "url = \"https://Splunk.Example:8088\"\ntoken = \"" + kToken + "\"\n");
  CHECK(o.scheme == "https");
  CHECK(o.host == "splunk.example:8088");
  CHECK(o.event_path == "/services/collector/event");
  CHECK(o.ack_path == "/services/collector/ack");
  CHECK(o.token == kToken);
  CHECK(o.sourcetype == "trailwarden:ocsf");
  CHECK(o.source == "trailwarden");
  CHECK(o.index.empty());
  CHECK(o.event_host.empty());
  CHECK(o.gzip);
  CHECK_FALSE(o.ack);
  CHECK(o.channel.empty());
  CHECK(o.ack_timeout == 60s);
  CHECK(o.ack_poll == 1000ms);
  CHECK(o.batch_max_bytes == size_t{1} << 20);
  CHECK(o.timeout == 10s);

  o = parse(kBase +
            "url = \"https://lb.example/splunk/services/collector/event/1.0/\"\n"
            "token = \"t0k3n-abcd\"\nformat = \"cloudtrail\"\nindex = \"aws\"\n"
            "source = \"s\"\nhost = \"h\"\ngzip = false\nack_timeout_seconds = 5\n"
            "ack_poll_ms = 250\nbatch_max_bytes = 4096\ntimeout_ms = 2500\n");
  CHECK(o.host == "lb.example");
  CHECK(o.event_path == "/splunk/services/collector/event/1.0");
  CHECK(o.ack_path == "/splunk/services/collector/ack");
  CHECK(o.sourcetype == "aws:cloudtrail");
  CHECK(o.format == AlertFormat::kCloudTrail);
  CHECK(o.index == "aws");
  CHECK(o.source == "s");
  CHECK(o.event_host == "h");
  CHECK_FALSE(o.gzip);
  CHECK(o.ack_timeout == 5s);
  CHECK(o.ack_poll == 250ms);
  CHECK(o.batch_max_bytes == 4096);
  CHECK(o.timeout == 2500ms);

  o = parse(kBase + "url = \"http://127.0.0.1:18088\"\ntoken = \"abcd\"\nsourcetype = \"x:y\"\n");
  CHECK(o.scheme == "http");
  CHECK(o.sourcetype == "x:y");
}

TEST_CASE("config: errors say where, and never show the token") {
  const std::string tok = "token = \"" + kToken + "\"\n";
  struct Case {
    std::string body;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {tok, "needs url"},
           {"url = \"https://h:8088\"\n" + tok + "tokn = \"x\"\n",
            "hec.toml:6:1: unknown key 'tokn'"},
           {"url = \"ftp://h\"\n" + tok, "hec.toml:4:1: url: endpoint URL scheme"},
           {"url = \"http://splunk.example:8088\"\n" + tok, "plain http would send the HEC token"},
           {"url = \"https://h:8088/services/collector/raw\"\n" + tok, "raw endpoint"},
           {"url = \"https://h:8088/hec\"\nack = true\n" + tok, "must contain /services/collector"},
           {"url = \"https://h:8088\"\n", "set exactly one of token, token_env and token_file"},
           {"url = \"https://h:8088\"\n" + tok + "token_env = \"X\"\n",
            "hec.toml:6:1: set exactly one"},
           {"url = \"https://h:8088\"\ntoken_env = \"TW_HEC_TEST_UNSET_VAR\"\n",
            "environment variable TW_HEC_TEST_UNSET_VAR is not set"},
           {"url = \"https://h:8088\"\ntoken_file = \"/nonexistent/tok\"\n",
            "token_file: cannot read /nonexistent/tok: No such file"},
           {"url = \"https://h:8088\"\ntoken = \"has space\"\n", "token contains spaces"},
           {"url = \"https://h:8088\"\n" + tok + "channel = \"nope\"\n", "channel must be a GUID"},
           {"url = \"https://h:8088\"\n" + tok + "ca_file = \"/nonexistent/ca.pem\"\n",
            "ca_file: cannot read /nonexistent/ca.pem"},
           {"url = \"https://h:8088\"\n" + tok + "gzip = \"yes\"\n",
            "outputs.gzip must be true or false"},
           {"url = \"https://h:8088\"\n" + tok + "batch_max_bytes = 10\n", "at least 1024"},
       }) {
    CAPTURE(c.body);
    const std::string e = parse_error(kBase + c.body);
    CAPTURE(e);
    CHECK(e.find(c.expect) != std::string::npos);
    CHECK(e.find(kToken) == std::string::npos);
    CHECK(e.find("has space") == std::string::npos);
  }
}

TEST_CASE("config: token from the environment and from a file") {
  TempDir dir;
  ::setenv("TW_HEC_TEST_TOKEN", ("  " + kToken + "\n").c_str(), 1);
  SplunkHecOptions o =
      parse(kBase + "url = \"https://h:8088\"\ntoken_env = \"TW_HEC_TEST_TOKEN\"\n");
  CHECK(o.token == kToken);
  ::setenv("TW_HEC_TEST_TOKEN", "", 1);
  CHECK(parse_error(kBase + "url = \"https://h:8088\"\ntoken_env = \"TW_HEC_TEST_TOKEN\"\n")
            .find("is not set or empty") != std::string::npos);
  ::unsetenv("TW_HEC_TEST_TOKEN");

  const std::string file = dir.path + "/token";
  std::ofstream(file) << kToken << "\n";
  o = parse(kBase + "url = \"https://h:8088\"\ntoken_file = \"" + file + "\"\n");
  CHECK(o.token == kToken);
  std::ofstream(file) << "\n";
  const std::string e =
      parse_error(kBase + "url = \"https://h:8088\"\ntoken_file = \"" + file + "\"\n");
  CHECK(e.find("token_file: the token is empty") != std::string::npos);
}

TEST_CASE("config: the ack channel is kept in the state directory across restarts") {
  TempDir dir;
  const std::string body = kBase + "url = \"https://h:8088\"\ntoken = \"abcd\"\nack = true\n";
  const SplunkHecOptions first = parse(body, dir.path + "/state");
  CHECK(first.ack);
  CHECK(is_guid(first.channel));
  const std::string file = dir.path + "/state/hec-siem.channel";
  CHECK(trailwarden::test::read_file(file) == first.channel + "\n");
  CHECK(parse(body, dir.path + "/state").channel == first.channel);
  // A damaged file is replaced (with a warning).
  std::ofstream(file) << "garbage";
  LogCapture logs;
  const SplunkHecOptions third = parse(body, dir.path + "/state");
  CHECK(is_guid(third.channel));
  CHECK(third.channel != first.channel);
  CHECK(logs.text().find("does not hold a channel GUID") != std::string::npos);
  // An explicit channel wins and writes nothing.
  const SplunkHecOptions explicit_channel =
      parse(body + "channel = \"" + kChannel + "\"\n", dir.path + "/other");
  CHECK(explicit_channel.channel == kChannel);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/other"));
  // Without ack no channel and no file.
  CHECK(parse(kBase + "url = \"https://h:8088\"\ntoken = \"abcd\"\n", dir.path + "/none")
            .channel.empty());
  CHECK_FALSE(std::filesystem::exists(dir.path + "/none"));
  // Names are made file-safe.
  parse(kBase + "url = \"https://h:8088\"\ntoken = \"abcd\"\nack = true\n", dir.path + "/s2");
  std::string warning;
  const std::string g = load_or_create_channel(dir.path + "/s2/../s2/x.channel", warning);
  CHECK(warning.empty());
  CHECK(is_guid(g));
}

TEST_CASE("config: format = \"ecs\": sourcetype trailwarden:ecs, the ECS document as the event") {
  SplunkHecOptions o = parse(kBase + "url = \"https://h:8088\"\ntoken = \"abcd\"\nformat = \"ecs\"\n");
  CHECK(o.format == AlertFormat::kEcs);
  CHECK(o.sourcetype == "trailwarden:ecs");
  AlertRecord a;
  a.uid = "u-1";
  a.rule_id = "cis-4.9";
  a.time_ms = 1700000000123;
  a.ocsf = R"({"message":"m","time":1700000000123,"metadata":{"uid":"u-1"}})";
  a.raw = R"({"eventName":"StopConfigurationRecorder","eventID":"e-1"})";
  std::string out;
  append_hec_event(a, o, out);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(out).get(e) == simdjson::SUCCESS);
  CHECK(std::string_view(e["sourcetype"].get_string().value_unsafe()) == "trailwarden:ecs");
  CHECK(std::string_view(e["event"]["@timestamp"].get_string().value_unsafe()) ==
        "2023-11-14T22:13:20.123Z");
  CHECK(std::string_view(e["event"]["event"]["id"].get_string().value_unsafe()) == "e-1");
  CHECK(e["fields"].error() == simdjson::NO_SUCH_FIELD);  // indexed fields: cloudtrail only
}

TEST_CASE("config: make_output builds the splunk_hec output") {
  std::unique_ptr<Output> out =
      make_output(settings(kBase + "url = \"https://h:8088\"\ntoken = \"abcd\"\n"), OutputEnv{});
  REQUIRE(out);
  CHECK(out->name() == "siem");
  CHECK(dynamic_cast<SplunkHecOutput*>(out.get()) != nullptr);
}

TEST_CASE("HEC event: format cloudtrail sends an integrity alert in its envelope, never bare") {
  IntegrityFindingInput in;
  in.check = IntegrityCheck::kDigestChainBroken;
  in.reason = "digest not found";
  in.bucket = "trail-bucket";
  in.key = "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/d.json.gz";
  in.time_ms = 1700000000123;
  SplunkHecOptions o = options();
  o.format = AlertFormat::kCloudTrail;
  o.sourcetype = "aws:cloudtrail";
  std::string out;
  append_hec_event(make_integrity_alert(in), o, out);
  CHECK(out.starts_with(R"({"time":1700000000.123,)"));
  CHECK(out.find(R"("event":{"trailwarden":{"rule_id":"integrity.digest_chain_broken")") !=
        std::string::npos);
  CHECK(out.find(R"("kind":"integrity")") != std::string::npos);
  CHECK(out.ends_with(R"("record":null,"integrity":{"check":"digest_chain_broken",)"
                      R"("reason":"digest not found","bucket":"trail-bucket",)"
                      R"("key":"AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/d.json.gz"}}})"));
  CHECK(out.find("\"fields\"") == std::string::npos);
}
