#include "agent/alarms/state_dir_alarm_store.h"

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

#include "agent/alarms/metric_value.h"
#include "agent/store/alarm_store.h"
#include "agent/common/failpoint.h"
#include "outputs/delivery/segment_format.h"

namespace trailwarden::alarms {

namespace {

// A journal larger than this is not read. Commits stop at max_journal_bytes (below it), so only
// a file this agent did not write can be larger.
constexpr uint64_t kMaxJournalBytes = uint64_t{1} << 30;
// Remembered units per snapshot record.
constexpr size_t kUnitsPerRecord = 4096;

std::string instance_key(const SavedInstance& i) {
  return i.rule_id + "\n" + dimension_key(i.dimensions);
}

std::string errno_text() { return std::strerror(errno); }

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

bool read_all(int fd, std::string& out, std::string& error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return error = errno_text(), false;
  if (static_cast<uint64_t>(st.st_size) > kMaxJournalBytes) {
    error = fmt::format("{} bytes, more than the {} a journal may have", st.st_size,
                        kMaxJournalBytes);
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

}  // namespace

StateDirAlarmStore::StateDirAlarmStore(std::string path, StateDirAlarmStoreOptions options)
    : path_(std::move(path)), options_(options) {}

StateDirAlarmStore::~StateDirAlarmStore() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

bool StateDirAlarmStore::open(std::string& error) {
  // One agent per journal: a second one on the same state directory would append to a file the
  // first one replaces at its next compaction, and lose its commits.
  const std::string lock_path = path_ + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd_ < 0) {
    error = fmt::format("alarm state {}: cannot open {}: {}", path_, lock_path, errno_text());
    return false;
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    error = fmt::format("alarm state {}: another agent uses it (its lock {} is held): each agent "
                        "needs its own general.state_dir",
                        path_, lock_path);
    return false;
  }
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = fmt::format("alarm state {}: cannot open: {}", path_, errno_text());
    return false;
  }
  std::string data;
  std::string why;
  const bool read = read_all(fd, data, why);
  ::close(fd);
  if (!read) {
    error = fmt::format("alarm state {}: cannot read: {}", path_, why);
    return false;
  }
  const segment::ScanResult scan = segment::scan(data, true);
  if (scan.format == segment::Format::kNewer) {
    error = fmt::format("alarm state {}: written by a newer agent (format {}); refusing to "
                        "overwrite it",
                        path_, scan.version);
    return false;
  }
  const bool any_record =
      std::any_of(scan.items.begin(), scan.items.end(),
                  [](const segment::Item& i) { return i.kind == segment::Item::Kind::kRecord; });
  if (scan.format == segment::Format::kV1 || (scan.header_damaged && !any_record)) {
    error = fmt::format("alarm state {}: not an alarm journal (no file header, no entry); "
                        "refusing to overwrite it (move it away to start with no alarm state)",
                        path_);
    return false;
  }
  size_t entries = 0, records = 0;
  for (const segment::Item& item : scan.items) {
    switch (item.kind) {
      case segment::Item::Kind::kTorn:  // an append a crash cut short: never reported committed
        spdlog::info("alarm state {}: an incomplete last entry ({} bytes at offset {}) is "
                     "dropped: the unit it was for was not acknowledged",
                     path_, item.size, item.offset);
        break;
      case segment::Item::Kind::kDamaged:
        damaged_ += item.records;
        spdlog::error("alarm state {}: {} damaged bytes at offset {} ({} entries) are skipped; "
                      "the alarm counts and transitions they held are lost",
                      path_, item.size, item.offset, item.records);
        break;
      case segment::Item::Kind::kRecord: {
        ++records;
        journal::Entry e;
        switch (journal::decode(item.payload, e, why)) {
          case journal::DecodeResult::kNewer:
            error = fmt::format("alarm state {}: written by a newer agent ({} at offset {}); "
                                "refusing to overwrite it",
                                path_, why, item.offset);
            return false;
          case journal::DecodeResult::kMalformed:
            ++damaged_;
            spdlog::error("alarm state {}: the entry at offset {} cannot be read ({}); it is "
                          "skipped and what it held is lost",
                          path_, item.offset, why);
            break;
          case journal::DecodeResult::kOk:
            ++entries;
            apply(e);
            break;
        }
        break;
      }
    }
  }
  if (records > 0 && entries == 0) {
    error = fmt::format("alarm state {}: not an alarm journal (none of its {} records is a "
                        "journal entry); refusing to overwrite it (move it away to start with no "
                        "alarm state)",
                        path_, records);
    return false;
  }
  if (damaged_ > 0) {
    // The evidence is kept (one copy: the latest) before the journal is rewritten without it.
    const std::string kept = path_ + ".damaged";
    std::error_code ec;
    std::filesystem::remove(kept, ec);
    std::filesystem::copy_file(path_, kept, ec);
    if (ec)
      spdlog::error("alarm state {}: cannot keep a copy of the damaged journal as {}: {}", path_,
                    kept, ec.message());
    else
      spdlog::error("alarm state {}: the damaged journal is kept as {}", path_, kept);
  }
  if (!compact(error)) return false;
  spdlog::info("alarm state {}: {} alarm instances, {} units remembered, {} transitions not yet "
               "delivered",
               path_, instances_.size(), units_.size(), undelivered_.size());
  return true;
}

void StateDirAlarmStore::apply(const journal::Entry& e) {
  using Kind = journal::Entry::Kind;
  switch (e.kind) {
    case Kind::kSnapshot:
      stream_ms_ = std::max(stream_ms_, e.stream_ms);
      break;
    case Kind::kInstances:
      for (const SavedInstance& i : e.instances) instances_[instance_key(i)] = i;
      break;
    case Kind::kUnits:
      for (const std::string& u : e.units) remember_unit(u);
      break;
    case Kind::kUndelivered:
      for (const journal::PendingTransition& p : e.undelivered) add_undelivered(p.unit, p.alert);
      break;
    case Kind::kCommit:
      stream_ms_ = std::max(stream_ms_, e.stream_ms);
      for (const SavedInstance& i : e.instances) instances_[instance_key(i)] = i;
      if (!e.unit.empty()) remember_unit(e.unit);
      for (const AlertRecord& a : e.transitions) add_undelivered(e.unit, a);
      break;
    case Kind::kDelivered:
      for (const std::string& uid : e.uids) {
        auto it = undelivered_by_uid_.find(uid);
        if (it == undelivered_by_uid_.end()) continue;
        undelivered_.erase(it->second);
        undelivered_by_uid_.erase(it);
      }
      break;
  }
}

void StateDirAlarmStore::remember_unit(const std::string& digest) {
  if (!units_.insert(digest).second) return;
  unit_order_.push_back(digest);
  while (unit_order_.size() > options_.max_units) {
    units_.erase(unit_order_.front());
    unit_order_.pop_front();
  }
}

void StateDirAlarmStore::add_undelivered(const std::string& unit, const AlertRecord& alert) {
  if (undelivered_by_uid_.count(alert.uid)) return;
  const uint64_t seq = next_seq_++;
  undelivered_[seq] = journal::PendingTransition{unit, alert};
  undelivered_by_uid_[alert.uid] = seq;
  while (undelivered_.size() > options_.max_undelivered) {
    auto oldest = undelivered_.begin();
    ++undelivered_dropped_;
    spdlog::error("alarm state {}: {} alarm transitions wait for delivery, the limit; the oldest "
                  "({}, alert {}) is no longer sent again",
                  path_, undelivered_.size(), oldest->second.alert.rule_id,
                  oldest->second.alert.uid);
    undelivered_by_uid_.erase(oldest->second.alert.uid);
    undelivered_.erase(oldest);
  }
}

bool StateDirAlarmStore::load(SavedAlarmState& out, std::string& /*error*/) {
  out.stream_ms = stream_ms_;
  out.instances.clear();
  for (const auto& [key, i] : instances_) out.instances.push_back(i);
  return true;
}

bool StateDirAlarmStore::counted(std::string_view unit, std::vector<AlertRecord>& undelivered) {
  if (unit.empty()) return false;
  const std::string digest = store::unit_digest(unit);
  if (!units_.count(digest)) return false;
  for (const auto& [seq, p] : undelivered_)
    if (p.unit == digest) undelivered.push_back(p.alert);
  return true;
}

bool StateDirAlarmStore::append(const std::string& payload, bool sync, std::string& error) {
  if (fd_ < 0) {
    error = fmt::format("alarm state {}: not open", path_);
    return false;
  }
  std::string record;
  segment::append_record(record, payload);
  const bool written = write_all(fd_, record);
  const bool synced = written && (!sync || ::fdatasync(fd_) == 0);
  if (written && synced) {
    file_bytes_ += record.size();
    return true;
  }
  error = fmt::format("alarm state {}: cannot {}: {}", path_, written ? "sync" : "write",
                      errno_text());
  // Cut the record off again: the file must not hold what the caller is told failed.
  if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0 || (sync && ::fdatasync(fd_) != 0)) {
    broken_ = true;
    broken_reason_ = error;
  }
  return false;
}

bool StateDirAlarmStore::commit(const AlarmCommit& c, std::string& error) {
  if (broken_) {
    error = fmt::format("alarm state {}: a failed write could not be undone ({}); no alarm state "
                        "is saved until the agent restarts",
                        path_, broken_reason_);
    return false;
  }
  journal::Entry e;
  e.kind = journal::Entry::Kind::kCommit;
  e.unit = c.unit.empty() ? std::string() : store::unit_digest(c.unit);
  e.stream_ms = c.stream_ms;
  e.instances = c.instances;
  e.transitions = c.transitions;
  const std::string payload = journal::encode(e);
  if (file_bytes_ + payload.size() > options_.max_journal_bytes) {
    error = fmt::format("alarm state {}: the journal has {} bytes, its limit, and cannot be "
                        "compacted; no alarm state is saved until it can be (free disk space)",
                        path_, file_bytes_);
    return false;
  }
  failpoint::hit("before-alarm-commit");
  if (!append(payload, true, error)) return false;
  failpoint::hit("after-alarm-commit");
  apply(e);
  // Compaction when the journal doubled since the last snapshot (or since the last failed try:
  // a failing compaction is not retried at every commit).
  if (file_bytes_ > options_.compact_bytes && file_bytes_ > 2 * snapshot_bytes_ &&
      file_bytes_ > 2 * compact_failed_at_) {
    std::string why;
    if (!compact(why)) {
      compact_failed_at_ = file_bytes_;
      spdlog::error("{}; tried again when the journal has doubled ({} bytes now, commits stop "
                    "at {})",
                    why, file_bytes_, options_.max_journal_bytes);
    }
  }
  return true;
}

void StateDirAlarmStore::delivered(const std::vector<std::string>& uids) {
  journal::Entry e;
  e.kind = journal::Entry::Kind::kDelivered;
  for (const std::string& uid : uids)
    if (undelivered_by_uid_.count(uid)) e.uids.push_back(uid);
  if (e.uids.empty()) return;
  apply(e);
  std::string error;
  if (!broken_ && !append(journal::encode(e), false, error))
    spdlog::warn("{}: the delivery of {} alarm transitions is not recorded; they are sent again "
                 "after a restart (and dropped as duplicates)",
                 error, e.uids.size());
}

std::vector<AlertRecord> StateDirAlarmStore::undelivered() {
  std::vector<AlertRecord> out;
  out.reserve(undelivered_.size());
  for (const auto& [seq, p] : undelivered_) out.push_back(p.alert);
  return out;
}

std::string StateDirAlarmStore::snapshot() const {
  using Kind = journal::Entry::Kind;
  std::string out = segment::file_header();
  journal::Entry start;
  start.kind = Kind::kSnapshot;
  start.stream_ms = stream_ms_;
  segment::append_record(out, journal::encode(start));
  for (const auto& [key, i] : instances_) {
    journal::Entry e;
    e.kind = Kind::kInstances;
    e.instances.push_back(i);
    segment::append_record(out, journal::encode(e));
  }
  for (size_t at = 0; at < unit_order_.size(); at += kUnitsPerRecord) {
    journal::Entry e;
    e.kind = Kind::kUnits;
    const size_t end = std::min(unit_order_.size(), at + kUnitsPerRecord);
    e.units.assign(unit_order_.begin() + static_cast<std::ptrdiff_t>(at),
                   unit_order_.begin() + static_cast<std::ptrdiff_t>(end));
    segment::append_record(out, journal::encode(e));
  }
  for (const auto& [seq, p] : undelivered_) {
    journal::Entry e;
    e.kind = Kind::kUndelivered;
    e.undelivered.push_back(p);
    segment::append_record(out, journal::encode(e));
  }
  return out;
}

bool StateDirAlarmStore::compact(std::string& error) {
  const std::string tmp = path_ + ".tmp";
  // Never through a link planted there: a fresh file or nothing.
  ::unlink(tmp.c_str());
  const int fd =
      ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = fmt::format("alarm state {}: cannot create {}: {}", path_, tmp, errno_text());
    return false;
  }
  const std::string data = snapshot();
  if (!write_all(fd, data) || ::fdatasync(fd) != 0) {
    error = fmt::format("alarm state {}: cannot write {}: {}", path_, tmp, errno_text());
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  failpoint::hit("before-alarm-compact-rename");
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    error = fmt::format("alarm state {}: cannot replace it with {}: {}", path_, tmp, errno_text());
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (!sync_directory(path_))
    spdlog::error("alarm state {}: cannot sync its directory after replacing it ({}); a power "
                  "loss now may bring back the previous journal",
                  path_, errno_text());
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  file_bytes_ = snapshot_bytes_ = data.size();
  compact_failed_at_ = 0;
  broken_ = false;
  ++compactions_;
  return true;
}

}  // namespace trailwarden::alarms
