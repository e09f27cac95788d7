// libFuzzer target: the shared integrity ledger (agent/integrity/dynamodb_integrity_ledger.h)
// reading DynamoDB's answers, which anyone who can write to the shared table, or a broken or
// hostile endpoint, chooses. The answers reach the ledger through the real DynamoDbClient
// (agent/store/dynamodb_client.h: signing, retries, the JSON parsers) over a fake HttpClient:
// no network, no sleeping (options.sleep a no-op, max_attempts 2).
//
// Input: byte 0 picks the call (mod 10): add_read, list_file, reads, claim_backfill,
// add_digest, digest, neighbours, heads, claim_stopped, coverage. Byte 1 picks how the first
// four HTTP requests are answered, two bits each (request i: bits 2i..2i+1; later requests: 0):
//   0  200 with the next body;  1  400 ConditionalCheckFailedException (no body used);
//   2  500 with the next body;  3  400 with the next body (any error answer).
// The rest: the bodies, separated by 0x1e (ASCII RS, never in a JSON text), one per request
// in turn. A request after the last body gets no answer (a transport error).
//
// What must hold, else abort():
//   - SharedRead: sha256 64 lowercase hex, unit bounded; at most kMaxReads per name; reads()
//     gives only names it was asked for, never an empty list;
//   - SharedListing: sha256 64 lowercase hex, text fields bounded, 0 <= digest_start <= end;
//   - KnownDigest: sha256 hex, key and signature bounded, 0 <= start <= end; digest() gives
//     the end asked; neighbours() one that ends before / after the end asked;
//   - heads: chain non-empty and bounded, every field bounded, times not negative;
//   - claim_backfill won: held until the lease asked; lost: a time not negative;
//   - coverage ok: from_ms > 0 and not far ahead of now;
//   - a failure names the table and the item, in printable ASCII; !ok never says won;
//   - counters: requests are the HTTP requests sent; a failed call counts one failure, an ok
//     call none;
//   - every log line written meanwhile is free of control characters (the table's text
//     cannot forge log lines).
//
// TW_DDB_LEDGER_FUZZ_SEEDS=<dir>: writes the seed inputs (realistic answers for every call,
// from tests/unit/integrity/dynamodb_integrity_ledger_test.cpp, and a few hostile ones) into
// <dir> at start-up (how tests/fuzz/corpus/dynamodb_ledger was made).
#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/integrity/dynamodb_integrity_ledger.h"
#include "tests/fuzz/fuzz_files.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

namespace {

constexpr const char* kRoute = "POST https://dynamodb.eu-west-1.amazonaws.com/";
constexpr const char* kTable = "tw-state";
constexpr const char* kCondFailed =
    R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"})";
constexpr const char* kName = "s3://trail/AWSLogs/1/CloudTrail/eu-west-1/x.json.gz";
constexpr const char* kOther = "s3://trail/other.json.gz";
constexpr const char* kThird = "s3://trail/third.json.gz";
constexpr const char* kChain = "trail|AWSLogs/1/CloudTrail-Digest/eu-west-1";
constexpr int64_t kNow = 1714564800123;  // ms
constexpr int64_t kEnd = 1714564800;     // s
constexpr int64_t kLease = kNow + 60000;
constexpr int64_t kStale = 3600000;
constexpr size_t kMaxText = 4096;  // the ledger's bound on a text read back
constexpr char kSeparator = '\x1e';
constexpr int kCalls = 10;

// Log lines written while a call runs: each must be free of control characters.
class CheckingSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) std::abort();
    }
  }
  void flush_() override {}
};

bool hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void check(bool promise) {
  if (!promise) std::abort();
}

void check_reads(const std::vector<SharedRead>& reads) {
  check(reads.size() <= kMaxReads);
  for (const SharedRead& r : reads) {
    check(hex64(r.sha256));
    check(r.unit.size() <= kMaxText);
  }
}

void check_listing(const SharedListing& l) {
  check(hex64(l.sha256));
  for (const std::string* s : {&l.digest_key, &l.chain, &l.account, &l.region, &l.fingerprint})
    check(s->size() <= kMaxText);
  check(0 <= l.digest_start && l.digest_start <= l.digest_end);
}

void check_digest(const KnownDigest& d) {
  check(hex64(d.sha256));
  check(d.key.size() <= kMaxText && d.signature.size() <= kMaxText);
  check(0 <= d.start && d.start <= d.end);
}

void check_head(const SharedChainHead& h) {
  check(!h.chain.empty());
  for (const std::string* s : {&h.chain, &h.bucket, &h.account, &h.region, &h.last_key})
    check(s->size() <= kMaxText);
  check(h.last_end >= 0 && h.arrival_ms >= 0 && h.alerted_end >= 0);
}

// A failure names the table and the item, printable (it goes into logs and metrics).
void check_failure(const SharedStatus& s, std::string_view item) {
  check(s.message.find(std::string("DynamoDB table ") + kTable) != std::string::npos);
  check(s.message.find(item) != std::string::npos);
  check(s.message.size() <= 8192);
  for (char c : s.message) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u < 0x7f);
  }
}

SharedChainHead head() {
  SharedChainHead h;
  h.chain = kChain;
  h.bucket = "trail";
  h.account = "111122223333";
  h.region = "eu-west-1";
  h.last_end = kEnd;
  h.last_key = "AWSLogs/1/CloudTrail-Digest/eu-west-1/d.json.gz";
  h.arrival_ms = kNow;
  return h;
}

SharedListing listing() {
  SharedListing l;
  l.sha256 = std::string(64, 'a');
  l.digest_key = "dk";
  l.chain = kChain;
  l.account = "111122223333";
  l.region = "eu-west-1";
  l.fingerprint = "ff";
  l.digest_start = 100;
  l.digest_end = 3700;
  return l;
}

// Runs call `which` against the answers; checks what it gives back.
void run(int which, uint8_t statuses, std::vector<std::string_view> bodies) {
  auto http = std::make_shared<aws::test::FakeHttp>();
  size_t request = 0, next_body = 0;
  http->on(kRoute, [&](const http::HttpRequest&) {
    const int how = request < 4 ? (statuses >> (2 * request)) & 3 : 0;
    ++request;
    if (how == 1) return aws::test::response(400, kCondFailed);
    if (next_body >= bodies.size()) return aws::test::transport_error("no more answers");
    const std::string body(bodies[next_body++]);
    return aws::test::response(how == 0 ? 200 : how == 2 ? 500 : 400, body);
  });
  store::DynamoDbClientOptions o;
  o.region = "eu-west-1";
  o.endpoint_url = "https://dynamodb.eu-west-1.amazonaws.com";
  o.max_attempts = 2;
  o.sleep = [](std::chrono::milliseconds) {};
  DynamoDbIntegrityLedger ledger(
      {kTable, std::chrono::seconds(3600), "0123456789abcdef0123456789abcdef"},
      std::make_shared<store::DynamoDbClient>(o, http,
                                              std::make_shared<aws::test::StaticCredentials>()));

  SharedStatus s;
  std::string item;  // what a failure must name
  switch (which) {
    case 0: {
      std::optional<SharedListing> listed;
      s = ledger.add_read(kName, {std::string(64, 'b'), "s3://trail/x.json.gz@v1"}, kNow, listed);
      item = kName;
      if (listed) check(s.ok), check_listing(*listed);
      break;
    }
    case 1: {
      std::vector<SharedRead> reads;
      s = ledger.list_file(kName, listing(), kNow, reads);
      item = kName;
      if (s.ok) check_reads(reads);
      break;
    }
    case 2: {
      const std::vector<std::string> names = {kName, kOther, kThird};
      std::map<std::string, std::vector<SharedRead>> out;
      s = ledger.reads(names, out);
      item = "log files";
      if (!s.ok) break;
      for (const auto& [name, reads] : out) {
        check(std::find(names.begin(), names.end(), name) != names.end());
        check(!reads.empty());
        check_reads(reads);
      }
      break;
    }
    case 3: {
      bool won = true;
      int64_t held = -1;
      s = ledger.claim_backfill(kName, kNow, kLease, won, held);
      item = kName;
      if (!s.ok) check(!won);
      if (won) check(held == kLease);
      if (s.ok && !won) check(held >= 0);
      break;
    }
    case 4: {
      s = ledger.add_digest(head(), {"d.json.gz", std::string(64, 'c'), "0a1b", kEnd - 3600, kEnd,
                                     false},
                            kNow);
      item = kChain;
      break;
    }
    case 5: {
      std::optional<KnownDigest> d;
      s = ledger.digest(kChain, kEnd, d);
      item = kChain;
      if (d) check(s.ok), check_digest(*d), check(d->end == kEnd);
      break;
    }
    case 6: {
      std::optional<KnownDigest> before, after;
      s = ledger.neighbours(kChain, kEnd, before, after);
      item = kChain;
      if (before) check_digest(*before), check(before->end < kEnd);
      if (after) check(s.ok), check_digest(*after), check(after->end > kEnd);
      break;
    }
    case 7: {
      std::vector<SharedChainHead> out;
      s = ledger.heads(out);
      item = "the chain heads";
      if (s.ok)
        for (const SharedChainHead& h : out) check_head(h);
      break;
    }
    case 8: {
      bool won = true;
      s = ledger.claim_stopped(kChain, kEnd, kNow, won);
      item = kChain;
      if (!s.ok) check(!won);
      break;
    }
    default: {
      int64_t from = -1;
      s = ledger.coverage(kNow, kStale, from);
      item = "the agents' coverage";
      if (s.ok) check(from > 0 && from <= kNow + 10 * 60'000);
      break;
    }
  }
  if (!s.ok) check_failure(s, item);
  const DynamoDbIntegrityLedgerCounters c = ledger.counters();
  check(c.requests == http->calls.size());
  check(c.failures == (s.ok ? 0u : 1u));
  check(c.retries <= c.requests);
}

std::vector<std::string_view> split(std::string_view rest) {
  std::vector<std::string_view> bodies;
  while (true) {
    const size_t at = rest.find(kSeparator);
    bodies.push_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + 1);
  }
  return bodies;
}

// ---- seeds ----------------------------------------------------------------------------------

std::string sha(char c) { return std::string(64, c); }

std::string read_item_json(const std::string& name, const std::string& extra) {
  return R"({"pk":{"S":")" + read_partition_key(name) + R"("},"sk":{"S":"r"},"name":{"S":")" +
         name + R"("})" + extra + "}";
}

std::string listing_attrs(const std::string& ls) {
  return R"(,"ls":{"S":")" + ls +
         R"("},"lk":{"S":"dk"},"lc":{"S":"c"},"la":{"S":"111122223333"},"lr":{"S":"eu-west-1"},)"
         R"("lf":{"S":"ff"},"lb":{"N":"100"},"le":{"N":"3700"})";
}

std::string reads_attr(const std::vector<std::string>& elements) {
  std::string s = R"(,"h":{"SS":[)";
  for (size_t i = 0; i < elements.size(); ++i) s += (i ? ",\"" : "\"") + elements[i] + "\"";
  return s + "]}";
}

std::string digest_json(const std::string& chain, int64_t end, const std::string& hash) {
  return fmt::format(
      R"({{"pk":{{"S":"{}"}},"sk":{{"S":"{}"}},"chain":{{"S":"{}"}},"key":{{"S":"k{}"}},"sha":{{"S":"{}"}},"sig":{{"S":"0a"}},"start":{{"N":"{}"}},"end":{{"N":"{}"}},"starting":{{"BOOL":false}}}})",
      digest_partition_key(chain), digest_sort_key(end), chain, end, hash, end - 3600, end);
}

std::string head_json(const std::string& chain, const std::string& sk, const std::string& extra) {
  return R"({"pk":{"S":"ig#chains"},"sk":{"S":")" + sk + R"("},"chain":{"S":")" + chain +
         R"("},"bucket":{"S":"trail"},"account":{"S":"1"},"region":{"S":"eu-west-1"},"backfill":{"BOOL":true},"last_end":{"N":"1714564800"},"last_key":{"S":"k"},"arrival":{"N":"5"})" +
         extra + "}";
}

void write_seeds(const char* to) {
  int n = 0;
  auto keep = [&](int call, uint8_t statuses, const std::vector<std::string>& bodies) {
    std::string input;
    input += static_cast<char>(call);
    input += static_cast<char>(statuses);
    for (size_t i = 0; i < bodies.size(); ++i) {
      if (i) input += kSeparator;
      input += bodies[i];
    }
    fuzz::write_file(fmt::format("{}/seed-{:02d}-call{}", to, n++, call), input);
  };
  const std::string e500 = R"({"__type":"InternalServerError","message":"x"})";
  const std::string denied =
      R"({"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"no"})";
  const std::string item_r = read_item_json(kName, listing_attrs(sha('b')));
  // add_read: no listing; the listing back; another name's item; bad hex; refused then GetItem.
  keep(0, 0, {"{}"});
  keep(0, 0, {R"({"Attributes":)" + item_r + "}"});
  keep(0, 0, {R"({"Attributes":)" + read_item_json("s3://other/x", listing_attrs(sha('b'))) + "}"});
  keep(0, 0, {R"({"Attributes":)" + read_item_json(kName, listing_attrs("XYZ")) + "}"});
  keep(0, 1, {R"({"Item":)" + item_r + "}"});
  keep(0, 2 | 2 << 2, {e500, e500});
  // list_file: the reads back, one bad element; too many reads.
  keep(1, 0, {R"({"Attributes":)" +
                  read_item_json(kName, listing_attrs(sha('a')) +
                                            reads_attr({sha('b') + " s3://b/k", "bad"})) +
                  "}"});
  std::vector<std::string> nine;
  for (int i = 0; i < 9; ++i) nine.push_back(fmt::format("{:064x} u{}", i + 1, i));
  keep(1, 0, {R"({"Attributes":)" + read_item_json(kName, reads_attr(nine)) + "}"});
  // reads: good, another name, too many, wrong type, not asked; unprocessed keys; an error.
  keep(2, 0,
       {R"({"Responses":{"tw-state":[)" +
        read_item_json(kName, reads_attr({sha('b') + " unit b", sha('a') + " unit a",
                                          "ZZ not hex", sha('a')})) +
        "," + R"({"pk":{"S":")" + read_partition_key(kOther) +
        R"("},"sk":{"S":"r"},"name":{"S":"s3://x/y"},"h":{"SS":[")" + sha('a') + R"( u"]}},)" +
        read_item_json(kThird, reads_attr(nine)) + "," +
        R"({"pk":{"S":"ig#lf#0000"},"sk":{"S":"r"},"name":{"S":"s3://z"},"h":{"SS":[")" +
        sha('a') + R"( u"]}})" + R"(]},"UnprocessedKeys":{}})"});
  keep(2, 0,
       {R"({"Responses":{"tw-state":[)" + read_item_json(kName, reads_attr({sha('c') + " u"})) +
            R"(]},"UnprocessedKeys":{"tw-state":{"Keys":[{"pk":{"S":")" +
            read_partition_key(kOther) + R"("},"sk":{"S":"r"}}]}}})",
        R"({"Responses":{"tw-state":[)" + read_item_json(kOther, reads_attr({sha('d') + " v"})) +
            "]}}"});
  keep(2, 3, {denied});
  // claim_backfill: won; held; gone then won; an until that is not a number.
  keep(3, 0, {"{}"});
  keep(3, 1, {R"({"Item":{"until":{"N":"1714564900000"}}})"});
  keep(3, 1 | 0 << 2 | 0 << 4, {"{}", "{}"});
  keep(3, 1, {R"({"Item":{"until":{"S":"soon"}}})"});
  // add_digest: both written; the head newer; the put refused.
  keep(4, 0, {"{}", "{}"});
  keep(4, 1 << 2, {"{}"});
  keep(4, 3, {R"({"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"bad"})"});
  // digest: found; another chain; bad hex; none; a hostile sort key.
  keep(5, 0, {R"({"Item":)" + digest_json(kChain, kEnd, sha('a')) + "}"});
  keep(5, 0, {R"({"Item":)" + digest_json("x|y", kEnd, sha('a')) + "}"});
  keep(5, 0, {R"({"Item":)" + digest_json(kChain, kEnd, "XYZ") + "}"});
  keep(5, 0, {"{}"});
  keep(5, 0, {R"({"Item":{"chain":{"S":")" + std::string(kChain) +
              R"("},"sk":{"S":"d#1\nWARN forged"}}})"});
  // neighbours: before and after; out of range; more than Limit.
  keep(6, 0,
       {R"({"Items":[)" + digest_json(kChain, kEnd - 3600, sha('a')) +
            R"(],"LastEvaluatedKey":{"pk":{"S":"x"},"sk":{"S":"y"}}})",
        R"({"Items":[)" + digest_json(kChain, kEnd + 3600, sha('b')) + "]}"});
  keep(6, 0,
       {R"({"Items":[)" + digest_json(kChain, kEnd + 3600, sha('a')) + "]}",
        R"({"Items":[)" + digest_json(kChain, kEnd - 3600, sha('b')) + "]}"});
  keep(6, 0,
       {R"({"Items":[)" + digest_json(kChain, kEnd - 3600, sha('a')) + "," +
            digest_json(kChain, kEnd - 7200, sha('a')) + "]}",
        R"({"Items":[]})"});
  // heads: two pages, good and hostile heads; a failure.
  const std::string good = head_json(kChain, chain_head_sort_key(kChain),
                                     R"(,"alerted_end":{"N":"1714561200"})");
  const std::string moved = head_json(kChain, chain_head_sort_key("x|y"), "");
  std::string neg = head_json("c|d", chain_head_sort_key("c|d"), "");  // last_end negative
  neg.replace(neg.find("1714564800"), 10, "-5");
  // A chain with a line break (JSON-escaped in the answer) under its own key.
  const std::string forged = head_json(R"(e\nWARN forged)", chain_head_sort_key("e\nWARN forged"),
                                       R"(,"alerted_end":{"S":"x"})");
  keep(7, 0,
       {R"({"Items":[)" + good + "," + moved +
            R"(],"LastEvaluatedKey":{"pk":{"S":"ig#chains"},"sk":{"S":"c#1"}}})",
        R"({"Items":[)" + neg + "," + forged + "]}"});
  keep(7, 2 | 2 << 2, {e500, e500});
  // claim_stopped: won; lost; not found.
  keep(8, 0, {"{}"});
  keep(8, 1, {});
  keep(8, 3,
       {R"({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"gone"})"});
  // coverage: kept; stale and started again; from in the future; from 0; refused twice.
  keep(9, 0, {R"({"Attributes":{"from":{"N":"1000"},"seen":{"N":"5000"}}})"});
  keep(9, 1, {R"({"Attributes":{"from":{"N":"1714564800123"}}})"});
  keep(9, 0, {R"({"Attributes":{"from":{"N":"1714568400123"}}})"});
  keep(9, 0, {R"({"Attributes":{"from":{"N":"0"},"seen":{"N":"5000"}}})"});
  keep(9, 1 | 1 << 2 | 1 << 4 | 1 << 6, {});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto logger = std::make_shared<spdlog::logger>("fuzz", std::make_shared<CheckingSink>());
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  if (const char* to = std::getenv("TW_DDB_LEDGER_FUZZ_SEEDS")) write_seeds(to);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  run(data[0] % kCalls, data[1], split(rest));
  return 0;
}
