// dynamodb_store_tool: drives the DynamoDB alarm store (the real DynamoDbClient on libcurl) for
// test_dynamodb_store.py, against dynalite or a stand-in server.
//
//   dynamodb_store_tool COMMAND --endpoint URL --table T [options]
//     check                              DescribeTable / DescribeTimeToLive start-up check
//     add --records N [--batch B] [--period-start S] [--period P] [--id-prefix X] [--value V]
//         [--unit U] [--max-units M]
//                                        N records of one period, count 1 and value V (1) each,
//                                        B records per add_batch() (B deltas merged to one write);
//                                        the k-th add_batch() is unit "U-k" (U default "u"), so
//                                        running it again repeats the same units
//     item [--period-start S]            GetItem of the period item: its size as DynamoDB bills
//                                        it ("bytes"), unit digests ("units"), "count"
//     transition --from STATE --from-version V --to STATE
//     load [--from-period S]
//     batch-get --keys N [--key-prefix P] [--projection a,b,...]
//                                        DynamoDbClient::batch_get_item of the N keys
//                                        {pk: "P<i>", sk: "s"} (P default "bg#"), each listed
//                                        twice: "items" read, "distinct" pks among them,
//                                        "intact" items whose "n" is the number in their pk,
//                                        "batch_requests" HTTP requests sent
//   The shared integrity ledger (agent/integrity/dynamodb_integrity_ledger.h), times epoch ms
//   (--now, default 1714564800000), ends epoch seconds:
//     ig-check                           its table check
//     ig-add-read --name N --contents K [--content-prefix P] [--unit U]
//                                        add_read of K contents, the k-th SHA-256("P-k") (P
//                                        default "c"), unit "U-k"; "added" calls, "listed"
//                                        the listing's SHA-256 the last call gave back
//     ig-list --name N --listed L [--digest D]  list_file with the listed SHA-256("L"):
//                                        "reads" [{"sha256","unit"}] given back
//     ig-coverage --stale MS             coverage(now, MS): "from"
//     ig-reads --name N                  reads(): "reads" [{"sha256","unit"}]
//     ig-claim --name N --lease MS [--agent-id A]  claim_backfill until MS (as agent A):
//                                        "won", "held_until"
//     ig-add-digest --chain C --ends E1,E2,...
//                                        add_digest of one digest per end, in that order
//     ig-heads                           heads(): "heads" [{"chain","last_end",...}]
//     ig-digest --chain C --end E        digest(): "found", "end", "sha256"
//     ig-neighbours --chain C --end E    neighbours(): "before", "after" (ends, 0: none)
//     ig-claim-stopped --chain C --end E claim_stopped(): "won"
//   common: --alarm A (default "cis-4.9") --dims D (default "user=alice") --region R
//           (default us-east-1) --max-attempts N (default 6) --backoff-ms MS (default 20)
//           --barrier: wait for one line on standard input before the first store request
//           (so that several processes start their requests together)
//
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (dynalite checks none).
// Prints one JSON object on stdout: {"ok":..,"retryable":..,"message":..,"requests":N,
// "retries":N,"updates":N, ...command fields} (ig-*: "requests", "retries", "failures",
// "ignored" of the ledger). Exit status: 0 ok, 1 store failure, 2 usage.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/common/logging.h"
#include "agent/aws/sigv4.h"
#include "agent/http/curl_http_client.h"
#include "agent/integrity/dynamodb_integrity_ledger.h"
#include "agent/store/dynamodb_alarm_store.h"

using namespace trailwarden;
using namespace trailwarden::store;

namespace {

class EnvCredentials : public aws::CredentialsSource {
 public:
  bool get(aws::Credentials& out, std::string& error) override {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !secret) {
      error = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set";
      return false;
    }
    out.access_key_id = id;
    out.secret_access_key = secret;
    return true;
  }
  void invalidate() override {}
};

int usage(const std::string& why) {
  std::fprintf(stderr, "dynamodb_store_tool: %s\n(see the comment at the top of the source)\n",
               why.c_str());
  return 2;
}

// The ig-* commands: the shared integrity ledger over `client`.
int ledger_command(const std::string& command, std::map<std::string, std::string>& opt,
                   const std::shared_ptr<DynamoDbClient>& client, bool barrier) {
  using namespace trailwarden::integrity;
  DynamoDbIntegrityLedger ledger({opt["table"], std::chrono::seconds(3600), opt["agent-id"]},
                                 client);
  if (barrier) {
    std::string line;
    std::getline(std::cin, line);
  }
  const int64_t now = std::stoll(opt["now"]);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  SharedStatus s;
  bool retryable = false;
  auto ends = [](const std::string& list) {
    std::vector<int64_t> v;
    for (size_t at = 0; !list.empty() && at != std::string::npos;) {
      const size_t comma = list.find(',', at);
      v.push_back(std::stoll(list.substr(at, comma - at)));
      at = comma == std::string::npos ? comma : comma + 1;
    }
    return v;
  };
  const std::string chain = opt["chain"];
  if (command == "ig-check") {
    std::vector<std::string> warnings;
    s = ledger.check_table(warnings, retryable);
    w.key("warnings").begin_array();
    for (const std::string& m : warnings) w.value(std::string_view(m));
    w.end_array();
  } else if (command == "ig-add-read") {
    int64_t added = 0;
    std::string listed;  // the listing's SHA-256 the last add_read gave back ("": none)
    for (int64_t k = 0; k < std::stoll(opt["contents"]) && s.ok; ++k) {
      SharedRead r{aws::sha256_hex(opt["content-prefix"] + "-" + std::to_string(k)),
                   opt["unit"] + "-" + std::to_string(k)};
      std::optional<SharedListing> l;
      s = ledger.add_read(opt["name"], r, now, l);
      added += s.ok;
      listed = l ? l->sha256 : "";
    }
    w.field("added", added);
    w.field("listed", std::string_view(listed));
  } else if (command == "ig-list") {
    SharedListing l;
    l.sha256 = aws::sha256_hex(opt["listed"]);
    l.digest_key = opt["digest"];
    l.chain = chain;
    l.account = "111122223333";
    l.region = "eu-west-1";
    l.fingerprint = std::string(32, '0');
    l.digest_start = now / 1000 - 3600;
    l.digest_end = now / 1000;
    std::vector<SharedRead> reads;
    s = ledger.list_file(opt["name"], l, now, reads);
    w.key("reads").begin_array();
    for (const SharedRead& r : reads)
      w.begin_object().field("sha256", std::string_view(r.sha256)).field("unit", std::string_view(r.unit)).end_object();
    w.end_array();
  } else if (command == "ig-coverage") {
    int64_t from = 0;
    s = ledger.coverage(now, std::stoll(opt["stale"]), from);
    w.field("from", from);
  } else if (command == "ig-reads") {
    std::map<std::string, std::vector<SharedRead>> reads;
    s = ledger.reads({opt["name"]}, reads);
    w.key("reads").begin_array();
    for (const SharedRead& r : reads[opt["name"]])
      w.begin_object().field("sha256", std::string_view(r.sha256)).field("unit", std::string_view(r.unit)).end_object();
    w.end_array();
  } else if (command == "ig-claim") {
    bool won = false;
    int64_t held = 0;
    s = ledger.claim_backfill(opt["name"], now, std::stoll(opt["lease"]), won, held);
    w.field("won", won).field("held_until", held);
  } else if (command == "ig-add-digest") {
    for (int64_t end : ends(opt["ends"])) {
      SharedChainHead h;
      h.chain = chain;
      h.bucket = "trail";
      h.account = "111122223333";
      h.region = "us-east-1";
      h.last_end = end;
      h.last_key = "digest-" + std::to_string(end);
      h.arrival_ms = now;
      KnownDigest d{h.last_key, aws::sha256_hex(h.last_key), "00ff", end - 3600, end, false};
      s = ledger.add_digest(h, d, now);
      if (!s.ok) break;
    }
  } else if (command == "ig-heads") {
    std::vector<SharedChainHead> heads;
    s = ledger.heads(heads);
    w.key("heads").begin_array();
    for (const SharedChainHead& h : heads)
      w.begin_object()
          .field("chain", std::string_view(h.chain))
          .field("last_end", h.last_end)
          .field("last_key", std::string_view(h.last_key))
          .field("alerted_end", h.alerted_end)
          .end_object();
    w.end_array();
  } else if (command == "ig-digest") {
    std::optional<KnownDigest> d;
    s = ledger.digest(chain, std::stoll(opt["end"]), d);
    w.field("found", d.has_value()).field("end", d ? d->end : 0);
    w.field("sha256", std::string_view(d ? d->sha256 : ""));
  } else if (command == "ig-neighbours") {
    std::optional<KnownDigest> before, after;
    s = ledger.neighbours(chain, std::stoll(opt["end"]), before, after);
    w.field("before", before ? before->end : 0).field("after", after ? after->end : 0);
  } else if (command == "ig-claim-stopped") {
    bool won = false;
    s = ledger.claim_stopped(chain, std::stoll(opt["end"]), now, won);
    w.field("won", won);
  } else {
    return usage("unknown command " + command);
  }
  const DynamoDbIntegrityLedgerCounters c = ledger.counters();
  w.field("ok", s.ok).field("retryable", retryable).field("message", std::string_view(s.message));
  w.field("requests", c.requests).field("retries", c.retries).field("failures", c.failures);
  w.field("ignored", c.ignored);
  w.end_object();
  std::printf("%s\n", out.c_str());
  return s.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) return usage("no command");
  const std::string command = argv[1];
  std::map<std::string, std::string> opt = {
      {"alarm", "cis-4.9"}, {"dims", "user=alice"}, {"region", "us-east-1"},
      {"max-attempts", "6"}, {"backoff-ms", "20"}, {"records", "1"}, {"batch", "1"},
      {"period-start", "1714564800"}, {"period", "300"}, {"id-prefix", "e"},
      {"from-period", "0"}, {"value", "1"}, {"from", ""}, {"from-version", "0"}, {"to", ""},
      {"unit", "u"}, {"max-units", "1000"}, {"keys", "0"}, {"key-prefix", "bg#"},
      {"projection", ""}, {"now", "1714564800000"}, {"contents", "1"}, {"content-prefix", "c"},
      {"name", "s3://trail/AWSLogs/1/CloudTrail/us-east-1/f.json.gz"}, {"lease", "0"},
      {"chain", "trail|AWSLogs/1/CloudTrail-Digest/us-east-1"}, {"ends", ""}, {"end", "0"},
      {"listed", "l"}, {"digest", "AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz"},
      {"stale", "3600000"}, {"agent-id", ""}};
  bool barrier = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--barrier") {
      barrier = true;
      continue;
    }
    if (!a.starts_with("--") || i + 1 >= argc) return usage("bad argument " + a);
    opt[a.substr(2)] = argv[++i];
  }
  if (opt["endpoint"].empty() || opt["table"].empty()) return usage("--endpoint and --table are required");
  setup_logging("warn");

  DynamoDbClientOptions co;
  co.region = opt["region"];
  co.endpoint_url = opt["endpoint"];
  co.max_attempts = std::stoi(opt["max-attempts"]);
  co.backoff_base = std::chrono::milliseconds(std::stoi(opt["backoff-ms"]));
  co.request_timeout = std::chrono::milliseconds(10000);
  auto client = std::make_shared<DynamoDbClient>(co, std::make_shared<http::CurlHttpClient>(),
                                                 std::make_shared<EnvCredentials>());
  if (command.starts_with("ig-")) return ledger_command(command, opt, client, barrier);
  DynamoDbAlarmStoreOptions so;
  so.table = opt["table"];
  so.max_units = std::stoul(opt["max-units"]);
  DynamoDbAlarmStore store(so, client);

  if (barrier) {
    std::string line;
    std::getline(std::cin, line);
  }

  std::string out;
  JsonWriter w(out);
  w.begin_object();
  StoreStatus s;
  if (command == "check") {
    std::vector<std::string> warnings;
    s = store.check_table(warnings);
    w.key("warnings").begin_array();
    for (const std::string& m : warnings) w.value(std::string_view(m));
    w.end_array();
  } else if (command == "add") {
    const int64_t records = std::stoll(opt["records"]);
    const int64_t batch = std::max<int64_t>(1, std::stoll(opt["batch"]));
    PeriodTotals last;
    int64_t already = 0, unguarded = 0;
    for (int64_t i = 0, k = 0; i < records && s.ok; ++k) {
      std::vector<PeriodDelta> deltas;
      for (; i < records && static_cast<int64_t>(deltas.size()) < batch; ++i) {
        PeriodDelta d;
        d.unit = opt["unit"] + "-" + std::to_string(k);
        d.alarm_key = opt["alarm"];
        d.dimensions_key = opt["dims"];
        d.period_start = std::stoll(opt["period-start"]);
        d.period_seconds = std::stoll(opt["period"]);
        d.count = 1;
        const double value = std::stod(opt["value"]);
        d.sum = value;
        d.min = value;
        d.max = value;
        d.contributors = {opt["id-prefix"] + "-" + std::to_string(i)};
        deltas.push_back(std::move(d));
      }
      std::vector<PeriodTotals> totals;
      s = store.add_batch(deltas, totals);
      if (s.ok && !totals.empty()) last = totals.back();
      for (const PeriodTotals& t : totals) {
        already += t.already_counted ? 1 : 0;
        unguarded += t.unguarded ? 1 : 0;
      }
    }
    w.field("count", last.count).field("sum", last.sum);
    w.field("already_counted", already).field("unguarded", unguarded);
  } else if (command == "item") {
    Item item;
    bool found = false;
    DynamoResult r = client->get_item(
        {so.table,
         {{kAlarmTablePartitionKey, AttributeValue::s(alarm_partition_key(opt["alarm"], opt["dims"]))},
          {kAlarmTableSortKey, AttributeValue::s(period_sort_key(std::stoll(opt["period-start"])))}},
         true},
        item, found);
    if (!r.ok()) s = StoreStatus::failure(r.code == DynamoResult::Code::kRetry, r.message);
    auto units = item.find("un");
    w.field("found", found).field("bytes", static_cast<int64_t>(item_size(item)));
    w.field("units", static_cast<int64_t>(units == item.end() ? 0 : units->second.set.size()));
    w.field("count", get_int(item, "cnt").value_or(0));
  } else if (command == "transition") {
    TransitionRequest t;
    t.alarm_key = opt["alarm"];
    t.dimensions_key = opt["dims"];
    t.from_state = opt["from"];
    t.from_version = std::stoll(opt["from-version"]);
    t.to_state = opt["to"];
    t.changed_at = std::stoll(opt["period-start"]) + std::stoll(opt["period"]);
    t.reason = "Threshold Crossed: test";
    TransitionOutcome o = TransitionOutcome::kLost;
    s = store.transition(t, o);
    if (s.ok) w.field("outcome", o == TransitionOutcome::kWon ? "won" : "lost");
  } else if (command == "load") {
    LoadedInstance l;
    s = store.load(opt["alarm"], opt["dims"], std::stoll(opt["from-period"]), l);
    w.key("periods").begin_array();
    for (const PeriodTotals& p : l.periods) {
      w.begin_object().field("start", p.period_start).field("count", p.count).field("sum", p.sum);
      if (p.min) w.field("min", *p.min);
      if (p.max) w.field("max", *p.max);
      w.field("contributors", static_cast<int64_t>(p.contributors.size())).end_object();
    }
    w.end_array();
    w.field("state", std::string_view(l.state.state)).field("version", l.state.version);
  } else if (command == "batch-get") {
    BatchGetItemRequest r;
    r.table = so.table;
    const int64_t n = std::stoll(opt["keys"]);
    for (int round = 0; round < 2; ++round)  // each key twice: DynamoDB refuses duplicates
      for (int64_t i = 0; i < n; ++i)
        r.keys.push_back({{"pk", AttributeValue::s(opt["key-prefix"] + std::to_string(i))},
                          {"sk", AttributeValue::s("s")}});
    for (size_t at = 0; !opt["projection"].empty() && at != std::string::npos;) {
      const size_t comma = opt["projection"].find(',', at);
      r.projection.push_back(opt["projection"].substr(at, comma - at));
      at = comma == std::string::npos ? comma : comma + 1;
    }
    std::vector<Item> items;
    DynamoResult res = client->batch_get_item(r, items);
    if (!res.ok()) s = StoreStatus::failure(res.code == DynamoResult::Code::kRetry, res.message);
    std::set<std::string> distinct;
    int64_t intact = 0;
    for (const Item& item : items) {
      const std::optional<std::string> pk = get_s(item, "pk");
      if (!pk) continue;
      distinct.insert(*pk);
      const std::optional<int64_t> k = get_int(item, "n");
      intact += k && *pk == opt["key-prefix"] + std::to_string(*k);
    }
    w.field("items", static_cast<int64_t>(items.size()));
    w.field("distinct", static_cast<int64_t>(distinct.size())).field("intact", intact);
    w.field("batch_requests", res.attempts);
  } else {
    return usage("unknown command " + command);
  }
  const DynamoDbAlarmStoreCounters c = store.counters();
  w.field("ok", s.ok).field("retryable", s.retryable).field("message", std::string_view(s.message));
  w.field("requests", c.requests).field("retries", c.retries).field("updates", c.updates);
  w.field("checks", c.checks);
  w.end_object();
  std::printf("%s\n", out.c_str());
  return s.ok ? 0 : 1;
} catch (const std::exception& e) {
  return usage(e.what());
}
