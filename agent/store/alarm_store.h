// AlarmStore: where the alarm stage keeps the per-period counts of each alarm instance and its
// state, so that they survive restarts and are shared by several agents reading disjoint parts
// of one stream. An alarm instance is (alarm_key, dimensions_key): the alarm's stable name and
// the canonical text of one dimension set ("" for an alarm without dimensions). Times are epoch
// seconds of the records' eventTime.
//
// Every delta names its unit: the unit of work its datapoints come from (one S3 object,
// "s3://bucket/key?versionId=v#etag"; one inline event; one Kafka message). The store counts
// each unit at most once per period, whoever sends it and however often.
//
// The contract every implementation keeps:
//   add()        adds a delta to one period atomically, unless the period already holds the
//                delta's unit, and returns the period's totals after it: concurrent adds from
//                any number of agents lose nothing and double nothing (Sum and SampleCount
//                exact; Minimum/Maximum the extremes of all deltas). When the unit was already
//                counted in that period (by another agent, an earlier call, or this call's own
//                earlier try whose answer was lost) nothing is added, the totals are the
//                period's current ones and `already_counted` says so. A store may bound the
//                units it remembers per period (DynamoDbAlarmStoreOptions::max_units): beyond
//                the bound it counts new units without remembering them, says so in
//                `unguarded`, counts and logs it;
//   add_batch()  add() for many deltas, deltas of the same unit and period merged first (one
//                write per unit and period, whatever the number of records); totals in the
//                order of first appearance of each (period, unit) in `deltas`. It stops at the
//                first failure: then `totals` lists the writes already applied (each exactly
//                once), and the caller retries only the others (retrying all is safe too: the
//                applied ones come back already_counted);
//   transition() a compare-and-set of the instance's state: it wins only when the stored state
//                is still (from_state, from_version) — version 0 meaning "never stored" — and
//                then stores (to_state, from_version + 1), and `recent` = uid followed by the
//                request's `recent` (bounded by kRecentTransitions). Of several agents racing
//                the same transition exactly one wins; only the winner notifies it;
//   load()       the periods starting at or after from_period and the state, read consistently
//                (reflecting every add() and transition() that returned before it began).
//   register_instance() / list_instances(): the index of an alarm's instances, so that every
//                agent evaluates every instance — also one whose datapoints all went to an
//                agent that has stopped. register_instance() is idempotent (the first
//                first_period stays) and keeps the entry at least `retention` past
//                `last_period`; list_instances() returns every entry of one alarm.
// A StoreStatus that is not ok() tells the caller to retry later (retryable) or to report the
// error (not retryable). The write that failed was not applied, except when its answer was lost
// in transit (a timeout after sending, some 5xx), when it may have been: retrying the add()
// is then safe, its unit is counted once (docs/alarms.md, "Consistency"). Implementations are
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trailwarden::store {

struct StoreStatus {
  bool ok = true;
  bool retryable = false;  // when !ok: worth trying again later (throttled, unreachable)
  std::string message;     // when !ok: what failed, naming the store, table and AWS code

  static StoreStatus success() { return {}; }
  static StoreStatus failure(bool retryable, std::string message) {
    return {false, retryable, std::move(message)};
  }
};

struct PeriodDelta {
  std::string unit;  // the unit's identity (above); required, any length (the store digests it)
  std::string alarm_key;
  std::string dimensions_key;
  int64_t period_start = 0;    // epoch seconds, a multiple of period_seconds
  int64_t period_seconds = 0;  // the alarm's period (10, 30, 60k)
  int64_t count = 0;           // SampleCount to add
  double sum = 0;              // Sum to add
  std::optional<double> min;   // the least value among the delta's samples
  std::optional<double> max;   // the greatest
  // eventIDs of contributing records (the store keeps at most its contributor bound).
  std::vector<std::string> contributors;
};

struct PeriodTotals {
  std::string alarm_key;
  std::string dimensions_key;
  int64_t period_start = 0;
  int64_t count = 0;
  double sum = 0;
  std::optional<double> min;
  std::optional<double> max;
  std::vector<std::string> contributors;  // sorted, without repeats
  // add(): the delta's unit was already counted in this period; nothing was added.
  bool already_counted = false;
  // add(): the period held the store's bound of units, so this one was counted without being
  // remembered: a redelivery of it would count again.
  bool unguarded = false;
};

struct AlarmInstanceState {
  std::string state;  // "OK", "ALARM", "INSUFFICIENT_DATA"; "" when never stored
  int64_t version = 0;  // 0 when never stored; +1 per transition
  int64_t changed_at = 0;
  std::string reason;
  int64_t range_end = 0;  // the start of the newest period the deciding evaluation covered
  bool early = false;     // decided by early firing, on a period still open
  // The uids of the last transitions written (newest first, at most kRecentTransitions): an
  // agent that journaled a transition and crashed before learning whether its write won finds
  // out here.
  std::vector<std::string> recent;
};

inline constexpr size_t kRecentTransitions = 8;

struct TransitionRequest {
  std::string alarm_key;
  std::string dimensions_key;
  std::string from_state;  // ignored when from_version == 0
  int64_t from_version = 0;
  std::string to_state;
  int64_t changed_at = 0;  // epoch seconds of the transition (the deciding period's end)
  std::string reason;      // NewStateReason
  int64_t range_end = 0;   // epoch seconds: the start of the newest period evaluated
  bool early = false;      // early firing (the periods up to range_end may still be open)
  std::string uid;         // the transition's finding uid (stored in the state's `recent`)
  std::vector<std::string> recent;  // the state's `recent` as read with from_version
};

enum class TransitionOutcome { kWon, kLost };

struct IndexedInstance {
  std::string alarm_key;
  std::string dimensions_key;
  int64_t first_period = 0;  // epoch seconds: the period of its first datapoint
  int64_t last_period = 0;   // register_instance(): the newest period it has data in
};

struct LoadedInstance {
  std::vector<PeriodTotals> periods;  // ascending period_start
  AlarmInstanceState state;
};

class AlarmStore {
 public:
  virtual ~AlarmStore() = default;
  virtual StoreStatus add(const PeriodDelta& delta, PeriodTotals& totals) = 0;
  virtual StoreStatus add_batch(const std::vector<PeriodDelta>& deltas,
                                std::vector<PeriodTotals>& totals) = 0;
  virtual StoreStatus transition(const TransitionRequest& request, TransitionOutcome& outcome) = 0;
  virtual StoreStatus load(const std::string& alarm_key, const std::string& dimensions_key,
                           int64_t from_period, LoadedInstance& out) = 0;
  virtual StoreStatus register_instance(const IndexedInstance& instance) = 0;
  virtual StoreStatus list_instances(const std::string& alarm_key,
                                     std::vector<IndexedInstance>& out) = 0;
};

// The 16 bytes a store keeps of a unit's identity (StageUnit::identity): the first half of its
// SHA-256, the same in every store (the state directory's journal, DynamoDB) and on every agent.
std::string unit_digest(std::string_view unit);

// Merges deltas of the same (unit, alarm_key, dimensions_key, period_start): counts and sums
// added,
// min/max combined, contributors concatenated (repeats dropped, at most `max_contributors`).
// Deltas of different units stay apart: a unit's write is applied only if the period does not
// hold that unit yet, so a write carrying two units could neither be applied (one of them
// already counted) nor be refused (the other not). Order: first appearance. Shared by the
// stores' add_batch().
std::vector<PeriodDelta> merge_deltas(const std::vector<PeriodDelta>& deltas,
                                      size_t max_contributors);

}  // namespace trailwarden::store
