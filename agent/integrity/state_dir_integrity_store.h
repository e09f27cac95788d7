// StateDirIntegrityStore: the integrity stage's ledger (integrity_ledger.h) kept across restarts,
// in one journal file in the agent's state directory (`<state_dir>/integrity.journal`; entries:
// integrity_journal_format.h; file mechanics: store/journal_file.h — the lock against a second
// agent, torn and damaged records, the size bound).
//
// - open(): reads the journal back into a ledger (an item replaces the one of the same name, in
//   file order) and rewrites it compacted. A damaged record costs what it held (counted in
//   damaged_records(), logged, the file kept as `.damaged`): a log file or digest the stage then
//   does not know is read again or backfilled, never reported as missing on that account alone.
// - commit(): the changes of one unit or tick as one entry; with `sync`, fdatasync'ed before it
//   returns (a unit is acknowledged only after its changes are on disk). False with `error` when
//   it could not be written: nothing of it is in the file, the caller keeps the changes and
//   commits them again.
// - delivered(): a mark appended without a sync (losing it sends a finding again after a restart,
//   which the de-duplication window drops).
// - compact(): the whole ledger rewritten as entries of at most kItemsPerRecord items; the stage
//   calls it when wants_compaction() (the journal doubled since the last rewrite).
// Not thread-safe: the stage calls it under its lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/integrity/integrity_journal_format.h"
#include "agent/integrity/integrity_ledger.h"
#include "agent/store/journal_file.h"

namespace trailwarden::integrity {

class StateDirIntegrityStore {
 public:
  static constexpr size_t kItemsPerRecord = 2048;

  explicit StateDirIntegrityStore(std::string path, store::JournalFileOptions options = {});

  bool open(IntegrityLedger& out, std::string& error);
  bool commit(const journal::Entry& changes, bool sync, std::string& error);
  void delivered(const std::vector<std::string>& uids, int64_t now_ms);
  bool wants_compaction() const { return file_.wants_compaction(); }
  // A commit failed and only a rewrite can help: the journal is broken (a failed write could
  // not be cut off) or nearly at its size limit (compactions kept failing).
  bool needs_rewrite() const { return file_.broken() || !file_.room_for(uint64_t{1} << 20); }
  bool compact(const IntegrityLedger& ledger, std::string& error);

  const std::string& path() const { return file_.path(); }
  uint64_t damaged_records() const { return file_.damaged_records(); }
  uint64_t compactions() const { return file_.compactions(); }
  uint64_t file_bytes() const { return file_.file_bytes(); }

 private:
  store::JournalFile file_;
};

}  // namespace trailwarden::integrity
