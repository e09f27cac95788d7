#include "agent/store/dynamodb_alarm_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <stdexcept>

#include "agent/aws/sigv4.h"

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

std::string period_sort_key(int64_t period_start) { return fmt::format("p#{:020d}", period_start); }

DynamoDbAlarmStore::DynamoDbAlarmStore(DynamoDbAlarmStoreOptions options,
                                       std::shared_ptr<DynamoDbClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  if (options_.table.empty()) throw std::invalid_argument("alarm store: no DynamoDB table named");
  if (options_.max_contributors == 0)
    throw std::invalid_argument("alarm store: max_contributors must be at least 1");
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
  TableDescription t;
  DynamoResult r = client_->describe_table(options_.table, t);
  count(r);
  const std::string& region = client_->options().region;
  if (!r.ok()) {
    if (r.aws_code == "ResourceNotFoundException") {
      ++failures_;
      return StoreStatus::failure(
          false, fmt::format("alarm store: DynamoDB table {} does not exist in region {} "
                             "(create it as docs/alarms.md \"The DynamoDB store\" shows): {}",
                             options_.table, region, r.message));
    }
    return fail(r, "DescribeTable");
  }
  if (t.status != "ACTIVE" && t.status != "UPDATING") {
    ++failures_;
    return StoreStatus::failure(
        t.status == "CREATING",
        fmt::format("alarm store: DynamoDB table {} in region {} is {}, not ACTIVE", options_.table,
                    region, t.status.empty() ? "of unknown status" : t.status));
  }
  auto describe = [](const std::vector<KeyElement>& keys) {
    std::string s;
    for (const KeyElement& k : keys)
      s += fmt::format("{}{} {} {}", s.empty() ? "" : ", ", k.name, k.key_type,
                       k.attribute_type.empty() ? "?" : k.attribute_type);
    return s.empty() ? std::string("none") : s;
  };
  const std::vector<KeyElement> want = {{kAlarmTablePartitionKey, "HASH", "S"},
                                        {kAlarmTableSortKey, "RANGE", "S"}};
  auto same = [](const KeyElement& a, const KeyElement& b) {
    return a.name == b.name && a.key_type == b.key_type && a.attribute_type == b.attribute_type;
  };
  std::vector<KeyElement> have = t.key_schema;
  std::sort(have.begin(), have.end(),
            [](const KeyElement& a, const KeyElement& b) { return a.key_type < b.key_type; });
  if (have.size() != want.size() || !std::equal(have.begin(), have.end(), want.begin(), same)) {
    ++failures_;
    return StoreStatus::failure(
        false, fmt::format("alarm store: DynamoDB table {} in region {} has the key schema [{}]; "
                           "the alarm store needs [{}]",
                           options_.table, region, describe(have), describe(want)));
  }
  TimeToLiveDescription ttl;
  r = client_->describe_time_to_live(options_.table, ttl);
  count(r);
  if (!r.ok()) {
    // Not needed for correctness; say so and go on.
    warnings.push_back(fmt::format("alarm store: cannot read the TTL setting of DynamoDB table "
                                   "{}: {}", options_.table, r.message));
  } else if (ttl.status != "ENABLED" && ttl.status != "ENABLING") {
    warnings.push_back(fmt::format(
        "alarm store: DynamoDB table {} has time to live {}; enable it on attribute {} or old "
        "periods stay (and are billed for storage) forever",
        options_.table, ttl.status.empty() ? "unknown" : ttl.status, kAlarmTableTtlAttribute));
  } else if (ttl.attribute_name != kAlarmTableTtlAttribute) {
    warnings.push_back(fmt::format(
        "alarm store: DynamoDB table {} has time to live on attribute {:?}, not {}; old periods "
        "are never deleted",
        options_.table, ttl.attribute_name, kAlarmTableTtlAttribute));
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

bool DynamoDbAlarmStore::contributors_full(const std::string& key) const {
  std::lock_guard lock(full_mutex_);
  return full_.count(key) != 0;
}

void DynamoDbAlarmStore::mark_contributors_full(const std::string& key) {
  std::lock_guard lock(full_mutex_);
  if (full_.size() >= kFullCacheLimit) full_.clear();
  full_.insert(key);
}

StoreStatus DynamoDbAlarmStore::add_merged(const PeriodDelta& d, PeriodTotals& totals) {
  UpdateItemRequest u;
  u.table = options_.table;
  const std::string pk = alarm_partition_key(d.alarm_key, d.dimensions_key);
  const std::string sk = period_sort_key(d.period_start);
  const std::string period_id = pk + "\n" + sk;
  u.key = instance_key(pk, sk);
  const bool with_ids = !d.contributors.empty() && !contributors_full(period_id);
  // The write is built twice at most: with the ids (conditional on the set not being full),
  // and again without them when that condition failed.
  for (bool ids : {with_ids, false}) {
    std::string add = "ADD #c :c, #s :s";
    std::string set = "SET #t = :t";
    u.names = {{"#c", "cnt"}, {"#s", "sm"}, {"#t", kAlarmTableTtlAttribute}};
    u.values = {{":c", AttributeValue::n(d.count)},
                {":s", AttributeValue::n(d.sum)},
                {":t", AttributeValue::n(d.period_start + d.period_seconds +
                                         static_cast<int64_t>(options_.retention.count()))}};
    u.condition_expression.clear();
    if (ids) {
      add += ", #i :i";
      u.names["#i"] = "ids";
      u.values[":i"] = AttributeValue::ss(d.contributors);
      u.values[":n"] = AttributeValue::n(static_cast<int64_t>(options_.max_contributors));
      u.condition_expression = "attribute_not_exists(#i) OR size(#i) < :n";
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
    if (ids && r.code == DynamoResult::Code::kConditionFailed) {
      mark_contributors_full(period_id);
      continue;  // the same write without the ids
    }
    if (!r.ok())
      return fail(r, fmt::format("UpdateItem of {} period {}",
                                 describe_instance(d.alarm_key, d.dimensions_key), d.period_start));
    totals = totals_from(after, d.alarm_key, d.dimensions_key, d.period_start);
    if (ids && totals.contributors.size() >= options_.max_contributors)
      mark_contributors_full(period_id);
    break;
  }
  // if_not_exists kept an older extreme: correct it when this delta goes beyond it.
  if (d.min && totals.min && *d.min < *totals.min) {
    StoreStatus s = correct_extreme(u.key, true, *d.min);
    if (!s.ok) return s;
    totals.min = *d.min;
  }
  if (d.max && totals.max && *d.max > *totals.max) {
    StoreStatus s = correct_extreme(u.key, false, *d.max);
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

DynamoDbAlarmStoreCounters DynamoDbAlarmStore::counters() const {
  return {requests_.load(),        retries_.load(),          updates_.load(),
          extreme_updates_.load(), transitions_won_.load(),  transitions_lost_.load(),
          failures_.load()};
}

}  // namespace trailwarden::store
