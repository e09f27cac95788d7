#include "outputs/pipeline/disk_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace trailwarden {

namespace {

constexpr size_t kHeader = 8;

uint32_t load_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

void store_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

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

}  // namespace

uint32_t crc32c(std::string_view data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : data) crc = table[(crc ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

DiskQueue::DiskQueue(std::string dir, Options options) : dir_(std::move(dir)), options_(options) {}

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

bool DiskQueue::recover(std::string& error) {
  uint64_t ack_segment = 1, ack_offset = 0;
  {
    std::ifstream in(dir_ + "/ack");
    if (in) in >> ack_segment >> ack_offset;
    if (!in && !in.eof()) ack_segment = 1, ack_offset = 0;
  }
  std::vector<uint64_t> segments;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() == 16 && name.ends_with(".seg")) segments.push_back(std::stoull(name.substr(0, 12)));
  }
  if (ec) {
    error = fmt::format("cannot list buffer directory {}: {}", dir_, ec.message());
    return false;
  }
  std::sort(segments.begin(), segments.end());
  write_segment_ = std::max<uint64_t>(ack_segment, segments.empty() ? 1 : segments.back());
  write_offset_ = 0;
  for (uint64_t seg : segments) {
    if (seg < ack_segment) {
      std::filesystem::remove(segment_path(seg), ec);
      continue;
    }
    std::ifstream in(segment_path(seg), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    size_t pos = seg == ack_segment ? std::min<size_t>(ack_offset, data.size()) : 0;
    const bool last = seg == segments.back();
    while (pos < data.size()) {
      bool ok = data.size() - pos >= kHeader;
      uint32_t len = ok ? load_u32(data.data() + pos) : 0;
      ok = ok && data.size() - pos - kHeader >= len;
      if (ok) {
        std::string_view payload(data.data() + pos + kHeader, len);
        ok = crc32c(payload) == load_u32(data.data() + pos + 4);
        if (ok) {
          pending_.push_back(Entry{seg, pos, std::string(payload)});
          pending_bytes_ += kHeader + len;
          pos += kHeader + len;
          continue;
        }
      }
      if (last) {
        // A torn append (crash mid-write): cut it off.
        if (::truncate(segment_path(seg).c_str(), static_cast<off_t>(pos)) != 0) {
          error = fmt::format("cannot truncate {}: {}", segment_path(seg), std::strerror(errno));
          return false;
        }
      } else {
        ++corrupt_;  // cannot resynchronise inside this segment: skip its rest
      }
      break;
    }
    if (seg == write_segment_) write_offset_ = std::min<size_t>(pos, data.size());
  }
  return open_segment_for_append(write_segment_, error);
}

bool DiskQueue::open_segment_for_append(uint64_t segment, std::string& error) {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = ::open(segment_path(segment).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (write_fd_ < 0) {
    error = fmt::format("cannot open {}: {}", segment_path(segment), std::strerror(errno));
    return false;
  }
  struct stat st {};
  ::fstat(write_fd_, &st);
  write_segment_ = segment;
  write_offset_ = static_cast<uint64_t>(st.st_size);
  return true;
}

DiskQueue::AppendResult DiskQueue::append(const std::vector<std::string>& records,
                                          std::string& error) {
  std::string buf;
  for (const auto& r : records) {
    store_u32(buf, static_cast<uint32_t>(r.size()));
    store_u32(buf, crc32c(r));
    buf += r;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_bytes_ + buf.size() > options_.max_bytes) return AppendResult::kFull;
  if (dir_.empty()) {
    for (const auto& r : records) pending_.push_back(Entry{0, 0, r});
    pending_bytes_ += buf.size();
    cv_.notify_all();
    return AppendResult::kOk;
  }
  if ((write_fd_ < 0 || write_offset_ >= options_.segment_bytes) &&
      !open_segment_for_append(write_fd_ < 0 ? write_segment_ : write_segment_ + 1, error))
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
    pos += kHeader + r.size();
  }
  write_offset_ = pos;
  pending_bytes_ += buf.size();
  cv_.notify_all();
  return AppendResult::kOk;
}

bool DiskQueue::wait_for_room(size_t bytes, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return interrupted_ || pending_bytes_ + bytes <= options_.max_bytes;
  }) && !interrupted_;
}

std::vector<std::string> DiskQueue::peek(size_t max, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds fill) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return interrupted_ || !pending_.empty(); });
  if (!pending_.empty() && fill.count() > 0)
    cv_.wait_for(lock, fill, [&] { return interrupted_ || pending_.size() >= max; });
  std::vector<std::string> out;
  for (size_t i = 0; i < pending_.size() && i < max; ++i) out.push_back(pending_[i].payload);
  return out;
}

bool DiskQueue::ack(size_t count, std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  count = std::min(count, pending_.size());
  for (size_t i = 0; i < count; ++i) {
    pending_bytes_ -= kHeader + pending_.front().payload.size();
    pending_.pop_front();
  }
  if (dir_.empty()) {
    cv_.notify_all();
    return true;
  }
  uint64_t seg = pending_.empty() ? write_segment_ : pending_.front().segment;
  uint64_t off = pending_.empty() ? write_offset_ : pending_.front().offset;
  bool ok = write_ack(seg, off, error);
  remove_segments_before(seg);
  cv_.notify_all();
  return ok;
}

bool DiskQueue::write_ack(uint64_t segment, uint64_t offset, std::string& error) {
  const std::string tmp = dir_ + "/ack.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::string text = fmt::format("{} {}\n", segment, offset);
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
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() == 16 && name.ends_with(".seg") && std::stoull(name.substr(0, 12)) < segment)
      std::filesystem::remove(e.path(), ec);
  }
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

}  // namespace trailwarden
