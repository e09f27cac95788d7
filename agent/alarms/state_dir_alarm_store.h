// StateDirAlarmStore: the AlarmStateStore (alarm_state_store.h) of one agent, in one journal
// file in its state directory (`<state_dir>/alarms.journal`; format: alarm_journal_format.h).
// The file mechanics (lock, reading back, appends cut off on failure, rewrites, the compaction
// trigger and the size bound) are store/journal_file.h's; this class says what the entries mean.
//
// - open() takes `<path>.lock` (flock): a second agent on the same state directory is refused.
// - commit(): one record appended and fdatasync'ed before it returns (one sync per unit that
//   changed an alarm; units without datapoints commit nothing). A failed write or sync is cut off
//   again (ftruncate to the size before it) so the file never holds a commit the caller was told
//   failed; if even that fails, the journal is broken. A commit into a broken journal, or one
//   that would pass max_journal_bytes (compactions failing: a full disk), first rewrites the
//   journal as a snapshot (at most every `rewrite_retry` while that fails) and fails only if it
//   cannot (the units are retried by their source, nothing is counted twice; the error says
//   so): the agent recovers by itself once the disk has room.
// - delivered(): a mark appended without a sync (the next commit's sync carries it; losing it
//   only sends those alerts again, which the de-duplication window drops).
// - The journal is rewritten as a snapshot of what it holds (a fresh file beside it, never
//   through a link, synced, renamed over it, directory synced) at open() and when it passes
//   `compact_bytes` and twice the last snapshot's size; after a failed rewrite, not again before
//   it doubled.
// - open(): reads the file back. An append cut short by a crash (a torn record at the end) is
//   dropped: it was never reported committed. A damaged record (a flipped byte on disk) is
//   stepped over, logged with its offset and counted (damaged_records()): what it held is lost
//   — one instance, one transition or 4,096 remembered units of a snapshot, or one commit —, and
//   the damaged file is kept as `<path>.damaged`. A file with an entry of a newer format, or
//   whose records are none of them journal entries, is refused and left as it is.
// - Bounded: the last `max_units` unit identities (as 16-byte SHA-256 prefixes) and the last
//   `max_undelivered` undelivered transitions (older ones dropped with an error log and counted);
//   instances as many as the stage allows.
// Not thread-safe (the stage calls it under its lock).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "agent/alarms/alarm_journal_format.h"
#include "agent/alarms/alarm_state_store.h"
#include "agent/store/journal_file.h"

namespace trailwarden::alarms {

struct StateDirAlarmStoreOptions {
  size_t max_units = 200'000;
  size_t max_undelivered = 10'000;
  uint64_t compact_bytes = uint64_t{8} << 20;
  // Commits fail (their units are retried) once the journal would pass this: only when
  // compaction keeps failing (a full disk).
  uint64_t max_journal_bytes = uint64_t{512} << 20;
  // A broken or full journal is rewritten before a commit at most this often while that fails.
  std::chrono::milliseconds rewrite_retry{10'000};
};

class StateDirAlarmStore final : public AlarmStateStore {
 public:
  StateDirAlarmStore(std::string path, StateDirAlarmStoreOptions options = {});
  ~StateDirAlarmStore() override;
  StateDirAlarmStore(const StateDirAlarmStore&) = delete;
  StateDirAlarmStore& operator=(const StateDirAlarmStore&) = delete;

  // Reads the journal (creating it if absent) and rewrites it compacted. False with `error`
  // naming the file when it cannot be read or written.
  bool open(std::string& error);

  bool load(SavedAlarmState& out, std::string& error) override;
  bool counted(std::string_view unit, std::vector<AlertRecord>& undelivered) override;
  bool commit(const AlarmCommit& commit, std::string& error) override;
  void delivered(const std::vector<std::string>& uids) override;
  std::vector<AlertRecord> undelivered() override;

  const std::string& path() const { return journal_.path(); }
  uint64_t damaged_records() const { return journal_.damaged_records(); }
  uint64_t undelivered_dropped() const { return undelivered_dropped_; }
  uint64_t compactions() const { return journal_.compactions(); }
  uint64_t file_bytes() const { return journal_.file_bytes(); }
  size_t units_remembered() const { return unit_order_.size(); }

 private:
  void apply(const journal::Entry& e);
  void remember_unit(const std::string& digest);
  void add_undelivered(const std::string& unit, const AlertRecord& alert);
  bool compact(std::string& error);  // rewrites the journal as a snapshot of what it holds

  const StateDirAlarmStoreOptions options_;
  store::JournalFile journal_;
  std::chrono::steady_clock::time_point next_rewrite_{};  // after a failed rewrite before a commit
  uint64_t undelivered_dropped_ = 0;

  int64_t stream_ms_ = 0;
  std::map<std::string, SavedInstance> instances_;  // by rule id + '\n' + dimension key
  std::deque<std::string> unit_order_;
  std::unordered_set<std::string> units_;
  uint64_t next_seq_ = 0;
  std::map<uint64_t, journal::PendingTransition> undelivered_;  // by commit order
  std::unordered_map<std::string, uint64_t> undelivered_by_uid_;
};

}  // namespace trailwarden::alarms
