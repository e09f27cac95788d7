// AlarmStore: where the alarm stage keeps the per-period counts of each alarm instance and its
// state, so that they survive restarts and are shared by several agents reading disjoint parts
// of one stream. An alarm instance is (alarm_key, dimensions_key): the alarm's stable name and
// the canonical text of one dimension set ("" for an alarm without dimensions). Times are epoch
// seconds of the records' eventTime.
//
// The contract every implementation keeps:
//   add()        adds a delta to one period atomically and returns the period's totals after
//                it: concurrent adds from any number of agents lose nothing and double nothing
//                (Sum and SampleCount exact; Minimum/Maximum the extremes of all deltas);
//   add_batch()  add() for many deltas, deltas of the same period merged first (one write per
//                period, whatever the number of records); totals in the order of first
//                appearance of each period in `deltas`. It stops at the first failure: then
//                `totals` lists the periods already applied (each exactly once), and the
//                caller retries only the others;
//   transition() a compare-and-set of the instance's state: it wins only when the stored state
//                is still (from_state, from_version) — version 0 meaning "never stored" — and
//                then stores (to_state, from_version + 1). Of several agents racing the same
//                transition exactly one wins; only the winner notifies it;
//   load()       the periods starting at or after from_period and the state, read consistently
//                (reflecting every add() and transition() that returned before it began).
// A StoreStatus that is not ok() tells the caller to retry later (retryable) or to report the
// error (not retryable). The write that failed was not applied, except when its answer was lost
// in transit (a timeout after sending, some 5xx), when it may have been: a retried add() then
// counts twice (docs/alarms.md, "Consistency"). Implementations are thread-safe.
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
};

struct AlarmInstanceState {
  std::string state;  // "OK", "ALARM", "INSUFFICIENT_DATA"; "" when never stored
  int64_t version = 0;  // 0 when never stored; +1 per transition
  int64_t changed_at = 0;
  std::string reason;
};

struct TransitionRequest {
  std::string alarm_key;
  std::string dimensions_key;
  std::string from_state;  // ignored when from_version == 0
  int64_t from_version = 0;
  std::string to_state;
  int64_t changed_at = 0;  // epoch seconds of the transition (the deciding period's end)
  std::string reason;      // NewStateReason
};

enum class TransitionOutcome { kWon, kLost };

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
};

// Merges deltas of the same (alarm_key, dimensions_key, period_start): counts and sums added,
// min/max combined, contributors concatenated (repeats dropped, at most `max_contributors`).
// Order: first appearance. Shared by the stores' add_batch().
std::vector<PeriodDelta> merge_deltas(const std::vector<PeriodDelta>& deltas,
                                      size_t max_contributors);

}  // namespace trailwarden::store
