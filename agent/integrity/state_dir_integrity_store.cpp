#include "agent/integrity/state_dir_integrity_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace trailwarden::integrity {

namespace {

store::JournalFileOptions with_failpoint(store::JournalFileOptions o) {
  if (o.rewrite_failpoint.empty()) o.rewrite_failpoint = "before-integrity-compact-rename";
  return o;
}

}  // namespace

StateDirIntegrityStore::StateDirIntegrityStore(std::string path, store::JournalFileOptions options)
    : file_(std::move(path), "integrity state", with_failpoint(std::move(options))) {}

bool StateDirIntegrityStore::open(IntegrityLedger& out, std::string& error) {
  out = IntegrityLedger{};
  const bool opened = file_.open(
      [&out](std::string_view payload, std::string& why) {
        journal::Entry e;
        switch (journal::decode(payload, e, why)) {
          case journal::DecodeResult::kOk:
            journal::apply(e, out);
            return store::JournalFile::Decoded::kOk;
          case journal::DecodeResult::kNewer:
            return store::JournalFile::Decoded::kNewer;
          case journal::DecodeResult::kMalformed:
            break;
        }
        return store::JournalFile::Decoded::kMalformed;
      },
      error);
  if (!opened) return false;
  if (!compact(out, error)) return false;
  spdlog::info("integrity state {}: {} chains, {} log files listed, {} read and not yet listed, "
               "{} findings not yet delivered",
               path(), out.chains.size(), out.expected.size(), out.seen.size(),
               out.outbox.size());
  return true;
}

bool StateDirIntegrityStore::commit(const journal::Entry& changes, bool sync, std::string& error) {
  if (file_.broken()) {
    error = fmt::format("integrity state {}: a failed write could not be undone ({}); no "
                        "integrity state is saved until the agent restarts",
                        path(), file_.broken_reason());
    return false;
  }
  const std::string payload = journal::encode(changes);
  if (!file_.room_for(payload.size())) {
    error = fmt::format("integrity state {}: the journal has {} bytes, its limit, and cannot be "
                        "compacted; no integrity state is saved until it can be (free disk space)",
                        path(), file_.file_bytes());
    return false;
  }
  return file_.append(payload, sync, error);
}

void StateDirIntegrityStore::delivered(const std::vector<std::string>& uids, int64_t now_ms) {
  if (uids.empty() || file_.broken()) return;
  journal::Entry e;
  e.saved_ms = now_ms;
  e.delivered = uids;
  std::string error;
  if (!file_.append(journal::encode(e), false, error))
    spdlog::warn("{}: the delivery of {} integrity findings is not recorded; they are sent again "
                 "after a restart (and dropped as duplicates)",
                 error, uids.size());
}

bool StateDirIntegrityStore::compact(const IntegrityLedger& ledger, std::string& error) {
  const bool ok = file_.rewrite(
      [&ledger](const std::function<void(std::string_view)>& add) {
        journal::Entry e;
        auto flush = [&](bool force) {
          if (e.items() >= kItemsPerRecord || (force && (!e.empty() || e.saved_ms != 0))) {
            add(journal::encode(e));
            e = journal::Entry{};
          }
        };
        // The first record carries the coverage and time even when the ledger is empty.
        e.saved_ms = ledger.saved_ms;
        e.coverage_from_ms = ledger.coverage_from_ms;
        for (const auto& [id, c] : ledger.chains) {
          e.chains.emplace_back(id, c);
          flush(false);
        }
        for (const auto& [name, x] : ledger.expected) {
          e.expected.emplace_back(name, x);
          flush(false);
        }
        for (const auto& [name, s] : ledger.seen) {
          e.seen.emplace_back(name, s);
          flush(false);
        }
        for (const auto& [uid, a] : ledger.outbox) {
          e.findings.push_back(a);
          flush(false);
        }
        flush(true);
      },
      error);
  if (!ok) {
    file_.compaction_failed();
    return false;
  }
  return true;
}

}  // namespace trailwarden::integrity
