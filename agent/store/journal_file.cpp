#include "agent/store/journal_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/common/failpoint.h"
#include "outputs/delivery/segment_format.h"

namespace trailwarden::store {

namespace {

// A journal larger than this (or than twice max_journal_bytes, if that is more) is not read.
// Appends stop at max_journal_bytes, so only a file this agent did not write can be larger.
constexpr uint64_t kMaxReadBytes = uint64_t{1} << 30;
// rewrite() hands the fresh file what it has gathered once it holds this much.
constexpr size_t kRewriteChunk = size_t{1} << 20;

std::string errno_text(int e = errno) { return std::strerror(e); }

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool read_all(int fd, uint64_t limit, std::string& out, std::string& error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return error = errno_text(), false;
  if (static_cast<uint64_t>(st.st_size) > limit) {
    error = fmt::format("{} bytes, more than the {} a journal may have", st.st_size, limit);
    return false;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error = errno_text(), false;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return true;
}

bool sync_directory(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// "alarm state" -> "an alarm journal", "integrity state" -> "an integrity journal".
std::string journal_noun(const std::string& what) {
  std::string_view noun = what;
  constexpr std::string_view kState = " state";
  if (noun.size() > kState.size() && noun.substr(noun.size() - kState.size()) == kState)
    noun.remove_suffix(kState.size());
  const bool vowel = !noun.empty() && std::strchr("aeiouAEIOU", noun.front()) != nullptr;
  return fmt::format("{} {} journal", vowel ? "an" : "a", noun);
}

}  // namespace

JournalFile::JournalFile(std::string path, std::string what, JournalFileOptions options)
    : path_(std::move(path)), what_(std::move(what)), options_(std::move(options)) {}

JournalFile::~JournalFile() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

bool JournalFile::open(const EntryFn& entry, std::string& error) {
  if (lock_fd_ >= 0) {
    error = fmt::format("{} {}: already open", what_, path_);
    return false;
  }
  // One agent per journal: a second one on the same state directory would append to a file the
  // first one replaces at its next rewrite, and lose its appends.
  const std::string lock_path = path_ + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) {
    error = fmt::format("{} {}: cannot open {}: {}", what_, path_, lock_path, errno_text());
    return false;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    error = fmt::format("{} {}: another agent uses it (its lock {} is held): each agent needs its "
                        "own general.state_dir",
                        what_, path_, lock_path);
    return false;
  }
  // Held from here on, also when the file is refused below (released by the destructor).
  lock_fd_ = lock_fd;
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = fmt::format("{} {}: cannot open: {}", what_, path_, errno_text());
    return false;
  }
  std::string data;
  std::string why;
  const bool read =
      read_all(fd, std::max(kMaxReadBytes, 2 * options_.max_journal_bytes), data, why);
  ::close(fd);
  if (!read) {
    error = fmt::format("{} {}: cannot read: {}", what_, path_, why);
    return false;
  }
  const segment::ScanResult scan = segment::scan(data, true);
  if (scan.format == segment::Format::kNewer) {
    error = fmt::format("{} {}: written by a newer agent (format {}); refusing to overwrite it",
                        what_, path_, scan.version);
    return false;
  }
  const bool any_record =
      std::any_of(scan.items.begin(), scan.items.end(),
                  [](const segment::Item& i) { return i.kind == segment::Item::Kind::kRecord; });
  if (scan.format == segment::Format::kV1 || (scan.header_damaged && !any_record)) {
    error = fmt::format("{} {}: not {} (no file header, no entry); refusing to overwrite it (move "
                        "it away to start with no {})",
                        what_, path_, journal_noun(what_), what_);
    return false;
  }
  uint64_t entries = 0, records = 0, damaged = 0;
  for (const segment::Item& item : scan.items) {
    switch (item.kind) {
      case segment::Item::Kind::kTorn:  // an append a crash cut short: never reported written
        spdlog::info("{} {}: an incomplete last entry ({} bytes at offset {}) is dropped: it was "
                     "never reported written",
                     what_, path_, item.size, item.offset);
        break;
      case segment::Item::Kind::kDamaged:
        damaged += item.records;
        spdlog::error("{} {}: {} damaged bytes at offset {} ({} entries) are skipped; what they "
                      "held is lost",
                      what_, path_, item.size, item.offset, item.records);
        break;
      case segment::Item::Kind::kRecord: {
        ++records;
        why.clear();
        switch (entry(item.payload, why)) {
          case Decoded::kNewer:
            error = fmt::format("{} {}: written by a newer agent ({} at offset {}); refusing to "
                                "overwrite it",
                                what_, path_, why, item.offset);
            return false;
          case Decoded::kMalformed:
            ++damaged;
            spdlog::error("{} {}: the entry at offset {} cannot be read ({}); it is skipped and "
                          "what it held is lost",
                          what_, path_, item.offset, why);
            break;
          case Decoded::kOk:
            ++entries;
            break;
        }
        break;
      }
    }
  }
  if (records > 0 && entries == 0) {
    error = fmt::format("{} {}: not {} (none of its {} records is a journal entry); refusing to "
                        "overwrite it (move it away to start with no {})",
                        what_, path_, journal_noun(what_), records, what_);
    return false;
  }
  damaged_ += damaged;
  if (damaged > 0) {
    // The evidence is kept (one copy: the latest) before the caller rewrites the journal.
    const std::string kept = path_ + ".damaged";
    std::error_code ec;
    std::filesystem::remove(kept, ec);
    std::filesystem::copy_file(path_, kept, ec);
    if (ec)
      spdlog::error("{} {}: cannot keep a copy of the damaged journal as {}: {}", what_, path_,
                    kept, ec.message());
    else
      spdlog::error("{} {}: the damaged journal is kept as {}", what_, path_, kept);
  }
  file_bytes_ = data.size();
  return true;
}

bool JournalFile::append(std::string_view payload, bool sync, std::string& error) {
  if (fd_ < 0) {
    error = fmt::format("{} {}: not open", what_, path_);
    return false;
  }
  if (broken_) {
    error = fmt::format("{} {}: a failed write could not be undone ({})", what_, path_,
                        broken_reason_);
    return false;
  }
  std::string record;
  record.reserve(segment::kRecordHeaderSize + payload.size());
  segment::append_record(record, payload);
  const bool written = write_all(fd_, record);
  const bool synced = written && (!sync || ::fdatasync(fd_) == 0);
  if (written && synced) {
    file_bytes_ += record.size();
    return true;
  }
  error = fmt::format("{} {}: cannot {}: {}", what_, path_, written ? "sync" : "write",
                      errno_text());
  // Cut the record off again: the file must not hold what the caller is told failed.
  if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 || (sync && ::fdatasync(fd_) != 0)) {
    broken_ = true;
    broken_reason_ = error;
  }
  return false;
}

bool JournalFile::rewrite(const EmitFn& emit, std::string& error) {
  if (lock_fd_ < 0) {
    error = fmt::format("{} {}: not open", what_, path_);
    return false;
  }
  const std::string tmp = path_ + ".tmp";
  // Never through a link planted there: a fresh file or nothing.
  ::unlink(tmp.c_str());
  const int fd =
      ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = fmt::format("{} {}: cannot create {}: {}", what_, path_, tmp, errno_text());
    return false;
  }
  // Streamed: the records go to the file a chunk at a time, never all in memory at once.
  std::string chunk;
  chunk.reserve(kRewriteChunk + segment::kRecordHeaderSize + 4096);
  chunk = segment::file_header();
  uint64_t total = 0;
  int write_errno = 0;  // the first failed write; later records are not written
  const auto flush = [&] {
    if (write_errno == 0 && !write_all(fd, chunk)) write_errno = errno != 0 ? errno : EIO;
    total += chunk.size();
    chunk.clear();
  };
  emit([&](std::string_view payload) {
    if (write_errno != 0) return;
    segment::append_record(chunk, payload);
    if (chunk.size() >= kRewriteChunk) flush();
  });
  flush();
  if (write_errno == 0 && ::fdatasync(fd) != 0) write_errno = errno != 0 ? errno : EIO;
  if (write_errno != 0) {
    error = fmt::format("{} {}: cannot write {}: {}", what_, path_, tmp, errno_text(write_errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (!options_.rewrite_failpoint.empty()) failpoint::hit(options_.rewrite_failpoint);
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    error = fmt::format("{} {}: cannot replace it with {}: {}", what_, path_, tmp, errno_text());
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (!sync_directory(path_))
    spdlog::error("{} {}: cannot sync its directory after replacing it ({}); a power loss now may "
                  "bring back the previous journal",
                  what_, path_, errno_text());
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  file_bytes_ = snapshot_bytes_ = total;
  compact_failed_at_ = 0;
  broken_ = false;
  broken_reason_.clear();
  ++compactions_;
  return true;
}

bool JournalFile::wants_compaction() const {
  return file_bytes_ > options_.compact_bytes && file_bytes_ > 2 * snapshot_bytes_ &&
         file_bytes_ > 2 * compact_failed_at_;
}

void JournalFile::compaction_failed() { compact_failed_at_ = file_bytes_; }

bool JournalFile::room_for(uint64_t payload_bytes) const {
  return file_bytes_ + segment::kRecordHeaderSize + payload_bytes <= options_.max_journal_bytes;
}

}  // namespace trailwarden::store
