#include "agent/engine/dedup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace trailwarden {

DedupWindow::DedupWindow(std::string path, size_t capacity)
    : path_(std::move(path)), capacity_(std::max<size_t>(capacity, 1)) {}

DedupWindow::~DedupWindow() {
  if (file_) std::fclose(file_);
}

bool DedupWindow::open(std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (path_.empty()) return true;
  // Read with O_CLOEXEC ("e"): a helper spawned meanwhile (credential_process) must not
  // inherit it. A missing file is an empty window.
  if (std::FILE* in = std::fopen(path_.c_str(), "re")) {
    char* buf = nullptr;
    size_t cap = 0;
    ssize_t n;
    while ((n = ::getline(&buf, &cap, in)) >= 0) {
      std::string_view line(buf, static_cast<size_t>(n));
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      if (line.empty() || line.size() > 128) continue;  // a torn last line after a crash
      remember(std::string(line));
      ++lines_in_file_;
    }
    const bool bad = std::ferror(in) != 0;
    const int e = errno;
    std::free(buf);
    std::fclose(in);
    if (bad) {
      error = fmt::format("cannot read the de-duplication state {}: {}", path_, std::strerror(e));
      return false;
    }
  }
  if (lines_in_file_ > 2 * capacity_) return compact(error);
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || !(file_ = ::fdopen(fd, "a"))) {
    error = fmt::format("cannot open the de-duplication state {}: {}", path_, std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return false;
  }
  return true;
}

void DedupWindow::remember(std::string uid) {
  if (!set_.insert(uid).second) return;
  order_.push_back(std::move(uid));
  if (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
}

bool DedupWindow::contains(std::string_view uid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return set_.count(std::string(uid)) != 0;
}

size_t DedupWindow::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return set_.size();
}

void DedupWindow::add(std::string_view uid) {
  std::lock_guard<std::mutex> lock(mutex_);
  remember(std::string(uid));
  if (!file_) return;
  std::fwrite(uid.data(), 1, uid.size(), file_);
  std::fputc('\n', file_);
  if (++lines_in_file_ > 2 * capacity_) {
    std::string ignored;
    compact(ignored);
  }
}

bool DedupWindow::sync(std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!file_) return true;
  if (std::fflush(file_) != 0 || ::fdatasync(::fileno(file_)) != 0) {
    error = fmt::format("cannot write the de-duplication state {}: {}", path_, std::strerror(errno));
    return false;
  }
  return true;
}

// Rewrites the file with the remembered uids only (temp file + rename: atomic).
bool DedupWindow::compact(std::string& error) {
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE* f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
  if (!f) {
    if (fd >= 0) ::close(fd);
    error = fmt::format("cannot write {}: {}", tmp, std::strerror(errno));
    return false;
  }
  for (const auto& uid : order_) {
    std::fwrite(uid.data(), 1, uid.size(), f);
    std::fputc('\n', f);
  }
  bool ok = std::fflush(f) == 0 && ::fdatasync(::fileno(f)) == 0;
  std::fclose(f);
  if (!ok || std::rename(tmp.c_str(), path_.c_str()) != 0) {
    error = fmt::format("cannot replace {}: {}", path_, std::strerror(errno));
    return false;
  }
  if (file_) std::fclose(file_);
  file_ = std::fopen(path_.c_str(), "ae");  // "e": O_CLOEXEC
  lines_in_file_ = order_.size();
  if (!file_) {
    error = fmt::format("cannot reopen {}: {}", path_, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace trailwarden
