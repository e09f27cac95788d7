// DynamoDbAlarmStore: the AlarmStore (alarm_store.h) of several agents, in one DynamoDB table
// (docs/alarms.md "The DynamoDB store" has the table, its creation, IAM and cost).
//
// Table: partition key "pk" (S), sort key "sk" (S), TTL attribute "expires_at" (N), on-demand.
//   pk  "<alarm_key>#<hex of the first 16 bytes of SHA-256(dimensions_key)>": one partition per
//       alarm instance, of fixed length whatever the dimension values;
//   sk  "p#<period start, 20 digits, zero-padded>" for a period item: cnt (N), sm (N), mn (N),
//       mx (N), ids (SS, contributing eventIDs), un (BS, the 16-byte unit_digest() of every
//       unit counted in the period, at most max_units), expires_at = period end + retention;
//       "state" for the instance's state item: st (S), ver (N), changed (N), reason (S),
//       end (N, the newest period of the deciding evaluation), early (BOOL), recent (S, the
//       uids of the last kRecentTransitions transitions, newest first, space-separated),
//       writer (S, a random token per write), alarm (S), dims (S),
//       expires_at = changed + state_retention.
//   pk "<alarm_key>#instances", sk "i#<the same 32 hex>": the alarm's instance index: dims (S),
//       first (N), expires_at = the newest registered period + retention (refreshed by the
//       agents while the instance has data);
//   "state" sorts after every "p#..." key, so one Query (sk >= "p#<from>") reads the periods
//   from a given start and the state together.
// Exactly once per unit: add() is one UpdateItem (ADD cnt, sm, ids, un; SET expires_at, and
// mn/mx with if_not_exists) on the condition that un does not contain the unit's digest and
// holds fewer than max_units digests (and, with ids, that ids holds fewer than
// max_contributors). When the condition fails, one consistent GetItem of the period tells why:
// the unit is there (already_counted: the totals are the item's, nothing is added — also when
// it was this call's own first try whose answer was lost), or a set is full (remembered per
// agent and period; the write goes again without that part). Beyond max_units a period counts
// new units without remembering them (`unguarded`, counted, logged once per agent and period):
// their write still refuses a unit that is in the set, but a redelivery of an unremembered
// unit counts again. Bound and cost: docs/alarms.md, "Consistency".
// Requests: add() is that UpdateItem, plus one conditional UpdateItem only when this delta
// lowers the stored minimum or raises the stored maximum (never for Sum/SampleCount alarms,
// which pass no min/max), plus the GetItem and the write again when the condition failed (a
// repeated unit; once per agent and period when a set turns full). add_batch() merges deltas
// of one unit and period first: one UpdateItem per unit and period touched.
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
  // Unit digests kept per period (16 bytes each, so a full period item is about
  // 16 * max_units + 150 bytes, and every write to it costs that many KB): units beyond it are
  // counted without the exactly-once guarantee. At most 20000 (DynamoDB's item limit is 400 KB).
  size_t max_units = 1000;
};

inline constexpr size_t kMaxUnitsLimit = 20000;


// Requests sent and their outcomes, for metrics and the figures in docs/alarms.md.
struct DynamoDbAlarmStoreCounters {
  uint64_t requests = 0;           // HTTP requests, retries included
  uint64_t retries = 0;            // of those, repeats after a retryable failure
  uint64_t updates = 0;            // UpdateItem calls
  uint64_t extreme_updates = 0;    // of those, conditional mn/mx corrections
  uint64_t checks = 0;             // GetItems after a write's condition failed
  uint64_t already_counted = 0;    // adds whose unit the period already held (nothing added)
  uint64_t unguarded = 0;          // adds counted beyond max_units, without their digest
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
// "<alarm_key>#instances": the partition of an alarm's instance index.
std::string alarm_index_partition_key(const std::string& alarm_key);
// "p#00000000001714564800".
std::string period_sort_key(int64_t period_start);

class DynamoDbAlarmStore final : public AlarmStore {
 public:
  // Throws std::invalid_argument for an empty table name, max_contributors 0, or max_units 0
  // or above 20000.
  DynamoDbAlarmStore(DynamoDbAlarmStoreOptions options, std::shared_ptr<DynamoDbClient> client);

  // The start-up check (check_dynamodb_table, dynamodb_table_check.h): DescribeTable (the
  // table exists, is ACTIVE, and its key schema is pk HASH S, sk RANGE S) and
  // DescribeTimeToLive (TTL enabled on expires_at; otherwise a warning: nothing breaks, old
  // periods are just never deleted). A failure names the table, the region and what is wrong;
  // retryable while the table is CREATING or AWS throttles.
  StoreStatus check_table(std::vector<std::string>& warnings);

  StoreStatus add(const PeriodDelta& delta, PeriodTotals& totals) override;
  StoreStatus add_batch(const std::vector<PeriodDelta>& deltas,
                        std::vector<PeriodTotals>& totals) override;
  StoreStatus transition(const TransitionRequest& request, TransitionOutcome& outcome) override;
  StoreStatus load(const std::string& alarm_key, const std::string& dimensions_key,
                   int64_t from_period, LoadedInstance& out) override;
  StoreStatus register_instance(const IndexedInstance& instance) override;
  StoreStatus list_instances(const std::string& alarm_key,
                             std::vector<IndexedInstance>& out) override;

  DynamoDbAlarmStoreCounters counters() const;

 private:
  StoreStatus fail(const DynamoResult& r, std::string_view what);
  void count(const DynamoResult& r);
  // One period, deltas already merged (contributors already bounded).
  StoreStatus add_merged(const PeriodDelta& delta, PeriodTotals& totals);
  // Whether a period's set is known full; marking returns true the first time.
  bool is_full(const std::unordered_set<std::string>& set, const std::string& key) const;
  bool mark_full(std::unordered_set<std::string>& set, const std::string& key);
  // The conditional corrections of the stored extremes this delta goes beyond.
  StoreStatus correct_extremes(const PeriodDelta& d, const Item& key, PeriodTotals& totals);
  // Lowers the stored mn (or raises mx) to `value` if it is beyond it.
  StoreStatus correct_extreme(const Item& key, bool minimum, double value);

  DynamoDbAlarmStoreOptions options_;
  std::shared_ptr<DynamoDbClient> client_;
  // Periods (pk + sk) whose stored contributor set (ids_full_) or unit set (units_full_) is
  // known to be full: their adds carry no ids, or no digest. Bounded: each is cleared when it
  // reaches kFullCacheLimit entries (costing at most one refused write and one GetItem per
  // period afterwards).
  static constexpr size_t kFullCacheLimit = 10000;
  mutable std::mutex full_mutex_;
  std::unordered_set<std::string> ids_full_, units_full_;
  std::atomic<uint64_t> requests_{0}, retries_{0}, updates_{0}, extreme_updates_{0}, checks_{0},
      already_counted_{0}, unguarded_{0}, transitions_won_{0}, transitions_lost_{0},
      failures_{0};
};

}  // namespace trailwarden::store
