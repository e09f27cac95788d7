#include "agent/store/dynamodb_alarm_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "agent/aws/sigv4.h"
#include "agent/store/dynamodb_table_check.h"

namespace trailwarden::store {

namespace {

constexpr const char* kStateSortKey = "state";

Item instance_key(const std::string& pk, std::string sk) {
  return {{kAlarmTablePartitionKey, AttributeValue::s(pk)},
          {kAlarmTableSortKey, AttributeValue::s(std::move(sk))}};
}

// A number the delta carries must be finite to be stored.
bool finite(const std::optional<double>& v) { return !v || std::isfinite(*v); }

std::string describe_instance(const std::string& alarm, const std::string& dims) {
  return dims.empty() ? fmt::format("alarm {:?}", alarm)
                      : fmt::format("alarm {:?} dimensions {:?}", alarm, dims);
}

PeriodTotals totals_from(const Item& item, const std::string& alarm_key,
                         const std::string& dimensions_key, int64_t period_start) {
  PeriodTotals t;
  t.alarm_key = alarm_key;
  t.dimensions_key = dimensions_key;
  t.period_start = period_start;
  t.count = get_int(item, "cnt").value_or(0);
  t.sum = get_double(item, "sm").value_or(0);
  t.min = get_double(item, "mn");
  t.max = get_double(item, "mx");
  if (auto it = item.find("ids"); it != item.end() && it->second.type == AttributeValue::Type::kSS) {
    t.contributors = it->second.set;
    std::sort(t.contributors.begin(), t.contributors.end());
  }
  return t;
}

// 128 random bits in hex: unique per transition attempt across agents.
std::string write_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

}  // namespace

std::string alarm_partition_key(const std::string& alarm_key, const std::string& dimensions_key) {
  return alarm_key + "#" + aws::sha256_hex(dimensions_key).substr(0, 32);
}

std::string alarm_index_partition_key(const std::string& alarm_key) {
  return alarm_key + "#instances";
}

std::string period_sort_key(int64_t period_start) { return fmt::format("p#{:020d}", period_start); }

DynamoDbAlarmStore::DynamoDbAlarmStore(DynamoDbAlarmStoreOptions options,
                                       std::shared_ptr<DynamoDbClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  if (options_.table.empty()) throw std::invalid_argument("alarm store: no DynamoDB table named");
  if (options_.max_contributors == 0)
    throw std::invalid_argument("alarm store: max_contributors must be at least 1");
  if (options_.max_units == 0 || options_.max_units > kMaxUnitsLimit)
    throw std::invalid_argument(fmt::format(
        "alarm store: max_units must be between 1 and {} (a period item holds 16 bytes per "
        "unit, DynamoDB at most 400 KB), not {}", kMaxUnitsLimit, options_.max_units));
}

void DynamoDbAlarmStore::count(const DynamoResult& r) {
  requests_ += static_cast<uint64_t>(r.attempts);
  if (r.attempts > 1) retries_ += static_cast<uint64_t>(r.attempts - 1);
}

StoreStatus DynamoDbAlarmStore::fail(const DynamoResult& r, std::string_view what) {
  ++failures_;
  return StoreStatus::failure(r.code == DynamoResult::Code::kRetry,
                              fmt::format("alarm store (DynamoDB table {}): {}: {}",
                                          options_.table, what, r.message));
}

StoreStatus DynamoDbAlarmStore::check_table(std::vector<std::string>& warnings) {
  const TableCheckResult r = check_dynamodb_table(
      *client_, options_.table,
      {"alarm store", "docs/alarms.md \"The DynamoDB store\"", "periods"}, warnings);
  requests_ += static_cast<uint64_t>(r.requests);
  retries_ += static_cast<uint64_t>(r.retries);
  if (!r.ok) {
    ++failures_;
    return StoreStatus::failure(r.retryable, r.message);
  }
  return StoreStatus::success();
}

StoreStatus DynamoDbAlarmStore::add(const PeriodDelta& delta, PeriodTotals& totals) {
  std::vector<PeriodTotals> out;
  StoreStatus s = add_batch({delta}, out);
  if (s.ok) totals = std::move(out.front());
  return s;
}

StoreStatus DynamoDbAlarmStore::add_batch(const std::vector<PeriodDelta>& deltas,
                                          std::vector<PeriodTotals>& totals) {
  for (const PeriodDelta& d : deltas) {
    if (d.unit.empty()) {
      ++failures_;
      return StoreStatus::failure(
          false, fmt::format("alarm store: delta for {} period {} names no unit (every delta "
                             "names the S3 object, event or message it comes from, so that a "
                             "unit is counted once)",
                             describe_instance(d.alarm_key, d.dimensions_key), d.period_start));
    }
    if (d.period_seconds <= 0 || d.period_start < 0 || d.period_start % d.period_seconds != 0 ||
        d.count < 0 || !std::isfinite(d.sum) || !finite(d.min) || !finite(d.max)) {
      ++failures_;
      return StoreStatus::failure(
          false, fmt::format("alarm store: invalid delta for {}: period {} of {} s, count {}, sum "
                             "{} (a period starts at a multiple of its length; counts are "
                             "non-negative; values finite)",
                             describe_instance(d.alarm_key, d.dimensions_key), d.period_start,
                             d.period_seconds, d.count, d.sum));
    }
  }
  totals.clear();
  for (const PeriodDelta& m : merge_deltas(deltas, options_.max_contributors)) {
    PeriodTotals t;
    StoreStatus s = add_merged(m, t);
    if (!s.ok) return s;
    totals.push_back(std::move(t));
  }
  return StoreStatus::success();
}

bool DynamoDbAlarmStore::is_full(const std::unordered_set<std::string>& set,
                                 const std::string& key) const {
  std::lock_guard lock(full_mutex_);
  return set.count(key) != 0;
}

bool DynamoDbAlarmStore::mark_full(std::unordered_set<std::string>& set, const std::string& key) {
  std::lock_guard lock(full_mutex_);
  if (set.size() >= kFullCacheLimit) set.clear();
  return set.insert(key).second;
}

StoreStatus DynamoDbAlarmStore::add_merged(const PeriodDelta& d, PeriodTotals& totals) {
  UpdateItemRequest u;
  u.table = options_.table;
  const std::string pk = alarm_partition_key(d.alarm_key, d.dimensions_key);
  const std::string sk = period_sort_key(d.period_start);
  const std::string period_id = pk + "\n" + sk;
  u.key = instance_key(pk, sk);
  const std::string digest = unit_digest(d.unit);
  bool with_ids = !d.contributors.empty() && !is_full(ids_full_, period_id);
  bool guarded = !is_full(units_full_, period_id);
  auto units_full = [&] {
    guarded = false;
    if (mark_full(units_full_, period_id))
      spdlog::warn("alarm store: {} period {} holds {} units (max_units); further units of this "
                   "period are counted without their digest, so a redelivered one counts again",
                   describe_instance(d.alarm_key, d.dimensions_key), d.period_start,
                   options_.max_units);
  };
  // A write refused by its condition is followed by a consistent read that says why: the unit
  // is counted (done), or a set is full (the write goes again without that part). Sets only
  // grow, so two rounds settle it; more only if the item expired in between.
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    std::string add = "ADD #c :c, #s :s";
    std::string set = "SET #t = :t";
    u.names = {{"#c", "cnt"}, {"#s", "sm"}, {"#t", kAlarmTableTtlAttribute}, {"#u", "un"}};
    u.values = {{":c", AttributeValue::n(d.count)},
                {":s", AttributeValue::n(d.sum)},
                {":t", AttributeValue::n(d.period_start + d.period_seconds +
                                         static_cast<int64_t>(options_.retention.count()))},
                {":d", AttributeValue::bin(digest)}};
    if (guarded) {
      add += ", #u :u";
      u.values[":u"] = AttributeValue::bs({digest});
      u.values[":mu"] = AttributeValue::n(static_cast<int64_t>(options_.max_units));
      u.condition_expression =
          "(attribute_not_exists(#u) OR (NOT contains(#u, :d) AND size(#u) < :mu))";
    } else {
      // Not remembered, but a unit that is in the set is still refused.
      u.condition_expression = "(attribute_not_exists(#u) OR NOT contains(#u, :d))";
    }
    if (with_ids) {
      add += ", #i :i";
      u.names["#i"] = "ids";
      u.values[":i"] = AttributeValue::ss(d.contributors);
      u.values[":n"] = AttributeValue::n(static_cast<int64_t>(options_.max_contributors));
      u.condition_expression += " AND (attribute_not_exists(#i) OR size(#i) < :n)";
    }
    if (d.min) {
      set += ", #mn = if_not_exists(#mn, :mn)";
      u.names["#mn"] = "mn";
      u.values[":mn"] = AttributeValue::n(*d.min);
    }
    if (d.max) {
      set += ", #mx = if_not_exists(#mx, :mx)";
      u.names["#mx"] = "mx";
      u.values[":mx"] = AttributeValue::n(*d.max);
    }
    u.update_expression = add + " " + set;
    u.return_values = "UPDATED_NEW";
    Item after;
    ++updates_;
    DynamoResult r = client_->update_item(u, after);
    count(r);
    if (r.ok()) {
      totals = totals_from(after, d.alarm_key, d.dimensions_key, d.period_start);
      totals.unguarded = !guarded;
      if (!guarded) ++unguarded_;
      if (with_ids && totals.contributors.size() >= options_.max_contributors)
        mark_full(ids_full_, period_id);
      if (auto it = after.find("un"); guarded && it != after.end() &&
                                      it->second.set.size() >= options_.max_units)
        units_full();
      return correct_extremes(d, u.key, totals);
    }
    if (r.code != DynamoResult::Code::kConditionFailed)
      return fail(r, fmt::format("UpdateItem of {} period {}",
                                 describe_instance(d.alarm_key, d.dimensions_key), d.period_start));
    Item stored;
    bool found = false;
    ++checks_;
    DynamoResult g = client_->get_item({options_.table, u.key, true}, stored, found);
    count(g);
    if (!g.ok())
      return fail(g, fmt::format("GetItem of {} period {} after a refused write",
                                 describe_instance(d.alarm_key, d.dimensions_key), d.period_start));
    if (!found) continue;  // expired in between: write again
    const auto units = stored.find("un");
    const std::vector<std::string> none;
    const std::vector<std::string>& digests =
        units != stored.end() && units->second.type == AttributeValue::Type::kBS
            ? units->second.set
            : none;
    if (std::find(digests.begin(), digests.end(), digest) != digests.end()) {
      ++already_counted_;
      totals = totals_from(stored, d.alarm_key, d.dimensions_key, d.period_start);
      totals.already_counted = true;
      // The write that counted it may have died before correcting an extreme (kill -9, or it
      // was this call's own first try): correcting is idempotent, so do it.
      return correct_extremes(d, u.key, totals);
    }
    if (guarded && digests.size() >= options_.max_units) units_full();
    if (with_ids) {
      const auto ids = stored.find("ids");
      if (ids != stored.end() && ids->second.set.size() >= options_.max_contributors) {
        mark_full(ids_full_, period_id);
        with_ids = false;
      }
    }
  }
  ++failures_;
  return StoreStatus::failure(
      true, fmt::format("alarm store (DynamoDB table {}): UpdateItem of {} period {}: its "
                        "condition failed {} times, and the item explains none of them",
                        options_.table, describe_instance(d.alarm_key, d.dimensions_key),
                        d.period_start, kRounds));
}

StoreStatus DynamoDbAlarmStore::correct_extremes(const PeriodDelta& d, const Item& key,
                                                 PeriodTotals& totals) {
  // if_not_exists kept an older extreme: correct it when this delta goes beyond it.
  if (d.min && totals.min && *d.min < *totals.min) {
    StoreStatus s = correct_extreme(key, true, *d.min);
    if (!s.ok) return s;
    totals.min = *d.min;
  }
  if (d.max && totals.max && *d.max > *totals.max) {
    StoreStatus s = correct_extreme(key, false, *d.max);
    if (!s.ok) return s;
    totals.max = *d.max;
  }
  return StoreStatus::success();
}

StoreStatus DynamoDbAlarmStore::correct_extreme(const Item& key, bool minimum, double value) {
  UpdateItemRequest u;
  u.table = options_.table;
  u.key = key;
  u.update_expression = "SET #x = :x";
  // Only while the stored value is still beyond ours: a concurrent add may have gone further,
  // and then its value stays (the condition fails, which is the right outcome).
  u.condition_expression = minimum ? "#x > :x" : "#x < :x";
  u.names = {{"#x", minimum ? "mn" : "mx"}};
  u.values = {{":x", AttributeValue::n(value)}};
  Item ignored;
  ++updates_;
  ++extreme_updates_;
  DynamoResult r = client_->update_item(u, ignored);
  count(r);
  if (r.ok() || r.code == DynamoResult::Code::kConditionFailed) return StoreStatus::success();
  return fail(r, minimum ? "UpdateItem of a period's minimum" : "UpdateItem of a period's maximum");
}

StoreStatus DynamoDbAlarmStore::transition(const TransitionRequest& t,
                                           TransitionOutcome& outcome) {
  if (t.to_state.empty() || t.from_version < 0 || (t.from_version > 0 && t.from_state.empty())) {
    ++failures_;
    return StoreStatus::failure(
        false, fmt::format("alarm store: invalid transition of {}: from {:?} version {} to {:?}",
                           describe_instance(t.alarm_key, t.dimensions_key), t.from_state,
                           t.from_version, t.to_state));
  }
  PutItemRequest p;
  p.table = options_.table;
  p.item = instance_key(alarm_partition_key(t.alarm_key, t.dimensions_key), kStateSortKey);
  p.item["st"] = AttributeValue::s(t.to_state);
  p.item["ver"] = AttributeValue::n(t.from_version + 1);
  p.item["changed"] = AttributeValue::n(t.changed_at);
  p.item["reason"] = AttributeValue::s(t.reason);
  p.item["end"] = AttributeValue::n(t.range_end);
  {
    std::string recent = t.uid;
    for (size_t i = 0; i < t.recent.size() && i + 1 < kRecentTransitions; ++i)
      recent += " " + t.recent[i];
    p.item["recent"] = AttributeValue::s(recent);
  }
  p.item["early"] = AttributeValue::b(t.early);
  p.item["alarm"] = AttributeValue::s(t.alarm_key);
  p.item["dims"] = AttributeValue::s(t.dimensions_key);
  // Who wrote it: if the answer to a write that was applied is lost, the retry fails its
  // condition, and this token tells that the write was ours after all.
  const std::string token = write_token();
  p.item["writer"] = AttributeValue::s(token);
  p.item[kAlarmTableTtlAttribute] =
      AttributeValue::n(t.changed_at + static_cast<int64_t>(options_.state_retention.count()));
  if (t.from_version == 0) {
    p.condition_expression = "attribute_not_exists(#pk)";
    p.names = {{"#pk", kAlarmTablePartitionKey}};
  } else {
    p.condition_expression = "#v = :v AND #st = :st";
    p.names = {{"#v", "ver"}, {"#st", "st"}};
    p.values = {{":v", AttributeValue::n(t.from_version)}, {":st", AttributeValue::s(t.from_state)}};
  }
  DynamoResult r = client_->put_item(p);
  count(r);
  if (r.code == DynamoResult::Code::kConditionFailed && r.attempts > 1) {
    Item stored;
    bool found = false;
    DynamoResult g = client_->get_item({options_.table, instance_key(p.item.at(kAlarmTablePartitionKey).text, kStateSortKey), true},
                                       stored, found);
    count(g);
    if (!g.ok()) return fail(g, fmt::format("GetItem of the state of {} after a retried write",
                                            describe_instance(t.alarm_key, t.dimensions_key)));
    if (found && get_s(stored, "writer") == token) r.code = DynamoResult::Code::kOk;
  }
  if (r.code == DynamoResult::Code::kConditionFailed) {
    ++transitions_lost_;
    outcome = TransitionOutcome::kLost;
    return StoreStatus::success();
  }
  if (!r.ok())
    return fail(r, fmt::format("PutItem of the state of {}",
                               describe_instance(t.alarm_key, t.dimensions_key)));
  ++transitions_won_;
  outcome = TransitionOutcome::kWon;
  return StoreStatus::success();
}

StoreStatus DynamoDbAlarmStore::load(const std::string& alarm_key,
                                     const std::string& dimensions_key, int64_t from_period,
                                     LoadedInstance& out) {
  QueryRequest q;
  q.table = options_.table;
  q.key_condition_expression = "#pk = :pk AND #sk >= :from";
  q.names = {{"#pk", kAlarmTablePartitionKey}, {"#sk", kAlarmTableSortKey}};
  q.values = {{":pk", AttributeValue::s(alarm_partition_key(alarm_key, dimensions_key))},
              {":from", AttributeValue::s(period_sort_key(std::max<int64_t>(from_period, 0)))}};
  q.consistent_read = true;
  std::vector<Item> items;
  DynamoResult r = client_->query(q, items);
  count(r);
  if (!r.ok()) return fail(r, fmt::format("Query of {}", describe_instance(alarm_key, dimensions_key)));
  out = {};
  for (const Item& item : items) {
    const std::string sk = get_s(item, kAlarmTableSortKey).value_or("");
    if (sk == kStateSortKey) {
      out.state.state = get_s(item, "st").value_or("");
      out.state.version = get_int(item, "ver").value_or(0);
      out.state.changed_at = get_int(item, "changed").value_or(0);
      out.state.reason = get_s(item, "reason").value_or("");
      out.state.range_end = get_int(item, "end").value_or(out.state.changed_at);
      const std::string recent = get_s(item, "recent").value_or("");
      for (size_t at = 0; at < recent.size();) {
        size_t space = recent.find(' ', at);
        if (space == std::string::npos) space = recent.size();
        if (space > at) out.state.recent.push_back(recent.substr(at, space - at));
        at = space + 1;
      }
      if (auto e = item.find("early");
          e != item.end() && e->second.type == AttributeValue::Type::kBool)
        out.state.early = e->second.boolean;
      continue;
    }
    int64_t start = 0;
    if (!sk.starts_with("p#")) continue;  // not an item of this store
    auto [ptr, ec] = std::from_chars(sk.data() + 2, sk.data() + sk.size(), start);
    if (ec != std::errc() || ptr != sk.data() + sk.size()) continue;
    out.periods.push_back(totals_from(item, alarm_key, dimensions_key, start));
  }
  return StoreStatus::success();
}

StoreStatus DynamoDbAlarmStore::register_instance(const IndexedInstance& in) {
  UpdateItemRequest u;
  u.table = options_.table;
  u.key = instance_key(alarm_index_partition_key(in.alarm_key),
                       "i#" + aws::sha256_hex(in.dimensions_key).substr(0, 32));
  u.update_expression = "SET #d = :d, #f = if_not_exists(#f, :f), #t = :t";
  u.names = {{"#d", "dims"}, {"#f", "first"}, {"#t", kAlarmTableTtlAttribute}};
  u.values = {{":d", AttributeValue::s(in.dimensions_key)},
              {":f", AttributeValue::n(in.first_period)},
              {":t", AttributeValue::n(std::max(in.first_period, in.last_period) +
                                       static_cast<int64_t>(options_.retention.count()))}};
  Item ignored;
  ++updates_;
  DynamoResult r = client_->update_item(u, ignored);
  count(r);
  if (!r.ok())
    return fail(r, fmt::format("UpdateItem of the instance index entry of {}",
                               describe_instance(in.alarm_key, in.dimensions_key)));
  return StoreStatus::success();
}

StoreStatus DynamoDbAlarmStore::list_instances(const std::string& alarm_key,
                                               std::vector<IndexedInstance>& out) {
  QueryRequest q;
  q.table = options_.table;
  q.key_condition_expression = "#pk = :pk";
  q.names = {{"#pk", kAlarmTablePartitionKey}};
  q.values = {{":pk", AttributeValue::s(alarm_index_partition_key(alarm_key))}};
  q.consistent_read = true;
  std::vector<Item> items;
  DynamoResult r = client_->query(q, items);
  count(r);
  if (!r.ok()) return fail(r, fmt::format("Query of the instance index of alarm {:?}", alarm_key));
  out.clear();
  for (const Item& item : items) {
    std::optional<std::string> dims = get_s(item, "dims");
    std::optional<int64_t> first = get_int(item, "first");
    if (!dims || !first) continue;  // not an entry of this store
    out.push_back({alarm_key, std::move(*dims), *first, *first});
  }
  return StoreStatus::success();
}

DynamoDbAlarmStoreCounters DynamoDbAlarmStore::counters() const {
  DynamoDbAlarmStoreCounters c;
  c.requests = requests_.load();
  c.retries = retries_.load();
  c.updates = updates_.load();
  c.extreme_updates = extreme_updates_.load();
  c.checks = checks_.load();
  c.already_counted = already_counted_.load();
  c.unguarded = unguarded_.load();
  c.transitions_won = transitions_won_.load();
  c.transitions_lost = transitions_lost_.load();
  c.failures = failures_.load();
  return c;
}

}  // namespace trailwarden::store
