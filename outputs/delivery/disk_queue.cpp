#include "outputs/delivery/disk_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

namespace trailwarden {

namespace {

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads a whole file; false (errno set) if it cannot be opened or read, or (EFBIG) if it holds
// more than `max` bytes.
bool read_file(const std::string& path, std::string& out, size_t max = SIZE_MAX) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > max) {
    const int saved = st.st_size > 0 ? EFBIG : errno;
    ::close(fd);
    errno = saved;
    return false;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return false;
    }
    if (n == 0) break;
    if (static_cast<size_t>(n) > max - out.size()) {  // grew since fstat
      ::close(fd);
      errno = EFBIG;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Up to `n` bytes from the start of a file (fewer if it is shorter or unreadable).
std::string read_prefix(const std::string& path, size_t n) {
  std::string out(n, '\0');
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t got = fd >= 0 ? ::pread(fd, out.data(), n, 0) : -1;
  if (fd >= 0) ::close(fd);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

// Segment numbers stop here: a larger one is a stray file (18446744073709551615.seg would make
// the next number wrap to 0). At one segment a second, 31,000 years of appends.
constexpr uint64_t kMaxSegment = 999'999'999'999;

// "<12 digits>.seg", 1 to kMaxSegment: the segment's number.
bool parse_segment_name(const std::string& name, uint64_t& segment) {
  if (name.size() < 5 || !name.ends_with(".seg")) return false;
  const char* first = name.data();
  const char* last = name.data() + name.size() - 4;
  auto [ptr, ec] = std::from_chars(first, last, segment);
  return ec == std::errc() && ptr == last && segment > 0 && segment <= kMaxSegment &&
         fmt::format("{:012}.seg", segment) == name;
}

// Whether `offset` may be where delivery resumes in a segment scanned as `r` (`size` bytes): the
// segment's start or end, or the start of an item. `vouched` (a checksummed ack, which only ever
// names a record start): also inside a damaged region, whose header the damage has hidden.
bool resumes_at(const segment::ScanResult& r, uint64_t size, uint64_t offset, bool vouched) {
  if (offset == 0 || offset == r.data_start || offset == size) return true;
  return std::any_of(r.items.begin(), r.items.end(), [&](const segment::Item& i) {
    return i.offset == offset || (vouched && i.kind == segment::Item::Kind::kDamaged &&
                                  i.offset < offset && offset < i.offset + i.size);
  });
}

std::string ack_text(uint64_t segment, uint64_t offset) {
  const std::string position = fmt::format("{} {}", segment, offset);
  return fmt::format("{} {:08x}\n", position, crc32c(position));
}

}  // namespace

// What the ack file says. kLegacy: the previous format, "<segment> <offset>" without a checksum.
struct DiskQueue::AckPosition {
  enum class State { kNone, kValid, kLegacy, kBad } state = State::kNone;
  uint64_t segment = 0;
  uint64_t offset = 0;
  std::string problem;  // kBad
};

DiskQueue::DiskQueue(std::string dir, Options options, const Clock& clock)
    : dir_(std::move(dir)), options_(options), clock_(clock) {}

DiskQueue::~DiskQueue() {
  if (write_fd_ >= 0) ::close(write_fd_);
}

std::string DiskQueue::segment_path(uint64_t segment) const {
  return fmt::format("{}/{:012}.seg", dir_, segment);
}

bool DiskQueue::open(std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_.empty()) return true;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    error = fmt::format("cannot create buffer directory {}: {}", dir_, ec.message());
    return false;
  }
  return recover(error);
}

DiskQueue::AckPosition DiskQueue::read_ack() {
  AckPosition a;
  const std::string path = dir_ + "/ack";
  std::string text;
  if (!read_file(path, text)) {
    if (errno != ENOENT) {
      a.state = AckPosition::State::kBad;
      a.problem = fmt::format("cannot read it: {}", std::strerror(errno));
    }
    return a;
  }
  a.state = AckPosition::State::kBad;
  if (text.size() > 64 || text.empty() || text.back() != '\n') {
    a.problem = "not one line";
    return a;
  }
  std::vector<std::string_view> fields;
  std::string_view rest(text.data(), text.size() - 1);
  while (!rest.empty()) {
    const size_t sp = rest.find(' ');
    fields.push_back(rest.substr(0, sp));
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  }
  auto number = [](std::string_view f, uint64_t& v, int base) {
    auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v, base);
    return !f.empty() && ec == std::errc() && ptr == f.data() + f.size();
  };
  uint64_t crc = 0;
  if ((fields.size() != 2 && fields.size() != 3) || !number(fields[0], a.segment, 10) ||
      !number(fields[1], a.offset, 10) || a.segment == 0 ||
      (fields.size() == 3 && (fields[2].size() != 8 || !number(fields[2], crc, 16)))) {
    a.problem = "not \"<segment> <offset> <checksum>\"";
    return a;
  }
  if (fields.size() == 2) {
    a.state = AckPosition::State::kLegacy;
    return a;
  }
  if (ack_text(a.segment, a.offset) != text) {
    a.problem = "checksum mismatch";
    return a;
  }
  a.state = AckPosition::State::kValid;
  return a;
}

std::vector<uint64_t> DiskQueue::list_segments(bool warn_strays) {
  namespace fs = std::filesystem;
  std::vector<uint64_t> out;
  std::error_code ec;
  fs::directory_iterator it(dir_, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    const bool regular = it->is_regular_file(type_ec);
    uint64_t segment = 0;
    if (regular && parse_segment_name(name, segment)) {
      out.push_back(segment);
      continue;
    }
    if (name == "ack" || name == "ack.tmp" || (name == "quarantine" && it->is_directory(type_ec)))
      continue;
    if (warn_strays && warned_.insert(name).second)
      spdlog::warn("output {}: ignoring {} in the buffer directory {}: not a buffer {}", options_.name,
                   name, dir_, regular ? "file" : "file (not a regular file)");
  }
  if (ec)
    spdlog::error("output {}: cannot list the buffer directory {}: {}", options_.name, dir_,
                  ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

void DiskQueue::quarantine(uint64_t segment, uint64_t offset, uint32_t records,
                           std::string_view bytes) {
  namespace fs = std::filesystem;
  const std::string qdir = dir_ + "/quarantine";
  const std::string path = fmt::format("{}/{:012}-{:012}.bad", qdir, segment, offset);
  const std::string where = fmt::format("{}/{:012}.seg", dir_, segment);
  std::error_code ec;
  std::string kept;
  if (fs::exists(path, ec)) {
    kept = fmt::format("already copied to {}", path);
  } else {
    if (quarantined_bytes_ == 0)  // first use in this process: what earlier runs kept
      for (fs::directory_iterator it(qdir, ec); !ec && it != fs::directory_iterator();
           it.increment(ec)) {
        std::error_code size_ec;
        const auto n = it->file_size(size_ec);
        if (!size_ec) quarantined_bytes_ += static_cast<size_t>(n);
      }
    ec.clear();
    if (quarantined_bytes_ + bytes.size() > options_.quarantine_max_bytes) {
      kept = fmt::format("not copied: the quarantine {} holds {} bytes (limit {})", qdir,
                         quarantined_bytes_, options_.quarantine_max_bytes);
    } else {
      fs::create_directories(qdir, ec);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0 && write_all(fd, bytes.data(), bytes.size())) {
        quarantined_bytes_ += bytes.size();
        kept = fmt::format("copied to {}", path);
      } else {
        kept = fmt::format("not copied to {}: {}", path, std::strerror(errno));
      }
      if (fd >= 0) ::close(fd);
    }
  }
  spdlog::error("output {}: damaged {} in the buffer, segment {} at byte offset {} ({} bytes): "
                "skipped, {}",
                options_.name, records == 1 ? "record" : fmt::format("records ({})", records), where,
                offset, bytes.size(), kept);
}

bool DiskQueue::recover(std::string& error) {
  using Kind = segment::Item::Kind;
  std::vector<uint64_t> segments = list_segments(true);
  const AckPosition ack = read_ack();
  uint64_t start_segment = 0, start_offset = 0;  // 0: from the oldest segment's first record
  const std::string ack_path = dir_ + "/ack";
  // No segment of this queue grows past this: the last append group (at most max_bytes) starts
  // below segment_bytes. A larger file is not one of its segments.
  const size_t max_segment_size =
      options_.segment_bytes + options_.max_bytes + segment::kFileHeaderSize;
  if (ack.state == AckPosition::State::kBad) {
    spdlog::error("output {}: the buffer position in {} cannot be trusted ({}): every buffered "
                  "record is delivered again from the oldest segment",
                  options_.name, ack_path, ack.problem);
  } else if (ack.state != AckPosition::State::kNone) {
    const bool exists = std::binary_search(segments.begin(), segments.end(), ack.segment);
    bool trusted = exists;
    if (exists && ack.state == AckPosition::State::kLegacy) {
      // No checksum: segments before it are removed only once its offset proves a record start.
      const std::string path = segment_path(ack.segment);
      std::string data;
      trusted = read_file(path, data, max_segment_size) &&
                resumes_at(segment::scan(data, ack.segment == segments.back(), ack.offset),
                           data.size(), ack.offset, false);
      if (!trusted)
        spdlog::error("output {}: the buffer position in {} (offset {} of {}, previous format) is "
                      "not the start of a record: every buffered record is delivered again from "
                      "the oldest segment",
                      options_.name, ack_path, ack.offset, path);
    }
    if (trusted) {
      start_segment = ack.segment;
      start_offset = ack.offset;
      std::error_code ec;
      while (!segments.empty() && segments.front() < ack.segment) {  // wholly acknowledged
        std::filesystem::remove(segment_path(segments.front()), ec);
        segments.erase(segments.begin());
      }
    } else if (exists) {
      // reported above
    } else if (segments.empty()) {
      spdlog::warn("output {}: the buffer position in {} names segment {}, and no segment is left",
                   options_.name, ack_path, ack.segment);
    } else {
      spdlog::error("output {}: the buffer position in {} names segment {}, which does not exist: "
                    "every buffered record is delivered again from the oldest segment",
                    options_.name, ack_path, ack.segment);
    }
  }
  segments_.clear();
  bool append_to_last = false;
  uint64_t last_size = 0, before_last_size = 0;  // for the file header of the segment written next
  for (uint64_t seg : segments) {
    const std::string path = segment_path(seg);
    std::string data;
    const bool last = seg == segments.back();
    if (!read_file(path, data, max_segment_size)) {
      // Left alone (it may be evidence), counted, and never appended to.
      ++corrupt_;
      if (errno == EFBIG)
        spdlog::error("output {}: {} is larger than a buffer segment can grow ({} bytes): not "
                      "read, left alone; any records in it are not delivered",
                      options_.name, path, max_segment_size);
      else
        spdlog::error("output {}: cannot read {}: {}: skipped, left alone; any records in it are "
                      "not delivered",
                      options_.name, path, std::strerror(errno));
      if (last) append_to_last = false;
      continue;
    }
    segments_.insert(seg);
    if (!last && seg + 1 == segments.back()) before_last_size = data.size();
    const uint64_t known_start = seg == start_segment ? start_offset : 0;
    const segment::ScanResult r = segment::scan(data, last, known_start);
    if (r.format == segment::Format::kNewer) {
      error = fmt::format("{} has format version {}, newer than this agent reads ({}): start the "
                          "newer version again or move the buffer away",
                          path, r.version, segment::kVersion);
      return false;
    }
    if (r.header_damaged)
      spdlog::warn("output {}: the file header of {} is damaged; records are read after it",
                   options_.name, path);
    uint64_t from = 0;
    if (seg == start_segment && start_offset > r.data_start) {
      if (resumes_at(r, data.size(), start_offset, ack.state == AckPosition::State::kValid)) {
        from = start_offset;
      } else {
        spdlog::error("output {}: the buffer position in {} (offset {} of {}, {} bytes) is not "
                      "the start of a record: the segment is delivered again from its start",
                      options_.name, ack_path, start_offset, path, data.size());
      }
    }
    for (const segment::Item& item : r.items) {
      if (item.kind == Kind::kTorn) {  // always cut: later appends must not follow it
        spdlog::warn("output {}: cut a torn append (a crash mid-write) of {} bytes at the end of "
                     "{}, offset {}",
                     options_.name, item.size, path, item.offset);
        if (::truncate(path.c_str(), static_cast<off_t>(item.offset)) != 0) {
          error = fmt::format("cannot truncate {}: {}", path, std::strerror(errno));
          return false;
        }
        continue;
      }
      if (item.offset < from) {
        if (item.kind == Kind::kRecord || item.offset + item.size <= from) continue;  // acked
        // The ack position is inside this damaged region: its part from there was not
        // acknowledged (the records before it were).
        const std::string_view rest =
            std::string_view(data).substr(from, item.offset + item.size - from);
        const uint32_t records =
            r.format == segment::Format::kV2 ? segment::damaged_records(rest) : 1;
        corrupt_ += records;
        quarantine(seg, from, records, rest);
        continue;
      }
      if (item.kind == Kind::kRecord) {
        pending_.push_back(Entry{seg, item.offset, std::string(item.payload)});
        pending_bytes_ += kRecordOverhead + item.payload.size();
      } else {
        corrupt_ += item.records;
        quarantine(seg, item.offset, item.records,
                   std::string_view(data).substr(item.offset, item.size));
      }
    }
    // The next segment's header says how long this one was when the agent moved on to it.
    uint64_t size = data.size();
    if (!r.items.empty() && r.items.back().kind == Kind::kTorn) size = r.items.back().offset;
    if (!last && std::binary_search(segments.begin(), segments.end(), seg + 1)) {
      const segment::ScanResult next =
          segment::scan(read_prefix(segment_path(seg + 1), segment::kFileHeaderSize), false);
      const bool damaged_to_end = !r.items.empty() && r.items.back().kind == Kind::kDamaged &&
                                  r.items.back().offset + r.items.back().size == data.size();
      if (next.format == segment::Format::kV2 && !next.header_damaged &&
          next.previous_size > data.size() && !damaged_to_end) {
        ++corrupt_;  // (how many records the missing bytes held cannot be known)
        spdlog::error("output {}: {} is {} bytes long but was {} when the next segment was "
                      "started: the records in its missing end are lost",
                      options_.name, path, data.size(), next.previous_size);
      }
    }
    if (last) {
      last_size = size;
      if (r.format == segment::Format::kEmpty) last_size = 0;
      if (r.format == segment::Format::kEmpty && !data.empty() &&
          ::truncate(path.c_str(), 0) != 0) {  // a header cut short: write it again
        error = fmt::format("cannot truncate {}: {}", path, std::strerror(errno));
        return false;
      }
      append_to_last = r.format == segment::Format::kEmpty ||
                       (r.format == segment::Format::kV2 && !r.header_damaged &&
                        (r.items.empty() || r.items.back().kind != Kind::kDamaged));
    }
  }
  // Append to the last segment if it is intact in this format, else start a new one.
  const uint64_t next = segments.empty() ? 1 : segments.back() + (append_to_last ? 0 : 1);
  if (!open_segment_for_append(next, append_to_last ? before_last_size : last_size, error))
    return false;
  // Record where delivery starts now (the ack may have been damaged, stale or legacy) and drop
  // segments that hold nothing to deliver.
  return record_head(error);
}

bool DiskQueue::open_segment_for_append(uint64_t segment, uint64_t previous_size,
                                        std::string& error) {
  if (segment > kMaxSegment) {
    error = fmt::format("cannot start a buffer segment in {}: segment numbers are exhausted", dir_);
    return false;
  }
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = ::open(segment_path(segment).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (write_fd_ < 0) {
    error = fmt::format("cannot open {}: {}", segment_path(segment), std::strerror(errno));
    return false;
  }
  segments_.insert(segment);
  struct stat st {};
  if (::fstat(write_fd_, &st) == 0 && st.st_size == 0) {
    // A new segment: its header, and (with fsync) its name in the directory, are made durable
    // before any record goes in.
    const std::string header = segment::file_header(previous_size);
    if (!write_all(write_fd_, header.data(), header.size()) ||
        (options_.fsync && (::fdatasync(write_fd_) != 0 || !sync_directory(dir_))) ||
        ::fstat(write_fd_, &st) != 0) {
      error = fmt::format("cannot write {}: {}", segment_path(segment), std::strerror(errno));
      ::close(write_fd_);
      write_fd_ = -1;
      return false;
    }
  }
  write_segment_ = segment;
  write_offset_ = static_cast<uint64_t>(st.st_size);
  return true;
}

DiskQueue::AppendResult DiskQueue::append(const std::vector<std::string>& records,
                                          std::string& error) {
  std::string buf;
  for (const auto& r : records) segment::append_record(buf, r);
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_bytes_ + buf.size() > options_.max_bytes) return AppendResult::kFull;
  if (dir_.empty()) {
    for (const auto& r : records) pending_.push_back(Entry{0, 0, r});
    pending_bytes_ += buf.size();
    cv_.notify_all();
    return AppendResult::kOk;
  }
  // A new segment past segment_bytes (never an empty one, however small segment_bytes is).
  if ((write_fd_ < 0 ||
       (write_offset_ >= options_.segment_bytes && write_offset_ > segment::kFileHeaderSize)) &&
      !(write_fd_ < 0 ? open_segment_for_append(write_segment_, 0, error)
                      : open_segment_for_append(write_segment_ + 1, write_offset_, error)))
    return AppendResult::kError;
  if (!write_all(write_fd_, buf.data(), buf.size()) ||
      (options_.fsync && ::fdatasync(write_fd_) != 0)) {
    error = fmt::format("cannot write {}: {}", segment_path(write_segment_), std::strerror(errno));
    // Remove whatever part of the group reached the file: all or none.
    if (::ftruncate(write_fd_, static_cast<off_t>(write_offset_)) != 0) {
      ::close(write_fd_);
      write_fd_ = -1;
    }
    return AppendResult::kError;
  }
  uint64_t pos = write_offset_;
  for (const auto& r : records) {
    pending_.push_back(Entry{write_segment_, pos, r});
    pos += kRecordOverhead + r.size();
  }
  write_offset_ = pos;
  pending_bytes_ += buf.size();
  cv_.notify_all();
  return AppendResult::kOk;
}

bool DiskQueue::wait_for_room(size_t bytes, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return clock_.wait_for(lock, cv_, timeout, [&] {
    return interrupted_ || pending_bytes_ + bytes <= options_.max_bytes;
  }) && !interrupted_;
}

std::vector<std::string> DiskQueue::peek(size_t max, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds fill) {
  std::unique_lock<std::mutex> lock(mu_);
  clock_.wait_for(lock, cv_, timeout, [&] { return interrupted_ || !pending_.empty(); });
  if (!pending_.empty() && fill.count() > 0)
    clock_.wait_for(lock, cv_, fill, [&] { return interrupted_ || pending_.size() >= max; });
  std::vector<std::string> out;
  for (size_t i = 0; i < pending_.size() && i < max; ++i) out.push_back(pending_[i].payload);
  return out;
}

bool DiskQueue::ack(size_t count, std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  count = std::min(count, pending_.size());
  for (size_t i = 0; i < count; ++i) {
    pending_bytes_ -= kRecordOverhead + pending_.front().payload.size();
    pending_.pop_front();
  }
  if (dir_.empty()) {
    cv_.notify_all();
    return true;
  }
  bool ok = record_head(error);
  cv_.notify_all();
  return ok;
}

bool DiskQueue::record_head(std::string& error) {
  const uint64_t seg = pending_.empty() ? write_segment_ : pending_.front().segment;
  const uint64_t off = pending_.empty() ? write_offset_ : pending_.front().offset;
  if (!write_ack(seg, off, error)) return false;
  remove_segments_before(seg);
  return true;
}

bool DiskQueue::write_ack(uint64_t segment, uint64_t offset, std::string& error) {
  const std::string tmp = dir_ + "/ack.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string text = ack_text(segment, offset);
  bool ok = fd >= 0 && write_all(fd, text.data(), text.size()) &&
            (!options_.fsync || ::fdatasync(fd) == 0);
  if (fd >= 0) ::close(fd);
  if (!ok || std::rename(tmp.c_str(), (dir_ + "/ack").c_str()) != 0) {
    error = fmt::format("cannot record the buffer position in {}/ack: {}", dir_, std::strerror(errno));
    return false;
  }
  return true;
}

void DiskQueue::remove_segments_before(uint64_t segment) {
  if (segments_.empty() || *segments_.begin() >= segment) return;
  std::error_code ec;
  while (!segments_.empty() && *segments_.begin() < segment) {
    std::filesystem::remove(segment_path(*segments_.begin()), ec);
    segments_.erase(segments_.begin());
  }
  list_segments(true);  // report files that appeared in the directory since (once each)
}

size_t DiskQueue::pending_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

size_t DiskQueue::pending_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_bytes_;
}

uint64_t DiskQueue::corrupt_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return corrupt_;
}

void DiskQueue::interrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  interrupted_ = true;
  cv_.notify_all();
}

void DiskQueue::for_each_pending(const std::function<void(std::string_view)>& visit) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : pending_) visit(e.payload);
}

}  // namespace trailwarden
