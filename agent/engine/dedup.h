// DedupWindow: remembers the uids of the most recent alerts delivered, so that a record that
// comes back after a crash or a redelivered SQS message does not alert twice. Bounded (FIFO
// eviction past `capacity`) and persisted as an append-only file of uids in the state
// directory, compacted when it grows past twice the capacity. Thread-safe.
#pragma once

#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace trailwarden {

class DedupWindow {
 public:
  // `path` empty: in memory only.
  DedupWindow(std::string path, size_t capacity);
  ~DedupWindow();
  DedupWindow(const DedupWindow&) = delete;
  DedupWindow& operator=(const DedupWindow&) = delete;

  // Loads the remembered uids and opens the file for appending. False with `error` if the file
  // exists but cannot be read, or cannot be created.
  bool open(std::string& error);

  bool contains(std::string_view uid) const;
  // Remembers `uid` (appended to the file's buffer; call sync() to make it durable).
  void add(std::string_view uid);
  // Flushes and fdatasyncs the file.
  bool sync(std::string& error);

  size_t size() const;

 private:
  void remember(std::string uid);  // requires mutex_
  bool compact(std::string& error);  // requires mutex_

  const std::string path_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> set_;
  std::deque<std::string> order_;
  FILE* file_ = nullptr;
  size_t lines_in_file_ = 0;
};

}  // namespace trailwarden
