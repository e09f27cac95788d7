// JournalFile: an append-only journal file in the state directory, the file mechanics shared by
// the alarm journal (alarms/state_dir_alarm_store.h) and the integrity ledger's journal
// (integrity/state_dir_integrity_store.h). What the records mean is the owner's business; this
// class only stores, reads back and rewrites them.
//
// The file is a segment file (outputs/delivery/segment_format.h: a file header, then records each
// with its own CRC-32C).
// - open(): takes `<path>.lock` (flock, non-blocking): a second agent on the same state
//   directory is refused. Reads the file (created if absent) and hands every intact record's
//   payload to the caller's `entry` callback, in file order:
//   - an append a crash cut short (a torn record at the end) is dropped with an info log: it was
//     never reported written;
//   - a damaged record (a flipped byte on disk), or one `entry` calls kMalformed, is stepped
//     over, logged with its offset and counted (damaged_records()); the damaged file is kept as
//     `<path>.damaged` (one copy: the latest);
//   - a file with a segment header of a newer format, an entry `entry` calls kNewer, no file
//     header and no record, or records of which none is an entry, is refused (false, `error`
//     says why) and left as it is;
//   - it ends with nothing: the caller rewrites it (rewrite()) with what it loaded.
// - append(): one record at the end; with `sync`, fdatasync'ed before it returns. A failed write
//   or sync is cut off again (ftruncate to the size before it) so the file never holds a record
//   the caller was told failed; if even that fails the journal is broken(): every later append
//   fails, until a rewrite() succeeds.
// - rewrite(): a fresh file beside it (`<path>.tmp`, created O_EXCL|O_NOFOLLOW after an unlink,
//   never through a link), the records `emit` adds written in chunks (not one string: a ledger
//   may hold a million entries), synced, renamed over the journal, directory synced; appends
//   continue after it. On failure the old journal stays as it was.
// - wants_compaction(): the file passed `compact_bytes` and twice the size of the last rewrite,
//   and twice its size when a rewrite last failed (compaction_failed()): a failing compaction is
//   not retried at every append.
// - room_for(n): false once an append of n payload bytes would pass `max_journal_bytes` (only
//   when compaction keeps failing: a full disk).
// Messages name the file as "<what> <path>" (what: "alarm state", "integrity state").
// Not thread-safe: the owner calls it under its lock.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace trailwarden::store {

struct JournalFileOptions {
  uint64_t compact_bytes = uint64_t{8} << 20;
  uint64_t max_journal_bytes = uint64_t{512} << 20;
  // A failpoint (common/failpoint.h) hit by rewrite() after the fresh file is synced and before
  // it is renamed over the journal ("" none): the crash tests' "before-alarm-compact-rename".
  std::string rewrite_failpoint;
};

class JournalFile {
 public:
  enum class Decoded {
    kOk,
    kMalformed,  // not an entry: counted damaged, stepped over
    kNewer,      // written by a newer agent: open() refuses the file
  };
  // `why` says what is wrong when not kOk.
  using EntryFn = std::function<Decoded(std::string_view payload, std::string& why)>;
  // Called by rewrite(): `add` appends one record with `payload`.
  using EmitFn = std::function<void(const std::function<void(std::string_view payload)>& add)>;

  JournalFile(std::string path, std::string what, JournalFileOptions options = {});
  ~JournalFile();
  JournalFile(const JournalFile&) = delete;
  JournalFile& operator=(const JournalFile&) = delete;

  bool open(const EntryFn& entry, std::string& error);
  bool append(std::string_view payload, bool sync, std::string& error);
  bool rewrite(const EmitFn& emit, std::string& error);

  bool wants_compaction() const;
  void compaction_failed();
  bool room_for(uint64_t payload_bytes) const;

  bool broken() const { return broken_; }
  const std::string& broken_reason() const { return broken_reason_; }
  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }
  uint64_t damaged_records() const { return damaged_; }
  uint64_t compactions() const { return compactions_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  const std::string path_;
  const std::string what_;
  const JournalFileOptions options_;
  int fd_ = -1;
  int lock_fd_ = -1;  // <path>.lock, flock'ed while open
  bool broken_ = false;
  std::string broken_reason_;
  uint64_t file_bytes_ = 0;
  uint64_t snapshot_bytes_ = 0;     // of the last rewrite
  uint64_t compact_failed_at_ = 0;  // file size when a rewrite last failed (0: none since)
  uint64_t damaged_ = 0;
  uint64_t compactions_ = 0;
};

}  // namespace trailwarden::store
