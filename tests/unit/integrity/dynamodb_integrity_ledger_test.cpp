// DynamoDbIntegrityLedger against a fake HTTP client: the exact request of every call (keys,
// expressions, conditions, TTL), the outcomes of refused conditions (a read beyond kMaxReads,
// a backfill claim held by another agent, a head that is newer, a stopped claim already
// taken), hostile items read back from the shared table ignored and counted (wrong name or
// chain, bad hex, a set larger than kMaxReads, wrong types), and failures naming the table,
// the action and the item.
#include "agent/integrity/dynamodb_integrity_ledger.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace trailwarden::integrity;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

constexpr const char* kRoute = "POST https://dynamodb.eu-west-1.amazonaws.com/";
constexpr const char* kCondFailed =
    R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"})";
constexpr const char* kName = "s3://trail/AWSLogs/1/CloudTrail/eu-west-1/x.json.gz";
constexpr const char* kChain = "trail|AWSLogs/1/CloudTrail-Digest/eu-west-1";
const std::string kSha1(64, 'a');
const std::string kSha2(64, 'b');
constexpr int64_t kNow = 1714564800123;              // ms
constexpr int64_t kTtl = 1714564800 + 3600;          // now (s) + retention

std::string target(const http::HttpRequest& r) {
  const std::string* t = r.find_header("X-Amz-Target");
  return t ? t->substr(std::string("DynamoDB_20120810.").size()) : "";
}

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  std::map<std::string, std::vector<http::HttpResponse>> answers;  // per action, in turn
  std::vector<std::pair<std::string, std::string>> sent;           // (action, body)
  std::shared_ptr<DynamoDbIntegrityLedger> ledger;

  Fixture() {
    http->on(kRoute, [this](const http::HttpRequest& r) {
      const std::string action = target(r);
      sent.emplace_back(action, r.body);
      auto& queue = answers[action];
      if (queue.empty()) return response(200, "{}");
      http::HttpResponse a = queue.front();
      if (queue.size() > 1) queue.erase(queue.begin());
      return a;
    });
    store::DynamoDbClientOptions o;
    o.region = "eu-west-1";
    o.endpoint_url = "https://dynamodb.eu-west-1.amazonaws.com";
    o.max_attempts = 2;
    o.sleep = [](std::chrono::milliseconds) {};
    ledger = std::make_shared<DynamoDbIntegrityLedger>(
        DynamoDbIntegrityLedgerOptions{"tw-state", std::chrono::seconds(3600), ""},
        std::make_shared<store::DynamoDbClient>(o, http, std::make_shared<StaticCredentials>()));
  }
};

std::string lf() { return read_partition_key(kName); }
std::string head_sk() { return chain_head_sort_key(kChain); }
std::string dpk() { return digest_partition_key(kChain); }

SharedChainHead head(int64_t end) {
  SharedChainHead h;
  h.chain = kChain;
  h.bucket = "trail";
  h.account = "111122223333";
  h.region = "eu-west-1";
  h.last_end = end;
  h.last_key = "AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz";
  h.arrival_ms = kNow;
  return h;
}

KnownDigest known(int64_t end) {
  return {"AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz", kSha1, "0a1b", end - 3600, end, false};
}

std::string digest_item(const std::string& chain, int64_t end, const std::string& sha) {
  return fmt::format(
      R"({{"pk":{{"S":"{}"}},"sk":{{"S":"{}"}},"chain":{{"S":"{}"}},"key":{{"S":"k{}"}},"sha":{{"S":"{}"}},"sig":{{"S":"0a"}},"start":{{"N":"{}"}},"end":{{"N":"{}"}},"starting":{{"BOOL":false}}}})",
      digest_partition_key(chain), digest_sort_key(end), chain, end, sha, end - 3600, end);
}

}  // namespace

TEST_CASE("Shared integrity ledger keys: 32 hex of SHA-256, ends zero-padded to sort") {
  CHECK(ledger_hash("abc") == "ba7816bf8f01cfea414140de5dae2223");
  CHECK(read_partition_key("abc") == "ig#lf#ba7816bf8f01cfea414140de5dae2223");
  CHECK(chain_head_sort_key("abc") == "c#ba7816bf8f01cfea414140de5dae2223");
  CHECK(digest_partition_key("abc") == "ig#ch#ba7816bf8f01cfea414140de5dae2223");
  CHECK(digest_sort_key(1714564800) == "d#00000000001714564800");
  CHECK(digest_sort_key(999) < digest_sort_key(1000));
  CHECK_THROWS_AS(DynamoDbIntegrityLedger({"", std::chrono::seconds(1), ""}, nullptr),
                  std::invalid_argument);
}

TEST_CASE("Shared integrity ledger add_read: one conditional ADD; beyond kMaxReads is not an error") {
  Fixture f;
  std::optional<SharedListing> listed;
  REQUIRE(f.ledger->add_read(kName, {kSha1, "unit one"}, kNow, listed).ok);
  CHECK_FALSE(listed);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].first == "UpdateItem");
  const std::string e = kSha1 + " unit one";
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","Key":{"pk":{"S":")" + lf() + R"("},"sk":{"S":"r"}},)"
        R"("UpdateExpression":"ADD #h :r SET #n = :n, #t = :t",)"
        R"j("ConditionExpression":"attribute_not_exists(#h) OR size(#h) < :max OR contains(#h, :e)",)j"
        R"("ExpressionAttributeNames":{"#h":"h","#n":"name","#t":"expires_at"},)"
        R"("ExpressionAttributeValues":{":e":{"S":")" + e + R"("},":max":{"N":"8"},":n":{"S":")" +
        kName + R"("},":r":{"SS":[")" + e + R"("]},":t":{"N":")" + std::to_string(kTtl) +
        R"("}},"ReturnValues":"ALL_NEW"})");
  // The set is full: refused, ok (not kept, like the local ledger); the listing is read.
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  CHECK(f.ledger->add_read(kName, {kSha2, "u"}, kNow, listed).ok);
  CHECK(f.sent.back().first == "GetItem");
  CHECK(f.ledger->counters().failures == 0);
  // A content that is not a SHA-256 is refused unsent.
  SharedStatus s = f.ledger->add_read(kName, {"ABC", "u"}, kNow, listed);
  CHECK_FALSE(s.ok);
  CHECK(f.sent.size() == 3);
  // A failure names the table, the action and the file.
  f.answers["UpdateItem"] = {response(500, R"({"__type":"InternalServerError","message":"x"})")};
  s = f.ledger->add_read(kName, {kSha1, "u"}, kNow, listed);
  CHECK_FALSE(s.ok);
  CHECK(s.message.find("DynamoDB table tw-state") != std::string::npos);
  CHECK(s.message.find("UpdateItem of the read of " + std::string(kName)) != std::string::npos);
  CHECK(f.ledger->counters().failures == 2);
  CHECK(f.ledger->counters().requests == 5);  // 1 + 2 + 2 tries
}

std::string listed_item(const std::string& name, const std::string& sha, const std::string& extra = "") {
  return R"({"Attributes":{"pk":{"S":")" + read_partition_key(name) +
         R"("},"sk":{"S":"r"},"name":{"S":")" + name + R"("},"ls":{"S":")" + sha +
         R"("},"lk":{"S":"dk"},"lc":{"S":"c"},"la":{"S":"111122223333"},"lr":{"S":"eu-west-1"},)"
         R"("lf":{"S":"ff"},"lb":{"N":"100"},"le":{"N":"3700"})" + extra + "}}";
}

TEST_CASE("Shared integrity ledger: a read gets the listing back; a listing gets the reads") {
  Fixture f;
  std::optional<SharedListing> listed;
  f.answers["UpdateItem"] = {response(200, listed_item(kName, kSha2))};
  REQUIRE(f.ledger->add_read(kName, {kSha1, "u"}, kNow, listed).ok);
  REQUIRE(listed);
  CHECK(listed->sha256 == kSha2);
  CHECK(listed->digest_key == "dk");
  CHECK(listed->digest_start == 100);
  CHECK(listed->digest_end == 3700);
  // A listing of another file's item, or not as an agent writes it: ignored.
  f.answers["UpdateItem"] = {response(200, listed_item("s3://other/x", kSha2))};
  REQUIRE(f.ledger->add_read(kName, {kSha1, "u"}, kNow, listed).ok);
  CHECK_FALSE(listed);
  f.answers["UpdateItem"] = {response(200, listed_item(kName, "XYZ"))};
  REQUIRE(f.ledger->add_read(kName, {kSha1, "u"}, kNow, listed).ok);
  CHECK_FALSE(listed);
  CHECK(f.ledger->counters().ignored == 2);
  // list_file: each attribute kept if there; the reads given back.
  SharedListing l;
  l.sha256 = kSha1;
  l.digest_key = "dk";
  l.chain = kChain;
  l.account = "111122223333";
  l.region = "eu-west-1";
  l.fingerprint = "ff";
  l.digest_start = 100;
  l.digest_end = 3700;
  f.answers["UpdateItem"] = {response(
      200, listed_item(kName, kSha1, R"(,"h":{"SS":[")" + kSha2 + R"( s3://b/k","bad"]})"))};
  std::vector<SharedRead> reads;
  REQUIRE(f.ledger->list_file(kName, l, kNow, reads).ok);
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].sha256 == kSha2);
  CHECK(reads[0].unit == "s3://b/k");
  const std::string& body = f.sent.back().second;
  CHECK(body.find(R"("UpdateExpression":"SET #n = :n, #t = :t, #ls = if_not_exists(#ls, :ls), )") !=
        std::string::npos);
  CHECK(body.find(R"("ReturnValues":"ALL_NEW")") != std::string::npos);
  CHECK(body.find("ConditionExpression") == std::string::npos);
}

TEST_CASE("Shared integrity ledger coverage: kept while refreshed, started again when stale") {
  Fixture f;
  int64_t from = 0;
  f.answers["UpdateItem"] = {response(200, R"({"Attributes":{"from":{"N":"1000"},"seen":{"N":"5000"}}})")};
  REQUIRE(f.ledger->coverage(kNow, 3600000, from).ok);
  CHECK(from == 1000);
  CHECK(f.sent.back().second.find(
            R"("ConditionExpression":"attribute_not_exists(#s) OR #s >= :stale")") !=
        std::string::npos);
  // Stale: the first update is refused, the second starts it again from now.
  f.answers["UpdateItem"] = {response(400, kCondFailed),
                             response(200, R"({"Attributes":{"from":{"N":")" +
                                               std::to_string(kNow) + R"("}}})")};
  REQUIRE(f.ledger->coverage(kNow, 3600000, from).ok);
  CHECK(from == kNow);
  CHECK(f.sent.back().second.find(R"("UpdateExpression":"SET #s = :now, #f = :now, #t = :t")") !=
        std::string::npos);
  // A start in the future is not believed.
  f.answers["UpdateItem"] = {response(200, R"({"Attributes":{"from":{"N":")" +
                                               std::to_string(kNow + 3600000) + R"("}}})")};
  CHECK_FALSE(f.ledger->coverage(kNow, 3600000, from).ok);
}

TEST_CASE("Shared integrity ledger reads: one consistent BatchGetItem; hostile items ignored") {
  Fixture f;
  const std::string other = "s3://trail/other.json.gz", third = "s3://trail/third.json.gz",
                    fourth = "s3://trail/fourth.json.gz", fifth = "s3://trail/fifth.json.gz";
  std::string huge;
  for (int i = 0; i < 9; ++i)
    huge += fmt::format(R"({}"{:064x} u{}")", i ? "," : "", i + 1, i);
  f.answers["BatchGetItem"] = {response(
      200,
      R"({"Responses":{"tw-state":[)"
      // good, with one bad element among good ones
      R"({"pk":{"S":")" + lf() + R"("},"sk":{"S":"r"},"name":{"S":")" + kName +
          R"("},"h":{"SS":[")" + kSha2 + R"( unit b",")" + kSha1 + R"( unit a","ZZ not hex",")" +
          kSha1 + R"("]}},)"
      // another name's reads under this name's key
      R"({"pk":{"S":")" + read_partition_key(other) + R"("},"sk":{"S":"r"},"name":{"S":"s3://x/y"},"h":{"SS":[")" +
          kSha1 + R"( u"]}},)"
      // more than kMaxReads
      R"({"pk":{"S":")" + read_partition_key(third) + R"("},"sk":{"S":"r"},"name":{"S":")" + third +
          R"("},"h":{"SS":[)" + huge + R"(]}},)"
      // wrong type
      R"({"pk":{"S":")" + read_partition_key(fourth) + R"("},"sk":{"S":"r"},"name":{"S":")" + fourth +
          R"("},"h":{"S":")" + kSha1 + R"( u"}},)"
      // a key not asked for
      R"({"pk":{"S":"ig#lf#0000"},"sk":{"S":"r"},"name":{"S":"s3://z"},"h":{"SS":[")" + kSha1 +
          R"( u"]}})"
      R"(]},"UnprocessedKeys":{}})")};
  std::map<std::string, std::vector<SharedRead>> out;
  REQUIRE(f.ledger->reads({kName, other, third, fourth, fifth, kName}, out).ok);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].first == "BatchGetItem");
  const std::string& body = f.sent[0].second;
  CHECK(body.find(R"("ConsistentRead":true)") != std::string::npos);
  CHECK(body.find(R"("ProjectionExpression":"#p0, #p1, #p2, #p3","ExpressionAttributeNames":{"#p0":"pk","#p1":"sk","#p2":"name","#p3":"h"})") !=
        std::string::npos);
  CHECK(body.find(R"({"pk":{"S":")" + lf() + R"("},"sk":{"S":"r"}})") != std::string::npos);
  CHECK(body.find(R"({"pk":{"S":")" + read_partition_key(fifth) + R"("},"sk":{"S":"r"}})") !=
        std::string::npos);
  // Five distinct names, each asked once.
  size_t keys = 0;
  for (size_t at = body.find(R"("sk":{"S":"r"})"); at != std::string::npos;
       at = body.find(R"("sk":{"S":"r"})", at + 1))
    ++keys;
  CHECK(keys == 5);
  REQUIRE(out.size() == 1);
  REQUIRE(out[kName].size() == 2);
  CHECK(out[kName][0].sha256 == kSha1);
  CHECK(out[kName][0].unit == "unit a");
  CHECK(out[kName][1].sha256 == kSha2);
  CHECK(out[kName][1].unit == "unit b");
  // The bad elements (one line for two), the wrong name, the huge set, the wrong type, the key
  // not asked for.
  CHECK(f.ledger->counters().ignored == 5);

  // No names: no request.
  REQUIRE(f.ledger->reads({}, out).ok);
  CHECK(out.empty());
  CHECK(f.sent.size() == 1);

  f.answers["BatchGetItem"] = {response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"no"})")};
  SharedStatus s = f.ledger->reads({kName}, out);
  CHECK_FALSE(s.ok);
  CHECK(s.message.find("DynamoDB table tw-state") != std::string::npos);
  CHECK(s.message.find("BatchGetItem of the reads of 1 log files (the first " +
                       std::string(kName)) != std::string::npos);
  CHECK(s.message.find("AccessDeniedException") != std::string::npos);
}

TEST_CASE("Shared integrity ledger claim_backfill: a conditional put; refused: the holder's lease") {
  Fixture f;
  bool won = false;
  int64_t held = 0;
  REQUIRE(f.ledger->claim_backfill(kName, kNow, kNow + 60000, won, held).ok);
  CHECK(won);
  CHECK(held == kNow + 60000);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].first == "PutItem");
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","Item":{"expires_at":{"N":")" + std::to_string(kTtl) +
            R"("},"name":{"S":")" + kName + R"("},"pk":{"S":")" + lf() +
            R"("},"sk":{"S":"b"},"until":{"N":")" + std::to_string(kNow + 60000) +
            R"("}},"ConditionExpression":"attribute_not_exists(#pk) OR #u < :now",)"
            R"("ExpressionAttributeNames":{"#pk":"pk","#u":"until"},)"
            R"("ExpressionAttributeValues":{":now":{"N":")" + std::to_string(kNow) + R"("}}})");

  // Held by another agent: lost, with its lease read back consistently.
  f.sent.clear();
  f.answers["PutItem"] = {response(400, kCondFailed)};
  f.answers["GetItem"] = {response(200, R"({"Item":{"until":{"N":"1714564900000"}}})")};
  REQUIRE(f.ledger->claim_backfill(kName, kNow, kNow + 60000, won, held).ok);
  CHECK_FALSE(won);
  CHECK(held == 1714564900000);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[1].second == R"({"TableName":"tw-state","Key":{"pk":{"S":")" + lf() +
                                R"("},"sk":{"S":"b"}},"ConsistentRead":true})");

  // The holder's item vanished between the refusal and the read: tried once more, won.
  f.sent.clear();
  f.answers["PutItem"] = {response(400, kCondFailed), response(200, "{}")};
  f.answers["GetItem"] = {response(200, "{}")};
  REQUIRE(f.ledger->claim_backfill(kName, kNow, kNow + 60000, won, held).ok);
  CHECK(won);
  CHECK(f.sent.size() == 3);

  // Vanished twice: a failure, named.
  f.answers["PutItem"] = {response(400, kCondFailed)};
  SharedStatus s = f.ledger->claim_backfill(kName, kNow, kNow + 60000, won, held);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(won);
  CHECK(s.message.find("the backfill claim of " + std::string(kName)) != std::string::npos);

  // A holder whose lease is not a number: ignored, a failure (retried by the stage).
  f.answers["GetItem"] = {response(200, R"({"Item":{"until":{"S":"soon"}}})")};
  const uint64_t ignored = f.ledger->counters().ignored;
  s = f.ledger->claim_backfill(kName, kNow, kNow + 60000, won, held);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(won);
  CHECK(f.ledger->counters().ignored == ignored + 1);

  // A lease that ends before it starts is refused unsent.
  f.sent.clear();
  CHECK_FALSE(f.ledger->claim_backfill(kName, kNow, kNow, won, held).ok);
  CHECK(f.sent.empty());
}

TEST_CASE("Shared integrity ledger add_digest: the digest item, then the head if it is newer") {
  Fixture f;
  REQUIRE(f.ledger->add_digest(head(1714564800), known(1714564800), kNow).ok);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].first == "PutItem");
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","Item":{"chain":{"S":")" + std::string(kChain) +
            R"("},"end":{"N":"1714564800"},"expires_at":{"N":")" + std::to_string(kTtl) +
            R"("},"key":{"S":"AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz"},"pk":{"S":")" +
            dpk() + R"("},"sha":{"S":")" + kSha1 +
            R"("},"sig":{"S":"0a1b"},"sk":{"S":"d#00000000001714564800"},"start":{"N":"1714561200"},"starting":{"BOOL":false}}})");
  CHECK(f.sent[1].first == "UpdateItem");
  CHECK(f.sent[1].second ==
        R"({"TableName":"tw-state","Key":{"pk":{"S":"ig#chains"},"sk":{"S":")" + head_sk() +
            R"("}},"UpdateExpression":"SET #c = :c, #b = :b, #a = :a, #r = :r, #f = :f, #le = :le, #lk = :lk, #ar = :ar, #t = :t",)"
            R"("ConditionExpression":"attribute_not_exists(#le) OR #le < :le",)"
            R"("ExpressionAttributeNames":{"#a":"account","#ar":"arrival","#b":"bucket","#c":"chain","#f":"backfill","#le":"last_end","#lk":"last_key","#r":"region","#t":"expires_at"},)"
            R"("ExpressionAttributeValues":{":a":{"S":"111122223333"},":ar":{"N":")" +
            std::to_string(kNow) + R"("},":b":{"S":"trail"},":c":{"S":")" + kChain +
            R"("},":f":{"BOOL":false},":le":{"N":"1714564800"},":lk":{"S":"AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz"},":r":{"S":"eu-west-1"},":t":{"N":")" +
            std::to_string(kTtl) + R"("}},"ReturnValues":"NONE"})");
  // An older digest: the head's condition refuses, which is fine.
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  CHECK(f.ledger->add_digest(head(1714561200), known(1714561200), kNow).ok);
  // The digest item not written: the head is not moved to it.
  f.sent.clear();
  f.answers["PutItem"] = {response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"bad"})")};
  SharedStatus s = f.ledger->add_digest(head(1714568400), known(1714568400), kNow);
  CHECK_FALSE(s.ok);
  CHECK(f.sent.size() == 1);
  CHECK(s.message.find("PutItem of digest AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz of chain " +
                       std::string(kChain)) != std::string::npos);
  CHECK(s.message.find("tw-state") != std::string::npos);
}

TEST_CASE("Shared integrity ledger heads: one Query of every page; heads not of their key ignored") {
  Fixture f;
  const std::string good =
      R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + head_sk() + R"("},"chain":{"S":")" + kChain +
      R"("},"bucket":{"S":"trail"},"account":{"S":"1"},"region":{"S":"eu-west-1"},"backfill":{"BOOL":true},"last_end":{"N":"1714564800"},"last_key":{"S":"k"},"arrival":{"N":"5"},"alerted_end":{"N":"1714561200"}})";
  const std::string moved =  // a chain's head under another chain's key
      R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + chain_head_sort_key("x|y") + R"("},"chain":{"S":")" +
      kChain + R"("},"bucket":{"S":"trail"},"account":{"S":"1"},"region":{"S":"r"},"backfill":{"BOOL":false},"last_end":{"N":"1"},"last_key":{"S":"k"},"arrival":{"N":"5"}})";
  const std::string typed =  // last_end a string
      R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + chain_head_sort_key("a|b") +
      R"("},"chain":{"S":"a|b"},"bucket":{"S":"a"},"account":{"S":"1"},"region":{"S":"r"},"backfill":{"BOOL":false},"last_end":{"S":"1"},"last_key":{"S":"k"},"arrival":{"N":"5"}})";
  const std::string negative =
      R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + chain_head_sort_key("c|d") +
      R"("},"chain":{"S":"c|d"},"bucket":{"S":"c"},"account":{"S":"1"},"region":{"S":"r"},"backfill":{"BOOL":false},"last_end":{"N":"-5"},"last_key":{"S":"k"},"arrival":{"N":"5"}})";
  const std::string fresh =  // no alerted_end yet
      R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + chain_head_sort_key("e|f") +
      R"("},"chain":{"S":"e|f"},"bucket":{"S":"e"},"account":{"S":"1"},"region":{"S":"r"},"backfill":{"BOOL":false},"last_end":{"N":"7"},"last_key":{"S":"k"},"arrival":{"N":"5"}})";
  f.answers["Query"] = {
      response(200, R"({"Items":[)" + good + "," + moved + R"(],"LastEvaluatedKey":{"pk":{"S":"ig#chains"},"sk":{"S":"c#1"}}})"),
      response(200, R"({"Items":[)" + typed + "," + negative + "," + fresh + "]}")};
  std::vector<SharedChainHead> out;
  REQUIRE(f.ledger->heads(out).ok);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","KeyConditionExpression":"#pk = :pk","ExpressionAttributeNames":{"#pk":"pk"},"ExpressionAttributeValues":{":pk":{"S":"ig#chains"}},"ConsistentRead":true})");
  CHECK(f.sent[1].second.find(R"("ExclusiveStartKey":{"pk":{"S":"ig#chains"},"sk":{"S":"c#1"}})") !=
        std::string::npos);
  REQUIRE(out.size() == 2);
  CHECK(out[0].chain == kChain);
  CHECK(out[0].backfill);
  CHECK(out[0].last_end == 1714564800);
  CHECK(out[0].arrival_ms == 5);
  CHECK(out[0].alerted_end == 1714561200);
  CHECK(out[1].chain == "e|f");
  CHECK(out[1].alerted_end == 0);
  CHECK(f.ledger->counters().ignored == 3);

  f.answers["Query"] = {response(500, R"({"__type":"InternalServerError","message":"x"})")};
  SharedStatus s = f.ledger->heads(out);
  CHECK_FALSE(s.ok);
  CHECK(s.message.find("DynamoDB table tw-state): Query of the chain heads") != std::string::npos);
}

TEST_CASE("Shared integrity ledger claim_stopped: won by the first call for that head only") {
  Fixture f;
  bool won = false;
  REQUIRE(f.ledger->claim_stopped(kChain, 1714564800, kNow, won).ok);
  CHECK(won);
  REQUIRE(f.sent.size() == 1);
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","Key":{"pk":{"S":"ig#chains"},"sk":{"S":")" + head_sk() +
            R"j("}},"UpdateExpression":"SET #ae = :e","ConditionExpression":"#le = :e AND (attribute_not_exists(#ae) OR #ae < :e)",)j"
            R"("ExpressionAttributeNames":{"#ae":"alerted_end","#le":"last_end"},"ExpressionAttributeValues":{":e":{"N":"1714564800"}},"ReturnValues":"NONE"})");
  // Refused with a head there: lost. Refused with no head at all: nobody else can claim it.
  f.answers["UpdateItem"] = {response(400, kCondFailed)};
  f.answers["GetItem"] = {response(200, R"({"Item":{"pk":{"S":"ig#chains"},"sk":{"S":")" +
                                            head_sk() + R"("}}})")};
  REQUIRE(f.ledger->claim_stopped(kChain, 1714564800, kNow, won).ok);
  CHECK_FALSE(won);
  CHECK(f.sent.back().first == "GetItem");
  f.answers["GetItem"] = {response(200, "{}")};
  REQUIRE(f.ledger->claim_stopped(kChain, 1714564800, kNow, won).ok);
  CHECK(won);
  f.answers["UpdateItem"] = {response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"gone"})")};
  SharedStatus s = f.ledger->claim_stopped(kChain, 1714564800, kNow, won);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(won);
  CHECK(s.message.find("UpdateItem of the delivery-stopped claim of chain \"" +
                      std::string(kChain)) != std::string::npos);
}

TEST_CASE("Shared integrity ledger digest and neighbours: consistent reads; foreign items ignored") {
  Fixture f;
  f.answers["GetItem"] = {response(200, R"({"Item":)" + digest_item(kChain, 1714564800, kSha1) + "}"),
                          response(200, R"({"Item":)" + digest_item("x|y", 1714564800, kSha1) + "}"),
                          response(200, R"({"Item":)" + digest_item(kChain, 1714564800, "XYZ") + "}"),
                          response(200, "{}")};
  std::optional<KnownDigest> d;
  REQUIRE(f.ledger->digest(kChain, 1714564800, d).ok);
  CHECK(f.sent[0].second == R"({"TableName":"tw-state","Key":{"pk":{"S":")" + dpk() +
                                R"("},"sk":{"S":"d#00000000001714564800"}},"ConsistentRead":true})");
  REQUIRE(d);
  CHECK(d->key == "k1714564800");
  CHECK(d->sha256 == kSha1);
  CHECK(d->signature == "0a");
  CHECK(d->start == 1714561200);
  CHECK(d->end == 1714564800);
  CHECK_FALSE(d->starting);
  REQUIRE(f.ledger->digest(kChain, 1714564800, d).ok);  // another chain's digest
  CHECK_FALSE(d);
  REQUIRE(f.ledger->digest(kChain, 1714564800, d).ok);  // bad hex
  CHECK_FALSE(d);
  REQUIRE(f.ledger->digest(kChain, 1714564800, d).ok);  // none
  CHECK_FALSE(d);
  CHECK(f.ledger->counters().ignored == 2);

  f.sent.clear();
  // One item each (Limit 1), the first page only even when more follow; an answer out of the
  // asked range is ignored.
  f.answers["Query"] = {
      response(200, R"({"Items":[)" + digest_item(kChain, 1714561200, kSha1) +
                        R"(],"LastEvaluatedKey":{"pk":{"S":"x"},"sk":{"S":"y"}}})"),
      response(200, R"({"Items":[)" + digest_item(kChain, 1714561200, kSha2) + "]}")};
  std::optional<KnownDigest> before, after;
  REQUIRE(f.ledger->neighbours(kChain, 1714564800, before, after).ok);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].second ==
        R"({"TableName":"tw-state","KeyConditionExpression":"#pk = :pk AND #sk < :sk","ExpressionAttributeNames":{"#pk":"pk","#sk":"sk"},"ExpressionAttributeValues":{":pk":{"S":")" +
            dpk() + R"("},":sk":{"S":"d#00000000001714564800"}},"ConsistentRead":true,"ScanIndexForward":false,"Limit":1})");
  CHECK(f.sent[1].second ==
        R"({"TableName":"tw-state","KeyConditionExpression":"#pk = :pk AND #sk > :sk","ExpressionAttributeNames":{"#pk":"pk","#sk":"sk"},"ExpressionAttributeValues":{":pk":{"S":")" +
            dpk() + R"("},":sk":{"S":"d#00000000001714564800"}},"ConsistentRead":true,"Limit":1})");
  REQUIRE(before);
  CHECK(before->end == 1714561200);
  CHECK_FALSE(after);  // 1714561200 is not after 1714564800
  CHECK(f.ledger->counters().ignored == 3);

  f.answers["GetItem"] = {response(400, R"({"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"no"})")};
  SharedStatus s = f.ledger->digest(kChain, 1714564800, d);
  CHECK_FALSE(s.ok);
  CHECK(s.message.find("GetItem of the digest ending 1714564800 of chain " + std::string(kChain)) !=
        std::string::npos);
}

TEST_CASE("Shared integrity ledger table check: the alarm store's check, named for the ledger") {
  Fixture f;
  f.answers["DescribeTable"] = {response(
      200, R"({"Table":{"TableStatus":"ACTIVE","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],)"
           R"("KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}})"),
      response(200, R"({"Table":{"TableStatus":"CREATING","KeySchema":[]}})")};
  std::vector<std::string> warnings;
  bool retryable = true;
  SharedStatus s = f.ledger->check_table(warnings, retryable);
  CHECK_FALSE(s.ok);
  CHECK_FALSE(retryable);
  CHECK(s.message.find("shared integrity ledger: DynamoDB table tw-state in region eu-west-1 has "
                       "the key schema [id HASH S]; the shared integrity ledger needs [pk HASH S, "
                       "sk RANGE S]") != std::string::npos);
  s = f.ledger->check_table(warnings, retryable);
  CHECK_FALSE(s.ok);
  CHECK(retryable);
  CHECK(f.ledger->counters().failures == 2);
}

// Found by tests/fuzz/dynamodb_ledger_fuzz.cpp: text from the table logged unescaped (a chain
// head's chain, a digest item's sort key) could forge log lines; a coverage "from" of 0 was
// returned as ok.
TEST_CASE("Shared integrity ledger: the table's text cannot forge log lines; from 0 is not believed") {
  Fixture f;
  aws::test::LogCapture log;
  const std::string chain = "e\nWARN forged chain";
  f.answers["Query"] = {response(
      200, R"({"Items":[{"pk":{"S":"ig#chains"},"sk":{"S":")" + chain_head_sort_key(chain) +
               R"("},"chain":{"S":"e\nWARN forged chain"},"bucket":{"S":"e"}}]})")};
  std::vector<SharedChainHead> out;
  REQUIRE(f.ledger->heads(out).ok);
  CHECK(out.empty());
  f.answers["GetItem"] = {response(
      200, R"({"Item":{"chain":{"S":")" + std::string(kChain) +
               R"("},"sk":{"S":"d#1\nWARN forged key"}}})")};
  std::optional<KnownDigest> d;
  REQUIRE(f.ledger->digest(kChain, 1714564800, d).ok);
  CHECK_FALSE(d);
  CHECK(f.ledger->counters().ignored == 2);
  const std::string text = log.text();
  CHECK(text.find("ignored invalid chain head") != std::string::npos);
  CHECK(text.find("ignored invalid digest item") != std::string::npos);
  CHECK(text.find("\nWARN forged") == std::string::npos);
  CHECK(text.find(R"(e\nWARN forged chain)") != std::string::npos);  // shown escaped

  int64_t from = -1;
  f.answers["UpdateItem"] = {response(200, R"({"Attributes":{"from":{"N":"0"},"seen":{"N":"5"}}})")};
  SharedStatus s = f.ledger->coverage(kNow, 3600000, from);
  CHECK_FALSE(s.ok);
  CHECK(from == 0);
  CHECK(s.message.find("the agents' coverage") != std::string::npos);
}
