// DynamoDbAlarmStore: the AlarmStore (alarm_store.h) of several agents, in one DynamoDB table
// (docs/alarms.md "The DynamoDB store" has the table, its creation, IAM and cost).
//
// Table: partition key "pk" (S), sort key "sk" (S), TTL attribute "expires_at" (N), on-demand.
//   pk  "<alarm_key>#<hex of the first 16 bytes of SHA-256(dimensions_key)>": one partition per
//       alarm instance, of fixed length whatever the dimension values;
//   sk  "p#<period start, 20 digits, zero-padded>" for a period item: cnt (N), sm (N), mn (N),
//       mx (N), ids (SS, contributing eventIDs), expires_at = period end + retention;
//       "state" for the instance's state item: st (S), ver (N), changed (N), reason (S),
//       writer (S, a random token per write), alarm (S), dims (S),
//       expires_at = changed + state_retention.
//   "state" sorts after every "p#..." key, so one Query (sk >= "p#<from>") reads the periods
//   from a given start and the state together.
// Requests: add() is one UpdateItem (ADD cnt, sm, ids; SET expires_at, and mn/mx with
// if_not_exists), plus one conditional UpdateItem only when this delta lowers the stored
// minimum or raises the stored maximum (never for Sum/SampleCount alarms, which pass no
// min/max), plus once per agent and period the same write without ids when the stored
// contributor set turns out full. add_batch() merges deltas of one period first: one UpdateItem per period touched.
// transition() is one conditional PutItem (plus one consistent GetItem when a retried write
// fails its condition: the writer token tells whether the first try had won); load() one
// Query (a page per MB of items).
// DynamoDB has no batched UpdateItem (BatchWriteItem only puts and deletes whole items, and
// TransactWriteItems costs twice), so merging is the batching.
// Thread-safe (the client is; counters are atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "agent/store/alarm_store.h"
#include "agent/store/dynamodb_client.h"

namespace trailwarden::store {

struct DynamoDbAlarmStoreOptions {
  std::string table;
  // Period items expire this long after their period ends: at least the longest alarm's
  // evaluation window plus the lateness allowance.
  std::chrono::seconds retention{std::chrono::hours(24)};
  // The state item expires this long after the instance's last transition.
  std::chrono::seconds state_retention{std::chrono::hours(24 * 90)};
  // eventIDs kept per period: sent with an add only while the stored set is smaller (a
  // condition on the write), so a period's set never exceeds twice this and its item stays
  // well below 1 KB of ids (a write costs one unit per KB of the item).
  size_t max_contributors = 10;
};

// Requests sent and their outcomes, for metrics and the figures in docs/alarms.md.
struct DynamoDbAlarmStoreCounters {
  uint64_t requests = 0;           // HTTP requests, retries included
  uint64_t retries = 0;            // of those, repeats after a retryable failure
  uint64_t updates = 0;            // UpdateItem calls
  uint64_t extreme_updates = 0;    // of those, conditional mn/mx corrections
  uint64_t transitions_won = 0;
  uint64_t transitions_lost = 0;
  uint64_t failures = 0;           // calls that returned !ok
};

// The key names and types the table must have.
inline constexpr const char* kAlarmTablePartitionKey = "pk";
inline constexpr const char* kAlarmTableSortKey = "sk";
inline constexpr const char* kAlarmTableTtlAttribute = "expires_at";

// "<alarm_key>#<32 hex>": the partition of an alarm instance.
std::string alarm_partition_key(const std::string& alarm_key, const std::string& dimensions_key);
// "p#00000000001714564800".
std::string period_sort_key(int64_t period_start);

class DynamoDbAlarmStore final : public AlarmStore {
 public:
  // Throws std::invalid_argument for an empty table name or max_contributors 0.
  DynamoDbAlarmStore(DynamoDbAlarmStoreOptions options, std::shared_ptr<DynamoDbClient> client);

  // The start-up check: DescribeTable (the table exists, is ACTIVE, and its key schema is
  // pk HASH S, sk RANGE S) and DescribeTimeToLive (TTL enabled on expires_at; otherwise a
  // warning: nothing breaks, old periods are just never deleted). A failure names the table,
  // the region and what is wrong; retryable while the table is CREATING or AWS throttles.
  StoreStatus check_table(std::vector<std::string>& warnings);

  StoreStatus add(const PeriodDelta& delta, PeriodTotals& totals) override;
  StoreStatus add_batch(const std::vector<PeriodDelta>& deltas,
                        std::vector<PeriodTotals>& totals) override;
  StoreStatus transition(const TransitionRequest& request, TransitionOutcome& outcome) override;
  StoreStatus load(const std::string& alarm_key, const std::string& dimensions_key,
                   int64_t from_period, LoadedInstance& out) override;

  DynamoDbAlarmStoreCounters counters() const;

 private:
  StoreStatus fail(const DynamoResult& r, std::string_view what);
  void count(const DynamoResult& r);
  // One period, deltas already merged (contributors already bounded).
  StoreStatus add_merged(const PeriodDelta& delta, PeriodTotals& totals);
  bool contributors_full(const std::string& key) const;
  void mark_contributors_full(const std::string& key);
  // Lowers the stored mn (or raises mx) to `value` if it is beyond it.
  StoreStatus correct_extreme(const Item& key, bool minimum, double value);

  DynamoDbAlarmStoreOptions options_;
  std::shared_ptr<DynamoDbClient> client_;
  // Periods (pk + sk) whose stored contributor set is known to be full: their adds carry no
  // ids. Bounded: cleared when it reaches kFullCacheLimit entries (costing at most one refused
  // write per period afterwards).
  static constexpr size_t kFullCacheLimit = 10000;
  mutable std::mutex full_mutex_;
  std::unordered_set<std::string> full_;
  std::atomic<uint64_t> requests_{0}, retries_{0}, updates_{0}, extreme_updates_{0},
      transitions_won_{0}, transitions_lost_{0}, failures_{0};
};

}  // namespace trailwarden::store
