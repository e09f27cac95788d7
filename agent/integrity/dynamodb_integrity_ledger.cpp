#include "agent/integrity/dynamodb_integrity_ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>

#include "agent/aws/sigv4.h"
#include "agent/store/dynamodb_table_check.h"

namespace trailwarden::integrity {

using store::AttributeValue;
using store::DynamoResult;
using store::Item;

namespace {

constexpr const char* kReadSortKey = "r";
constexpr const char* kClaimSortKey = "b";
constexpr const char* kCoveragePartitionKey = "ig#coverage";
constexpr const char* kCoverageSortKey = "c";
// A coverage start this far ahead of the agent's clock is not one an agent wrote.
constexpr int64_t kCoverageAheadMs = 10 * 60'000;
// Bounds of what is read back (DynamoDB's item limit is 400 KB; these are far below it).
constexpr size_t kMaxText = 4096;

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Item key(std::string pk, std::string sk) {
  return {{store::kTablePartitionKey, AttributeValue::s(std::move(pk))},
          {store::kTableSortKey, AttributeValue::s(std::move(sk))}};
}

std::optional<bool> get_bool(const Item& item, std::string_view name) {
  auto it = item.find(std::string(name));
  if (it == item.end() || it->second.type != AttributeValue::Type::kBool) return std::nullopt;
  return it->second.boolean;
}

// A string attribute no longer than kMaxText.
std::optional<std::string> get_text(const Item& item, std::string_view name) {
  std::optional<std::string> s = store::get_s(item, name);
  if (s && s->size() > kMaxText) return std::nullopt;
  return s;
}

// A non-negative integer attribute.
std::optional<int64_t> get_count(const Item& item, std::string_view name) {
  std::optional<int64_t> v = store::get_int(item, name);
  if (v && *v < 0) return std::nullopt;
  return v;
}

bool condition_failed(const DynamoResult& r) {
  return r.code == DynamoResult::Code::kConditionFailed;
}

}  // namespace

std::string ledger_hash(std::string_view s) { return aws::sha256_hex(s).substr(0, 32); }
std::string read_partition_key(const std::string& name) { return "ig#lf#" + ledger_hash(name); }
std::string chain_head_sort_key(const std::string& chain) { return "c#" + ledger_hash(chain); }
std::string digest_partition_key(const std::string& chain) { return "ig#ch#" + ledger_hash(chain); }
std::string digest_sort_key(int64_t end) { return fmt::format("d#{:020d}", end); }

DynamoDbIntegrityLedger::DynamoDbIntegrityLedger(DynamoDbIntegrityLedgerOptions options,
                                                 std::shared_ptr<store::DynamoDbClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  if (options_.table.empty())
    throw std::invalid_argument("shared integrity ledger: no DynamoDB table named");
  if (options_.retention.count() <= 0)
    throw std::invalid_argument("shared integrity ledger: retention must be positive");
  if (!client_) throw std::invalid_argument("shared integrity ledger: no DynamoDB client");
}

DynamoDbIntegrityLedgerCounters DynamoDbIntegrityLedger::counters() const {
  return {requests_.load(), retries_.load(), failures_.load(), ignored_.load()};
}

void DynamoDbIntegrityLedger::count(const DynamoResult& r) {
  requests_ += static_cast<uint64_t>(r.attempts);
  if (r.attempts > 1) retries_ += static_cast<uint64_t>(r.attempts - 1);
}

SharedStatus DynamoDbIntegrityLedger::fail(std::string_view action, std::string_view item,
                                           std::string_view why) {
  ++failures_;
  return SharedStatus::failure(fmt::format("shared integrity ledger (DynamoDB table {}): {} of {}: {}",
                                           options_.table, action, item, why));
}

SharedStatus DynamoDbIntegrityLedger::fail(const DynamoResult& r, std::string_view action,
                                           std::string_view item) {
  return fail(action, item, r.message);
}

void DynamoDbIntegrityLedger::ignore(std::string_view kind, std::string_view detail) {
  ++ignored_;
  bool first = false;
  {
    std::lock_guard lock(logged_mutex_);
    if (logged_.find(kind) == logged_.end()) {
      logged_.emplace(kind);
      first = true;
    }
  }
  const std::string line =
      fmt::format("shared integrity ledger (DynamoDB table {}): ignored {}: {}{}", options_.table,
                  kind, detail, first ? " (logged once; later ones at debug)" : "");
  if (first)
    spdlog::warn("{}", line);
  else
    spdlog::debug("{}", line);
}

int64_t DynamoDbIntegrityLedger::expires_at(int64_t now_ms) const {
  return now_ms / 1000 + options_.retention.count();
}

SharedStatus DynamoDbIntegrityLedger::check_table(std::vector<std::string>& warnings,
                                                  bool& retryable) {
  const store::TableCheckResult r = store::check_dynamodb_table(
      *client_, options_.table,
      {"shared integrity ledger", "docs/integrity.md \"Several agents on one queue\"",
       "log files and digests"},
      warnings);
  requests_ += static_cast<uint64_t>(r.requests);
  retries_ += static_cast<uint64_t>(r.retries);
  retryable = !r.ok && r.retryable;
  if (!r.ok) {
    ++failures_;
    return SharedStatus::failure(r.message);
  }
  return {};
}

// ---- reads ----------------------------------------------------------------------------------

SharedStatus DynamoDbIntegrityLedger::add_read(const std::string& name, const SharedRead& read,
                                               int64_t now_ms,
                                               std::optional<SharedListing>& listed) {
  listed.reset();
  if (!is_hex64(read.sha256))
    return fail("UpdateItem", fmt::format("the read of {}", name),
                fmt::format("SHA-256 {:?} is not 64 lowercase hex", read.sha256));
  const std::string element = read.sha256 + " " + read.unit;
  store::UpdateItemRequest u;
  u.table = options_.table;
  u.key = key(read_partition_key(name), kReadSortKey);
  u.update_expression = "ADD #h :r SET #n = :n, #t = :t";
  u.condition_expression = "attribute_not_exists(#h) OR size(#h) < :max OR contains(#h, :e)";
  u.names = {{"#h", "h"}, {"#n", "name"}, {"#t", "expires_at"}};
  u.values = {{":r", AttributeValue::ss({element})},
              {":n", AttributeValue::s(name)},
              {":t", AttributeValue::n(expires_at(now_ms))},
              {":max", AttributeValue::n(static_cast<int64_t>(kMaxReads))},
              {":e", AttributeValue::s(element)}};
  u.return_values = "ALL_NEW";  // the listing, read in the same step
  Item attributes;
  DynamoResult r = client_->update_item(u, attributes);
  count(r);
  if (condition_failed(r)) {
    // Refused: kMaxReads others kept. The listing is read all the same.
    bool found = false;
    attributes.clear();
    r = client_->get_item({options_.table, key(read_partition_key(name), kReadSortKey), true},
                          attributes, found);
    count(r);
    if (!r.ok()) return fail(r, "GetItem", fmt::format("the listing of {}", name));
  } else if (!r.ok()) {
    return fail(r, "UpdateItem", fmt::format("the read of {}", name));
  }
  if (store::get_s(attributes, "name") != name) {
    if (!attributes.empty()) ignore("read item of another name", name);
    return {};
  }
  listed = parse_listing(attributes, name);
  return {};
}

SharedStatus DynamoDbIntegrityLedger::list_file(const std::string& name,
                                                const SharedListing& listing, int64_t now_ms,
                                                std::vector<SharedRead>& reads) {
  reads.clear();
  const std::string what = fmt::format("the listing of {}", name);
  if (!is_hex64(listing.sha256))
    return fail("UpdateItem", what,
                fmt::format("SHA-256 {:?} is not 64 lowercase hex", listing.sha256));
  store::UpdateItemRequest u;
  u.table = options_.table;
  u.key = key(read_partition_key(name), kReadSortKey);
  // The first listing is kept (one digest lists a file; a second one must not replace it).
  u.update_expression =
      "SET #n = :n, #t = :t, #ls = if_not_exists(#ls, :ls), #lk = if_not_exists(#lk, :lk), "
      "#lc = if_not_exists(#lc, :lc), #la = if_not_exists(#la, :la), "
      "#lr = if_not_exists(#lr, :lr), #lf = if_not_exists(#lf, :lf), "
      "#lb = if_not_exists(#lb, :lb), #le = if_not_exists(#le, :le)";
  u.names = {{"#n", "name"}, {"#t", "expires_at"}, {"#ls", "ls"}, {"#lk", "lk"},
             {"#lc", "lc"},  {"#la", "la"},        {"#lr", "lr"}, {"#lf", "lf"},
             {"#lb", "lb"},  {"#le", "le"}};
  u.values = {{":n", AttributeValue::s(name)},
              {":t", AttributeValue::n(expires_at(now_ms))},
              {":ls", AttributeValue::s(listing.sha256)},
              {":lk", AttributeValue::s(listing.digest_key)},
              {":lc", AttributeValue::s(listing.chain)},
              {":la", AttributeValue::s(listing.account)},
              {":lr", AttributeValue::s(listing.region)},
              {":lf", AttributeValue::s(listing.fingerprint)},
              {":lb", AttributeValue::n(listing.digest_start)},
              {":le", AttributeValue::n(listing.digest_end)}};
  u.return_values = "ALL_NEW";  // the reads, read in the same step
  Item attributes;
  const DynamoResult r = client_->update_item(u, attributes);
  count(r);
  if (!r.ok()) return fail(r, "UpdateItem", what);
  parse_reads(attributes, name, reads);
  return {};
}

std::optional<SharedListing> DynamoDbIntegrityLedger::parse_listing(const Item& item,
                                                                    const std::string& name) {
  if (item.find("ls") == item.end()) return std::nullopt;  // not listed yet
  SharedListing l;
  const std::optional<std::string> sha = store::get_s(item, "ls"), k = get_text(item, "lk"),
                                   c = get_text(item, "lc"), a = get_text(item, "la"),
                                   r = get_text(item, "lr"), f = get_text(item, "lf");
  const std::optional<int64_t> b = get_count(item, "lb"), e = get_count(item, "le");
  if (!sha || !is_hex64(*sha) || !k || !c || !a || !r || !f || !b || !e || *b > *e) {
    ignore("listing not as an agent writes it", name);
    return std::nullopt;
  }
  l.sha256 = *sha;
  l.digest_key = *k;
  l.chain = *c;
  l.account = *a;
  l.region = *r;
  l.fingerprint = *f;
  l.digest_start = *b;
  l.digest_end = *e;
  return l;
}

bool DynamoDbIntegrityLedger::parse_reads(const Item& item, const std::string& name,
                                          std::vector<SharedRead>& found) {
  found.clear();
  auto h = item.find("h");
  if (h == item.end()) return false;  // no read yet
  if (h->second.type != AttributeValue::Type::kSS) {
    ignore("read item without a set of reads", name);
    return false;
  }
  if (h->second.set.size() > kMaxReads) {
    // No agent writes more than kMaxReads (add_read's condition): not ours; keeping a part
    // of it could hide a content that is not the listed one.
    ignore("read item with too many reads",
           fmt::format("{}: {} reads (at most {})", name, h->second.set.size(), kMaxReads));
    return false;
  }
  size_t bad = 0;
  for (const std::string& e : h->second.set) {
    if (e.size() < 65 || e[64] != ' ' || !is_hex64(std::string_view(e).substr(0, 64)) ||
        e.size() > kMaxText) {
      ++bad;
      continue;
    }
    found.push_back({e.substr(0, 64), e.substr(65)});
  }
  if (bad != 0)
    ignore("read not \"<64 hex> <unit>\"", fmt::format("{} of the reads of {}", bad, name));
  std::sort(found.begin(), found.end(), [](const SharedRead& x, const SharedRead& y) {
    return std::tie(x.sha256, x.unit) < std::tie(y.sha256, y.unit);
  });
  return !found.empty();
}

SharedStatus DynamoDbIntegrityLedger::reads(const std::vector<std::string>& names,
                                            std::map<std::string, std::vector<SharedRead>>& out) {
  out.clear();
  std::map<std::string, std::string> by_pk;  // partition key -> name
  for (const std::string& name : names) by_pk.emplace(read_partition_key(name), name);
  if (by_pk.empty()) return {};
  store::BatchGetItemRequest b;
  b.table = options_.table;
  b.consistent_read = true;
  b.projection = {store::kTablePartitionKey, store::kTableSortKey, "name", "h"};
  for (const auto& [pk, name] : by_pk) b.keys.push_back(key(pk, kReadSortKey));
  std::vector<Item> items;
  const DynamoResult r = client_->batch_get_item(b, items);
  count(r);
  if (!r.ok())
    return fail(r, "BatchGetItem",
                fmt::format("the reads of {} log files (the first {})", by_pk.size(),
                            by_pk.begin()->second));
  for (const Item& item : items) {
    const std::optional<std::string> pk = store::get_s(item, store::kTablePartitionKey);
    const std::optional<std::string> sk = store::get_s(item, store::kTableSortKey);
    auto asked = pk ? by_pk.find(*pk) : by_pk.end();
    if (asked == by_pk.end() || sk != kReadSortKey) {
      ignore("read item not asked for", fmt::format("pk {:?}", pk.value_or("?")));
      continue;
    }
    const std::string& name = asked->second;
    const std::optional<std::string> stored = store::get_s(item, "name");
    if (stored != name) {
      ignore("read item of another name",
             fmt::format("{:?} holds the reads of {:?}", name, stored.value_or("(no name)")));
      continue;
    }
    std::vector<SharedRead> found;
    if (item.find("h") == item.end()) continue;  // listed, not read
    if (parse_reads(item, name, found)) out[name] = std::move(found);
  }
  return {};
}

// ---- coverage -------------------------------------------------------------------------------

SharedStatus DynamoDbIntegrityLedger::coverage(int64_t now_ms, int64_t stale_after_ms,
                                               int64_t& from_ms) {
  from_ms = 0;
  const Item k = key(kCoveragePartitionKey, kCoverageSortKey);
  // Refreshed while some agent has been alive within stale_after_ms; else started again now.
  // Two rounds at most: a refusal means another agent started it again meanwhile.
  for (int round = 0; round < 2; ++round) {
    store::UpdateItemRequest u;
    u.table = options_.table;
    u.key = k;
    u.update_expression = "SET #s = :now, #f = if_not_exists(#f, :now), #t = :t";
    u.condition_expression = "attribute_not_exists(#s) OR #s >= :stale";
    u.names = {{"#s", "seen"}, {"#f", "from"}, {"#t", "expires_at"}};
    u.values = {{":now", AttributeValue::n(now_ms)},
                {":stale", AttributeValue::n(now_ms - stale_after_ms)},
                {":t", AttributeValue::n(expires_at(now_ms))}};
    u.return_values = "ALL_NEW";
    Item attributes;
    DynamoResult r = client_->update_item(u, attributes);
    count(r);
    if (condition_failed(r)) {
      // Stale: no agent for longer than stale_after_ms. Started again from now.
      u.update_expression = "SET #s = :now, #f = :now, #t = :t";
      u.condition_expression = "#s < :stale";
      attributes.clear();
      r = client_->update_item(u, attributes);
      count(r);
      if (condition_failed(r)) continue;
    }
    if (!r.ok()) return fail(r, "UpdateItem", "the agents' coverage");
    const std::optional<int64_t> from = get_count(attributes, "from");
    if (!from || *from <= 0 || *from > now_ms + kCoverageAheadMs) {
      ignore("coverage not as an agent writes it", "from");
      return fail("UpdateItem", "the agents' coverage", "its \"from\" is not a time in the past");
    }
    from_ms = *from;
    return {};
  }
  return fail("UpdateItem", "the agents' coverage", "started again by another agent twice");
}

// ---- backfill claims ------------------------------------------------------------------------

SharedStatus DynamoDbIntegrityLedger::claim_backfill(const std::string& name, int64_t now_ms,
                                                     int64_t lease_until_ms, bool& won,
                                                     int64_t& held_until_ms) {
  won = false;
  held_until_ms = 0;
  const std::string what = fmt::format("the backfill claim of {}", name);
  if (lease_until_ms <= now_ms)
    return fail("PutItem", what,
                fmt::format("the lease ends ({} ms) before it starts ({} ms)", lease_until_ms,
                            now_ms));
  store::PutItemRequest p;
  p.table = options_.table;
  p.item = key(read_partition_key(name), kClaimSortKey);
  p.item["name"] = AttributeValue::s(name);
  p.item["until"] = AttributeValue::n(lease_until_ms);
  if (!options_.agent_id.empty()) p.item["owner"] = AttributeValue::s(options_.agent_id);
  p.item["expires_at"] =
      AttributeValue::n(std::max(expires_at(now_ms), lease_until_ms / 1000 + 1));
  p.condition_expression = "attribute_not_exists(#pk) OR #u < :now";
  p.names = {{"#pk", store::kTablePartitionKey}, {"#u", "until"}};
  p.values = {{":now", AttributeValue::n(now_ms)}};
  if (!options_.agent_id.empty()) {
    // This agent's own claim (it was restarted) is its again at once.
    p.condition_expression += " OR #o = :me";
    p.names["#o"] = "owner";
    p.values[":me"] = AttributeValue::s(options_.agent_id);
  }
  // Twice at most: a claim refused whose item is gone when read (expired by TTL, deleted) is
  // tried once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    DynamoResult r = client_->put_item(p);
    count(r);
    if (r.ok()) {
      won = true;
      held_until_ms = lease_until_ms;
      return {};
    }
    if (!condition_failed(r)) return fail(r, "PutItem", what);
    Item item;
    bool found = false;
    r = client_->get_item({options_.table, key(read_partition_key(name), kClaimSortKey), true},
                          item, found);
    count(r);
    if (!r.ok()) return fail(r, "GetItem", what);
    if (!found) continue;
    const std::optional<int64_t> until = get_count(item, "until");
    if (!until) {
      // Refused, yet the holder's lease cannot be read: an item no agent wrote. Retryable
      // from the stage's side; its TTL (or an operator) removes it.
      ignore("backfill claim without a valid until", name);
      return fail("GetItem", what, "the claim that holds it has no valid \"until\"");
    }
    held_until_ms = *until;
    return {};
  }
  return fail("PutItem", what, "refused twice, and the claim that held it was gone both times");
}

// ---- digests and chain heads ----------------------------------------------------------------

SharedStatus DynamoDbIntegrityLedger::add_digest(const SharedChainHead& head,
                                                 const KnownDigest& digest, int64_t now_ms) {
  const std::string what = fmt::format("digest {} of chain {}", digest.key, head.chain);
  if (head.chain.empty()) return fail("PutItem", what, "no chain named");
  if (digest.end < 0 || digest.start < 0 || head.last_end < 0)
    return fail("PutItem", what, "negative period");
  const int64_t ttl = expires_at(now_ms);
  store::PutItemRequest p;
  p.table = options_.table;
  p.item = key(digest_partition_key(head.chain), digest_sort_key(digest.end));
  p.item["chain"] = AttributeValue::s(head.chain);
  p.item["key"] = AttributeValue::s(digest.key);
  p.item["sha"] = AttributeValue::s(digest.sha256);
  p.item["sig"] = AttributeValue::s(digest.signature);
  p.item["start"] = AttributeValue::n(digest.start);
  p.item["end"] = AttributeValue::n(digest.end);
  p.item["starting"] = AttributeValue::b(digest.starting);
  p.item["expires_at"] = AttributeValue::n(ttl);
  DynamoResult r = client_->put_item(p);
  count(r);
  if (!r.ok()) return fail(r, "PutItem", what);

  // The head after the digest: a head never names a digest that is not stored.
  store::UpdateItemRequest u;
  u.table = options_.table;
  u.key = key(kChainsPartitionKey, chain_head_sort_key(head.chain));
  u.update_expression =
      "SET #c = :c, #b = :b, #a = :a, #r = :r, #f = :f, #le = :le, #lk = :lk, #ar = :ar, "
      "#t = :t";
  u.condition_expression = "attribute_not_exists(#le) OR #le < :le";
  u.names = {{"#c", "chain"},    {"#b", "bucket"},    {"#a", "account"},
             {"#r", "region"},   {"#f", "backfill"},  {"#le", "last_end"},
             {"#lk", "last_key"}, {"#ar", "arrival"}, {"#t", "expires_at"}};
  u.values = {{":c", AttributeValue::s(head.chain)},
              {":b", AttributeValue::s(head.bucket)},
              {":a", AttributeValue::s(head.account)},
              {":r", AttributeValue::s(head.region)},
              {":f", AttributeValue::b(head.backfill)},
              {":le", AttributeValue::n(head.last_end)},
              {":lk", AttributeValue::s(head.last_key)},
              {":ar", AttributeValue::n(head.arrival_ms)},
              {":t", AttributeValue::n(ttl)}};
  Item attributes;
  r = client_->update_item(u, attributes);
  count(r);
  if (r.ok() || condition_failed(r)) return {};  // refused: the head is as new or newer
  return fail(r, "UpdateItem", fmt::format("the head of chain {}", head.chain));
}

std::optional<KnownDigest> DynamoDbIntegrityLedger::parse_digest(const Item& item,
                                                                 const std::string& chain,
                                                                 std::optional<int64_t> end) {
  const std::optional<std::string> stored = store::get_s(item, "chain");
  if (stored != chain) {
    ignore("digest item of another chain",
           fmt::format("{:?} holds a digest of {:?}", chain, stored.value_or("(no chain)")));
    return std::nullopt;
  }
  KnownDigest d;
  const std::optional<std::string> k = get_text(item, "key"), sha = store::get_s(item, "sha"),
                                   sig = get_text(item, "sig"),
                                   sk = store::get_s(item, store::kTableSortKey);
  const std::optional<int64_t> start = get_count(item, "start"), e = get_count(item, "end");
  const std::optional<bool> starting = get_bool(item, "starting");
  if (!k || !sha || !is_hex64(*sha) || !sig || !start || !e || !starting || *start > *e ||
      sk != digest_sort_key(*e) || (end && *e != *end)) {
    ignore("invalid digest item", fmt::format("chain {} sort key {:?}", chain, sk.value_or("?")));
    return std::nullopt;
  }
  d.key = *k;
  d.sha256 = *sha;
  d.signature = *sig;
  d.start = *start;
  d.end = *e;
  d.starting = *starting;
  return d;
}

SharedStatus DynamoDbIntegrityLedger::digest(const std::string& chain, int64_t end,
                                             std::optional<KnownDigest>& out) {
  out.reset();
  Item item;
  bool found = false;
  const DynamoResult r = client_->get_item(
      {options_.table, key(digest_partition_key(chain), digest_sort_key(end)), true}, item, found);
  count(r);
  if (!r.ok()) return fail(r, "GetItem", fmt::format("the digest ending {} of chain {}", end, chain));
  if (found) out = parse_digest(item, chain, end);
  return {};
}

SharedStatus DynamoDbIntegrityLedger::neighbour(const std::string& chain, int64_t end, bool before,
                                                std::optional<KnownDigest>& out) {
  out.reset();
  store::QueryRequest q;
  q.table = options_.table;
  q.key_condition_expression = before ? "#pk = :pk AND #sk < :sk" : "#pk = :pk AND #sk > :sk";
  q.names = {{"#pk", store::kTablePartitionKey}, {"#sk", store::kTableSortKey}};
  q.values = {{":pk", AttributeValue::s(digest_partition_key(chain))},
              {":sk", AttributeValue::s(digest_sort_key(end))}};
  q.consistent_read = true;
  q.scan_forward = !before;
  q.limit = 1;
  std::vector<Item> items;
  const DynamoResult r = client_->query(q, items);
  count(r);
  if (!r.ok())
    return fail(r, "Query",
                fmt::format("the digest {} {} of chain {}", before ? "before" : "after", end, chain));
  if (items.size() > 1) {
    ignore("Query answer of more items than its Limit", chain);
    return {};
  }
  if (!items.empty()) {
    out = parse_digest(items.front(), chain, std::nullopt);
    if (out && (before ? out->end >= end : out->end <= end)) {
      ignore("Query answer out of its range", chain);
      out.reset();
    }
  }
  return {};
}

SharedStatus DynamoDbIntegrityLedger::neighbours(const std::string& chain, int64_t end,
                                                 std::optional<KnownDigest>& before,
                                                 std::optional<KnownDigest>& after) {
  after.reset();
  SharedStatus s = neighbour(chain, end, true, before);
  if (!s.ok) return s;
  return neighbour(chain, end, false, after);
}

SharedStatus DynamoDbIntegrityLedger::heads(std::vector<SharedChainHead>& out) {
  out.clear();
  store::QueryRequest q;
  q.table = options_.table;
  q.key_condition_expression = "#pk = :pk";
  q.names = {{"#pk", store::kTablePartitionKey}};
  q.values = {{":pk", AttributeValue::s(kChainsPartitionKey)}};
  q.consistent_read = true;
  std::vector<Item> items;
  const DynamoResult r = client_->query(q, items);
  count(r);
  if (!r.ok()) return fail(r, "Query", "the chain heads");
  for (const Item& item : items) {
    const std::optional<std::string> chain = get_text(item, "chain"),
                                     sk = store::get_s(item, store::kTableSortKey);
    if (!chain || chain->empty() || sk != chain_head_sort_key(*chain)) {
      ignore("chain head not of its key",
             fmt::format("sort key {:?} chain {:?}", sk.value_or("?"), chain.value_or("?")));
      continue;
    }
    SharedChainHead h;
    h.chain = *chain;
    const std::optional<std::string> bucket = get_text(item, "bucket"),
                                     account = get_text(item, "account"),
                                     region = get_text(item, "region"),
                                     last_key = get_text(item, "last_key");
    const std::optional<bool> backfill = get_bool(item, "backfill");
    const std::optional<int64_t> last_end = get_count(item, "last_end"),
                                 arrival = get_count(item, "arrival");
    std::optional<int64_t> alerted = 0;
    if (item.count("alerted_end")) alerted = get_count(item, "alerted_end");
    if (!bucket || !account || !region || !last_key || !backfill || !last_end || !arrival ||
        !alerted) {
      ignore("invalid chain head", fmt::format("{:?}", *chain));
      continue;
    }
    h.bucket = *bucket;
    h.account = *account;
    h.region = *region;
    h.backfill = *backfill;
    h.last_end = *last_end;
    h.last_key = *last_key;
    h.arrival_ms = *arrival;
    h.alerted_end = *alerted;
    out.push_back(std::move(h));
  }
  return {};
}

SharedStatus DynamoDbIntegrityLedger::claim_stopped(const std::string& chain, int64_t last_end,
                                                    int64_t /*now_ms*/, bool& won) {
  won = false;
  store::UpdateItemRequest u;
  u.table = options_.table;
  u.key = key(kChainsPartitionKey, chain_head_sort_key(chain));
  u.update_expression = "SET #ae = :e";
  u.condition_expression = "#le = :e AND (attribute_not_exists(#ae) OR #ae < :e)";
  u.names = {{"#ae", "alerted_end"}, {"#le", "last_end"}};
  u.values = {{":e", AttributeValue::n(last_end)}};
  if (!options_.agent_id.empty()) {
    // Named: a try whose answer was lost (a timeout, a 5xx) and that the client sends again
    // finds its own claim and still wins.
    u.update_expression += ", #by = :me";
    u.condition_expression = "#le = :e AND (attribute_not_exists(#ae) OR #ae < :e OR "
                             "(#ae = :e AND #by = :me))";
    u.names["#by"] = "alerted_by";
    u.values[":me"] = AttributeValue::s(options_.agent_id);
  }
  Item attributes;
  DynamoResult r = client_->update_item(u, attributes);
  count(r);
  if (r.ok()) {
    won = true;
    return {};
  }
  const std::string what = fmt::format("the delivery-stopped claim of chain {:?}", chain);
  if (!condition_failed(r)) return fail(r, "UpdateItem", what);
  // Refused: claimed by another agent, the head moved on — or there is no head (expired,
  // deleted, or never written: an agent that switched from store = "state"). No head: no
  // agent can claim it, so this one reports it (another may too: the same uid).
  bool found = false;
  Item head;
  r = client_->get_item({options_.table, key(kChainsPartitionKey, chain_head_sort_key(chain)),
                         true},
                        head, found);
  count(r);
  if (!r.ok()) return fail(r, "GetItem", what);
  won = !found;
  return {};
}

}  // namespace trailwarden::integrity
