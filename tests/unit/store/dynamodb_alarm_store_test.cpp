// DynamoDbAlarmStore against a fake HTTP client: the table's keys, one UpdateItem per unit and
// period (merged deltas), each unit counted once per period (a repeated unit, a retried write
// whose first try was applied, the bound on remembered units), the conditional extremes, the conditional state write (won / lost), the
// consistent Query of load(), the start-up table check, and bad input refused before any request.
#include "agent/store/dynamodb_alarm_store.h"

#include <doctest/doctest.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "agent/common/logging.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace trailwarden::store;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

constexpr const char* kRoute = "POST https://dynamodb.eu-west-1.amazonaws.com/";

std::string target(const http::HttpRequest& r) {
  const std::string* t = r.find_header("X-Amz-Target");
  return t ? t->substr(std::string("DynamoDB_20120810.").size()) : "";
}

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  std::map<std::string, std::vector<http::HttpResponse>> answers;  // per action, in turn
  std::vector<std::pair<std::string, std::string>> sent;           // (action, body)
  std::shared_ptr<DynamoDbAlarmStore> store;

  explicit Fixture(size_t max_units = 1000) {
    http->on(kRoute, [this](const http::HttpRequest& r) {
      const std::string action = target(r);
      sent.emplace_back(action, r.body);
      auto& queue = answers[action];
      if (queue.empty()) return response(200, "{}");
      http::HttpResponse a = queue.front();
      if (queue.size() > 1) queue.erase(queue.begin());
      return a;
    });
    DynamoDbClientOptions o;
    o.region = "eu-west-1";
    o.endpoint_url = "https://dynamodb.eu-west-1.amazonaws.com";
    o.sleep = [](std::chrono::milliseconds) {};
    DynamoDbAlarmStoreOptions s;
    s.table = "tw-alarms";
    s.retention = std::chrono::seconds(3600);
    s.max_contributors = 3;
    s.max_units = max_units;
    store = std::make_shared<DynamoDbAlarmStore>(
        s, std::make_shared<DynamoDbClient>(o, http, std::make_shared<StaticCredentials>()));
  }
};

constexpr const char* kUnit = "s3://trail/AWSLogs/1/CloudTrail/x.json.gz?versionId=v1#etag1";

PeriodDelta delta(int64_t start, int64_t count, std::vector<std::string> ids = {},
                  std::string unit = kUnit) {
  PeriodDelta d;
  d.unit = std::move(unit);
  d.alarm_key = "cis-4.9";
  d.dimensions_key = "user=alice";
  d.period_start = start;
  d.period_seconds = 300;
  d.count = count;
  d.sum = static_cast<double>(count);
  d.contributors = std::move(ids);
  return d;
}

const char* kCondFailed =
    R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"})";

}  // namespace

TEST_CASE("Alarm store keys: one partition per instance, periods sort before the state item") {
  const std::string pk = alarm_partition_key("cis-4.9", "user=alice");
  CHECK(pk.starts_with("cis-4.9#"));
  CHECK(pk.size() == std::string("cis-4.9#").size() + 32);
  CHECK(pk != alarm_partition_key("cis-4.9", "user=bob"));
  CHECK(period_sort_key(1714564800) == "p#00000000001714564800");
  CHECK(period_sort_key(300) < period_sort_key(1714564800));
  CHECK(period_sort_key(9223372036854775807) < std::string("state"));
}

TEST_CASE("Alarm store add: one atomic ADD per period with the TTL, totals from UPDATED_NEW") {
  Fixture f;
  f.answers["UpdateItem"] = {response(
      200, R"({"Attributes":{"cnt":{"N":"5"},"sm":{"N":"5"},"ids":{"SS":["e2","e1"]},"expires_at":{"N":"1714568700"}}})")};
  PeriodTotals t;
  StoreStatus s = f.store->add(delta(1714564800, 2, {"e1", "e2"}), t);
  REQUIRE(s.ok);
  CHECK(t.count == 5);
  CHECK(t.sum == 5);
  CHECK(t.contributors == std::vector<std::string>{"e1", "e2"});
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].first == "UpdateItem");
  const std::string& body = f.sent[0].second;
  CHECK(body.find(R"("Key":{"pk":{"S":")" + alarm_partition_key("cis-4.9", "user=alice") +
                  R"("},"sk":{"S":"p#00000000001714564800"}})") != std::string::npos);
  CHECK(body.find(R"("UpdateExpression":"ADD #c :c, #s :s, #u :u, #i :i SET #t = :t")") !=
        std::string::npos);
  CHECK(body.find("size(#i) < :n") != std::string::npos);
  // TTL: period end (start + 300) + retention (3600).
  CHECK(body.find(R"(":t":{"N":"1714568700"})") != std::string::npos);
  CHECK(body.find(R"(":c":{"N":"2"})") != std::string::npos);
  CHECK(body.find(R"("ReturnValues":"UPDATED_NEW")") != std::string::npos);
  CHECK(f.store->counters().requests == 1);
}

TEST_CASE("Alarm store add_batch: deltas of one period become one UpdateItem with their sum") {
  Fixture f;
  std::vector<PeriodDelta> ds = {delta(600, 1, {"a"}), delta(900, 1, {"x"}), delta(600, 2, {"b", "a"}),
                                 delta(600, 4, {"c", "d"})};
  std::vector<PeriodTotals> totals;
  REQUIRE(f.store->add_batch(ds, totals).ok);
  REQUIRE(f.sent.size() == 2);  // two periods, whatever the number of deltas
  CHECK(f.sent[0].second.find(R"(":c":{"N":"7"})") != std::string::npos);
  CHECK(f.sent[0].second.find(R"(":i":{"SS":["a","b","c"]})") != std::string::npos);  // bounded
  CHECK(f.sent[1].second.find(R"(":c":{"N":"1"})") != std::string::npos);
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].period_start == 600);
  CHECK(totals[1].period_start == 900);
  CHECK(f.store->counters().updates == 2);
}

TEST_CASE("Alarm store add: a lower minimum is corrected by a conditional SET, else nothing more") {
  Fixture f;
  f.answers["UpdateItem"] = {
      response(200, R"({"Attributes":{"cnt":{"N":"3"},"sm":{"N":"9"},"mn":{"N":"5"},"mx":{"N":"5"}}})"),
      response(200, "{}")};
  PeriodDelta d = delta(0, 1);
  d.min = 2;
  d.max = 2;
  PeriodTotals t;
  REQUIRE(f.store->add(d, t).ok);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].second.find("#mn = if_not_exists(#mn, :mn)") != std::string::npos);
  CHECK(f.sent[1].second.find(R"("ConditionExpression":"#x > :x")") != std::string::npos);
  CHECK(f.sent[1].second.find(R"("#x":"mn")") != std::string::npos);
  CHECK(t.min == 2);
  CHECK(t.max == 5);  // 2 is not above the stored 5: no second correction
  CHECK(f.store->counters().extreme_updates == 1);

  // A concurrent add went lower still: the condition fails, which is fine.
  Fixture g;
  g.answers["UpdateItem"] = {
      response(200, R"({"Attributes":{"cnt":{"N":"3"},"sm":{"N":"9"},"mn":{"N":"5"}}})"),
      response(400, kCondFailed)};
  PeriodDelta e = delta(0, 1);
  e.min = 2;
  CHECK(g.store->add(e, t).ok);
}

TEST_CASE("Alarm store transition: a conditional PutItem that one writer wins") {
  Fixture f;
  TransitionRequest t;
  t.alarm_key = "cis-4.9";
  t.dimensions_key = "user=alice";
  t.from_version = 0;
  t.to_state = "ALARM";
  t.changed_at = 1714565100;
  t.reason = "Threshold Crossed";
  t.range_end = 1714565040;
  t.early = true;
  t.uid = "u9";
  t.recent = {"u8", "u7", "u6", "u5", "u4", "u3", "u2", "u1"};
  TransitionOutcome o{};
  REQUIRE(f.store->transition(t, o).ok);
  CHECK(o == TransitionOutcome::kWon);
  REQUIRE(f.sent.size() == 1);
  // What decided it, and the last kRecentTransitions uids, newest first.
  CHECK(f.sent[0].second.find(R"("end":{"N":"1714565040"})") != std::string::npos);
  CHECK(f.sent[0].second.find(R"("early":{"BOOL":true})") != std::string::npos);
  CHECK(f.sent[0].second.find(R"("recent":{"S":"u9 u8 u7 u6 u5 u4 u3 u2"})") != std::string::npos);
  CHECK(f.sent[0].first == "PutItem");
  CHECK(f.sent[0].second.find(R"j("ConditionExpression":"attribute_not_exists(#pk)")j") !=
        std::string::npos);
  CHECK(f.sent[0].second.find(R"("ver":{"N":"1"})") != std::string::npos);
  CHECK(f.sent[0].second.find(R"("sk":{"S":"state"})") != std::string::npos);

  f.answers["PutItem"] = {response(400, kCondFailed)};
  t.from_version = 1;
  t.from_state = "ALARM";
  t.to_state = "OK";
  REQUIRE(f.store->transition(t, o).ok);
  CHECK(o == TransitionOutcome::kLost);
  CHECK(f.sent[1].second.find(R"("ConditionExpression":"#v = :v AND #st = :st")") != std::string::npos);
  CHECK(f.sent[1].second.find(R"(":st":{"S":"ALARM"},":v":{"N":"1"})") != std::string::npos);
  CHECK(f.sent[1].second.find(R"("ver":{"N":"2"})") != std::string::npos);
  CHECK(f.store->counters().transitions_won == 1);
  CHECK(f.store->counters().transitions_lost == 1);
}

TEST_CASE("Alarm store load: one consistent Query gives the periods and the state") {
  Fixture f;
  f.answers["Query"] = {response(
      200, R"({"Items":[{"pk":{"S":"x"},"sk":{"S":"p#00000000000000000600"},"cnt":{"N":"3"},"sm":{"N":"4.5"}},)"
           R"({"pk":{"S":"x"},"sk":{"S":"p#00000000000000000900"},"cnt":{"N":"1"},"sm":{"N":"1"},"mn":{"N":"1"}},)"
           R"({"pk":{"S":"x"},"sk":{"S":"state"},"st":{"S":"ALARM"},"ver":{"N":"4"},"changed":{"N":"900"},)"
           R"("end":{"N":"840"},"early":{"BOOL":true},"recent":{"S":"u4 u3"}}]})")};
  LoadedInstance l;
  REQUIRE(f.store->load("cis-4.9", "user=alice", 600, l).ok);
  REQUIRE(l.periods.size() == 2);
  CHECK(l.periods[0].period_start == 600);
  CHECK(l.periods[0].count == 3);
  CHECK(l.periods[0].sum == 4.5);
  CHECK(l.periods[1].min == 1);
  CHECK(l.state.state == "ALARM");
  CHECK(l.state.version == 4);
  CHECK(l.state.changed_at == 900);
  CHECK(l.state.range_end == 840);
  CHECK(l.state.early);
  CHECK(l.state.recent == std::vector<std::string>{"u4", "u3"});
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].second.find(R"("KeyConditionExpression":"#pk = :pk AND #sk >= :from")") !=
        std::string::npos);
  CHECK(f.sent[0].second.find(R"(":from":{"S":"p#00000000000000000600"})") != std::string::npos);
  CHECK(f.sent[0].second.find(R"("ConsistentRead":true)") != std::string::npos);
}

TEST_CASE("Alarm store: invalid deltas and transitions are refused, named, counted, unsent") {
  Fixture f;
  PeriodTotals t;
  PeriodDelta bad = delta(301, 1);  // not a period boundary
  StoreStatus s = f.store->add(bad, t);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(s.retryable);
  CHECK(s.message.find("cis-4.9") != std::string::npos);
  PeriodDelta nan = delta(300, 1);
  nan.sum = std::nan("");
  CHECK_FALSE(f.store->add(nan, t).ok);
  TransitionRequest tr;
  tr.alarm_key = "a";
  tr.from_version = 2;  // no from_state
  tr.to_state = "OK";
  TransitionOutcome o{};
  CHECK_FALSE(f.store->transition(tr, o).ok);
  CHECK(f.sent.empty());
  CHECK(f.store->counters().failures == 3);
}

TEST_CASE("Alarm store table check: missing table, wrong keys, TTL off") {
  {
    Fixture f;
    f.answers["DescribeTable"] = {response(
        400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found: Table: tw-alarms not found"})")};
    std::vector<std::string> warnings;
    StoreStatus s = f.store->check_table(warnings);
    CHECK_FALSE(s.ok);
    CHECK_FALSE(s.retryable);
    CHECK(s.message.find("table tw-alarms does not exist in region eu-west-1") != std::string::npos);
  }
  {
    Fixture f;
    f.answers["DescribeTable"] = {response(
        200, R"({"Table":{"TableStatus":"ACTIVE","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],)"
             R"("KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}})")};
    std::vector<std::string> warnings;
    StoreStatus s = f.store->check_table(warnings);
    CHECK_FALSE(s.ok);
    CHECK(s.message.find("has the key schema [id HASH S]; the alarm store needs [pk HASH S, sk RANGE S]") !=
          std::string::npos);
  }
  {
    Fixture f;
    f.answers["DescribeTable"] = {response(
        200, R"({"Table":{"TableStatus":"ACTIVE","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"S"}],)"
             R"("KeySchema":[{"AttributeName":"sk","KeyType":"RANGE"},{"AttributeName":"pk","KeyType":"HASH"}]}})")};
    f.answers["DescribeTimeToLive"] = {
        response(200, R"({"TimeToLiveDescription":{"TimeToLiveStatus":"DISABLED"}})")};
    std::vector<std::string> warnings;
    StoreStatus s = f.store->check_table(warnings);
    CHECK(s.ok);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("time to live DISABLED; enable it on attribute expires_at") !=
          std::string::npos);
  }
  {
    Fixture f;
    f.answers["DescribeTable"] = {response(
        200, R"({"Table":{"TableStatus":"CREATING","KeySchema":[]}})")};
    std::vector<std::string> warnings;
    StoreStatus s = f.store->check_table(warnings);
    CHECK_FALSE(s.ok);
    CHECK(s.retryable);
    CHECK(s.message.find("is CREATING") != std::string::npos);
  }
}

TEST_CASE("Alarm store transition: a retried write that had won is still won, not lost") {
  Fixture f;
  std::string first_body;
  // The first PutItem is applied but its answer is a 500; the retry then fails its condition.
  f.answers["PutItem"] = {
      response(500, R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"})"),
      response(400, kCondFailed)};
  TransitionRequest t;
  t.alarm_key = "cis-4.9";
  t.from_version = 0;
  t.to_state = "ALARM";
  t.changed_at = 600;
  // GetItem answers with the state item as the first write stored it (its writer token).
  f.http->on(kRoute, [&f](const http::HttpRequest& r) {
    const std::string action = target(r);
    f.sent.emplace_back(action, r.body);
    if (action == "GetItem") {
      const std::string& put = f.sent.front().second;
      const size_t at = put.find(R"("writer":{"S":")");
      const std::string token = put.substr(at + 15, 32);
      return response(200, R"({"Item":{"st":{"S":"ALARM"},"writer":{"S":")" + token + R"("}}})");
    }
    auto& queue = f.answers[action];
    http::HttpResponse a = queue.front();
    if (queue.size() > 1) queue.erase(queue.begin());
    return a;
  });
  TransitionOutcome o = TransitionOutcome::kLost;
  REQUIRE(f.store->transition(t, o).ok);
  CHECK(o == TransitionOutcome::kWon);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[2].first == "GetItem");
  CHECK(f.sent[2].second.find(R"("ConsistentRead":true)") != std::string::npos);

  // Another writer's token: lost.
  Fixture g;
  g.answers["PutItem"] = {
      response(500, R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"})"),
      response(400, kCondFailed)};
  g.answers["GetItem"] = {
      response(200, R"({"Item":{"st":{"S":"ALARM"},"writer":{"S":"someone-else"}}})")};
  REQUIRE(g.store->transition(t, o).ok);
  CHECK(o == TransitionOutcome::kLost);
}

TEST_CASE("Alarm store add: ids only while the stored set is not full; then writes without them") {
  Fixture f;  // max_contributors 3
  f.answers["UpdateItem"] = {response(400, kCondFailed),
                             response(200, R"({"Attributes":{"cnt":{"N":"9"},"sm":{"N":"9"}}})")};
  // The refused write is explained by a consistent read: the ids are full, the unit is new.
  f.answers["GetItem"] = {
      response(200, R"({"Item":{"cnt":{"N":"8"},"sm":{"N":"8"},"ids":{"SS":["a","b","c"]}}})")};
  PeriodTotals t;
  REQUIRE(f.store->add(delta(600, 1, {"late"}), t).ok);
  CHECK(t.count == 9);
  CHECK_FALSE(t.already_counted);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[0].second.find(R"j( AND (attribute_not_exists(#i) OR size(#i) < :n)")j") !=
        std::string::npos);
  CHECK(f.sent[0].second.find(R"(":n":{"N":"3"})") != std::string::npos);
  CHECK(f.sent[1].first == "GetItem");
  CHECK(f.sent[2].second.find("size(#i)") == std::string::npos);
  CHECK(f.sent[2].second.find(R"("#i")") == std::string::npos);
  CHECK(f.sent[2].second.find("NOT contains(#u, :d)") != std::string::npos);  // still once
  CHECK(f.sent[2].second.find(R"(":c":{"N":"1"})") != std::string::npos);  // counted once
  // The period is known full now: the next add sends no ids, in one request.
  REQUIRE(f.store->add(delta(600, 1, {"later"}, "another unit"), t).ok);
  REQUIRE(f.sent.size() == 4);
  CHECK(f.sent[3].second.find("later") == std::string::npos);
  // Another period still gets its ids.
  REQUIRE(f.store->add(delta(900, 1, {"other"}), t).ok);
  CHECK(f.sent.back().second.find("other") != std::string::npos);
}

TEST_CASE("Alarm store add_batch: a failure stops the batch; totals list what was applied") {
  Fixture f;
  f.answers["UpdateItem"] = {
      response(200, R"({"Attributes":{"cnt":{"N":"2"},"sm":{"N":"2"}}})"),
      response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"Item size has exceeded the maximum allowed size"})")};
  std::vector<PeriodTotals> totals;
  StoreStatus s = f.store->add_batch({delta(600, 2), delta(900, 1), delta(1200, 1)}, totals);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(s.retryable);
  CHECK(s.message.find("ValidationException") != std::string::npos);
  CHECK(s.message.find("period 900") != std::string::npos);
  CHECK(s.message.find("tw-alarms") != std::string::npos);
  REQUIRE(totals.size() == 1);
  CHECK(totals[0].alarm_key == "cis-4.9");
  CHECK(totals[0].dimensions_key == "user=alice");
  CHECK(totals[0].period_start == 600);
  CHECK(f.sent.size() == 2);  // the third period was not tried
  CHECK(f.store->counters().failures == 1);
}

namespace {

std::string encoded(const AttributeValue& v) {
  std::string out;
  JsonWriter w(out);
  write_attribute(w, v);
  return out;
}

// The period item as the fake's GetItem gives it back: counts, and these unit digests.
http::HttpResponse period_item(int64_t count, const std::vector<std::string>& units,
                               std::string extra = "") {
  return response(200, R"({"Item":{"cnt":{"N":")" + std::to_string(count) + R"("},"sm":{"N":")" +
                           std::to_string(count) + R"("},"un":)" +
                           encoded(AttributeValue::bs(units)) + extra + "}}");
}

}  // namespace

TEST_CASE("Alarm store unit digest: 16 bytes of SHA-256, the same for the same identity") {
  const std::string a = unit_digest(kUnit);
  CHECK(a.size() == 16);
  CHECK(a == unit_digest(kUnit));
  CHECK(a != unit_digest("s3://trail/AWSLogs/1/CloudTrail/x.json.gz?versionId=v2#etag1"));
  CHECK(unit_digest(std::string(10000, 'k')).size() == 16);  // whatever the key's length
}

TEST_CASE("Alarm store add: the unit's digest is added with the counts, only if not yet there") {
  Fixture f;
  PeriodTotals t;
  REQUIRE(f.store->add(delta(600, 2), t).ok);
  REQUIRE(f.sent.size() == 1);
  const std::string& body = f.sent[0].second;
  const std::string digest = unit_digest(kUnit);
  CHECK(body.find(R"(":d":)" + encoded(AttributeValue::bin(digest))) != std::string::npos);
  CHECK(body.find(R"(":u":)" + encoded(AttributeValue::bs({digest}))) != std::string::npos);
  CHECK(body.find(R"("#u":"un")") != std::string::npos);
  CHECK(body.find(R"(":mu":{"N":"1000"})") != std::string::npos);
  CHECK(body.find(R"j("ConditionExpression":"(attribute_not_exists(#u) OR (NOT contains(#u, :d) AND size(#u) < :mu))")j") !=
        std::string::npos);
  CHECK_FALSE(t.already_counted);
  CHECK_FALSE(t.unguarded);
}

TEST_CASE("Alarm store add: a unit the period holds is not added again; its totals are read") {
  Fixture f;
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  f.answers["GetItem"] = {period_item(7, {unit_digest("other"), unit_digest(kUnit)})};
  PeriodTotals t;
  REQUIRE(f.store->add(delta(600, 2), t).ok);
  CHECK(t.already_counted);
  CHECK(t.count == 7);
  CHECK(t.period_start == 600);
  REQUIRE(f.sent.size() == 2);  // no second write
  CHECK(f.sent[1].first == "GetItem");
  CHECK(f.sent[1].second.find(R"("ConsistentRead":true)") != std::string::npos);
  CHECK(f.sent[1].second.find(R"("sk":{"S":"p#00000000000000000600"})") != std::string::npos);
  CHECK(f.store->counters().already_counted == 1);
  CHECK(f.store->counters().checks == 1);
}

TEST_CASE("Alarm store add: a retried write whose first try was applied counts once") {
  // The first UpdateItem is applied but its answer is lost (a 500); the client's retry then
  // fails its condition, and the item holds this unit: counted once, by the first try.
  Fixture f;
  f.answers["UpdateItem"] = {
      response(500, R"({"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"})"),
      response(400, kCondFailed)};
  f.answers["GetItem"] = {period_item(2, {unit_digest(kUnit)})};
  PeriodTotals t;
  REQUIRE(f.store->add(delta(600, 2), t).ok);
  CHECK(t.count == 2);
  CHECK(t.already_counted);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[0].second == f.sent[1].second);  // the same conditional write, retried
  CHECK(f.sent[2].first == "GetItem");
  CHECK(f.store->counters().updates == 1);
  CHECK(f.store->counters().retries == 1);
}

TEST_CASE("Alarm store add: a counted unit still corrects an extreme its first write left") {
  // The write that counted it (this call's lost first try, or an agent killed after it) did not
  // get to lower the minimum: the repeat does it, conditionally.
  Fixture f;
  f.answers["UpdateItem"] = {response(400, kCondFailed), response(200, "{}")};
  f.answers["GetItem"] = {period_item(3, {unit_digest(kUnit)}, R"(,"mn":{"N":"5"},"mx":{"N":"5"})")};
  PeriodDelta d = delta(600, 1);
  d.min = 2;
  d.max = 2;
  PeriodTotals t;
  REQUIRE(f.store->add(d, t).ok);
  CHECK(t.already_counted);
  CHECK(t.min == 2);
  CHECK(t.max == 5);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[2].second.find(R"("ConditionExpression":"#x > :x")") != std::string::npos);
  CHECK(f.sent[2].second.find(R"(":c")") == std::string::npos);  // no count in it
}

TEST_CASE("Alarm store add: beyond max_units a unit is counted unguarded, logged once, and a "
          "unit in the set is still refused") {
  std::ostringstream log;
  std::string error;
  auto previous = spdlog::default_logger();
  REQUIRE(setup_logging_for_test(LogOptions{.level = "warn", .format = "text"}, log,
                                 [] { return std::chrono::system_clock::time_point{}; }, error));
  Fixture f(2);
  f.answers["UpdateItem"] = {response(400, kCondFailed),
                             response(200, R"({"Attributes":{"cnt":{"N":"3"},"sm":{"N":"3"}}})")};
  f.answers["GetItem"] = {period_item(2, {unit_digest("a"), unit_digest("b")})};
  PeriodTotals t;
  REQUIRE(f.store->add(delta(600, 1, {}, "c"), t).ok);
  CHECK(t.count == 3);
  CHECK(t.unguarded);
  CHECK_FALSE(t.already_counted);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[0].second.find(R"(":mu":{"N":"2"})") != std::string::npos);
  const std::string& unguarded = f.sent[2].second;
  CHECK(unguarded.find(R"j("ConditionExpression":"(attribute_not_exists(#u) OR NOT contains(#u, :d))")j") !=
        std::string::npos);
  CHECK(unguarded.find(R"("UpdateExpression":"ADD #c :c, #s :s SET #t = :t")") != std::string::npos);
  CHECK(f.store->counters().unguarded == 1);
  // Known full: the next new unit goes unguarded in one request.
  REQUIRE(f.store->add(delta(600, 1, {}, "d"), t).ok);
  REQUIRE(f.sent.size() == 4);
  CHECK(f.sent[3].second.find("NOT contains(#u, :d))") != std::string::npos);
  CHECK(f.sent[3].second.find(R"(":u")") == std::string::npos);
  CHECK(t.unguarded);
  // A remembered unit is refused even so, and read back as counted.
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  f.answers["GetItem"] = {period_item(4, {unit_digest("a"), unit_digest("b")})};
  REQUIRE(f.store->add(delta(600, 1, {}, "a"), t).ok);
  CHECK(t.already_counted);
  CHECK(t.count == 4);
  CHECK(f.store->counters().unguarded == 2);
  // Another period of the same instance is guarded.
  f.answers["UpdateItem"] = {response(200, "{}")};
  REQUIRE(f.store->add(delta(900, 1, {}, "e"), t).ok);
  CHECK(f.sent.back().second.find(R"(":u")") != std::string::npos);
  CHECK_FALSE(t.unguarded);
  setup_logging(LogOptions{.level = "warn", .format = "text"}, error);
  spdlog::set_default_logger(previous);
  // One warning for the period, naming it and the bound, however many units went unguarded.
  const std::string text = log.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find("alarm \"cis-4.9\" dimensions \"user=alice\" period 600 holds 2 units "
                  "(max_units)") != std::string::npos);
}

TEST_CASE("Alarm store add: a refused write the item does not explain is retried, then fails") {
  Fixture f;
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  f.answers["GetItem"] = {period_item(1, {unit_digest("other")})};
  PeriodTotals t;
  StoreStatus s = f.store->add(delta(600, 1), t);
  CHECK_FALSE(s.ok);
  CHECK(s.retryable);
  CHECK(s.message.find("condition failed 4 times") != std::string::npos);
  CHECK(f.sent.size() == 8);
}

TEST_CASE("Alarm store add_batch: one write per unit and period; deltas of one unit merged") {
  Fixture f;
  std::vector<PeriodDelta> ds = {delta(600, 1, {}, "u1"), delta(600, 2, {}, "u2"),
                                 delta(600, 4, {}, "u1"), delta(900, 8, {}, "u1")};
  std::vector<PeriodTotals> totals;
  REQUIRE(f.store->add_batch(ds, totals).ok);
  REQUIRE(f.sent.size() == 3);
  CHECK(f.sent[0].second.find(R"(":c":{"N":"5"})") != std::string::npos);
  CHECK(f.sent[0].second.find(encoded(AttributeValue::bin(unit_digest("u1")))) != std::string::npos);
  CHECK(f.sent[1].second.find(R"(":c":{"N":"2"})") != std::string::npos);
  CHECK(f.sent[1].second.find(encoded(AttributeValue::bin(unit_digest("u2")))) != std::string::npos);
  CHECK(f.sent[2].second.find(R"(":c":{"N":"8"})") != std::string::npos);
  REQUIRE(totals.size() == 3);
  CHECK(totals[0].period_start == 600);
  CHECK(totals[1].period_start == 600);
  CHECK(totals[2].period_start == 900);
}

TEST_CASE("Alarm store: a delta without a unit is refused, unsent; max_units is bounded") {
  Fixture f;
  PeriodTotals t;
  StoreStatus s = f.store->add(delta(600, 1, {}, ""), t);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(s.retryable);
  CHECK(s.message.find("names no unit") != std::string::npos);
  CHECK(s.message.find("cis-4.9") != std::string::npos);
  CHECK(f.sent.empty());
  DynamoDbAlarmStoreOptions o;
  o.table = "t";
  o.max_units = 0;
  CHECK_THROWS_AS(DynamoDbAlarmStore(o, nullptr), std::invalid_argument);
  o.max_units = 20001;
  CHECK_THROWS_AS(DynamoDbAlarmStore(o, nullptr), std::invalid_argument);
}
