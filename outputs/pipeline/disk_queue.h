// DiskQueue: a bounded, durable FIFO of byte records in a directory: append-only segment files
// of checksummed records ([u32 length][u32 CRC-32C][payload]) plus an `ack` file naming the
// position of the first record not yet acknowledged. It survives kill -9: on open, records
// after the acknowledged position are read back in order; a torn record at the end of the last
// segment (a crash mid-append) is cut off; a corrupt record elsewhere is skipped and counted.
//
// One producer and one consumer may use it concurrently (the OutputPipeline's submit path and
// an output's delivery thread); every method is thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

class DiskQueue {
 public:
  struct Options {
    size_t max_bytes = size_t{256} << 20;     // on disk, acknowledged data excluded
    size_t segment_bytes = size_t{16} << 20;  // a new segment starts past this size
    bool fsync = true;                        // fdatasync after every append() and ack()
  };

  // `dir` empty: a memory-only queue with the same interface (nothing survives a restart).
  DiskQueue(std::string dir, Options options);
  ~DiskQueue();
  DiskQueue(const DiskQueue&) = delete;
  DiskQueue& operator=(const DiskQueue&) = delete;

  // Creates the directory if needed and recovers unacknowledged records. False with `error`.
  bool open(std::string& error);

  enum class AppendResult { kOk, kFull, kError };
  // Appends records atomically as a group (all or none) and makes them durable. kFull if they
  // do not fit under max_bytes (nothing written).
  AppendResult append(const std::vector<std::string>& records, std::string& error);
  // Waits until `bytes` more would fit, or `timeout` passes. True if they fit.
  bool wait_for_room(size_t bytes, std::chrono::milliseconds timeout);

  // Up to `max` records from the head, not removed; waits up to `timeout` for the first one,
  // then up to `fill` more for `max` to be available.
  std::vector<std::string> peek(size_t max, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds fill = std::chrono::milliseconds(0));
  // Acknowledges (removes) the first `count` records returned by peek().
  bool ack(size_t count, std::string& error);

  size_t pending_records() const;
  size_t pending_bytes() const;
  uint64_t corrupt_records() const;  // skipped during recovery

  // Wakes waiters in peek()/wait_for_room() (shutdown).
  void interrupt();

 private:
  struct Entry {
    uint64_t segment;
    uint64_t offset;  // where this record starts in its segment
    std::string payload;
  };
  bool recover(std::string& error);
  bool open_segment_for_append(uint64_t segment, std::string& error);
  bool write_ack(uint64_t segment, uint64_t offset, std::string& error);
  void remove_segments_before(uint64_t segment);
  std::string segment_path(uint64_t segment) const;

  const std::string dir_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> pending_;  // unacknowledged records, oldest first (kept in memory too)
  size_t pending_bytes_ = 0;
  uint64_t write_segment_ = 1;
  uint64_t write_offset_ = 0;
  int write_fd_ = -1;
  uint64_t corrupt_ = 0;
  bool interrupted_ = false;
};

// CRC-32C (Castagnoli), as used by the record checksums.
uint32_t crc32c(std::string_view data);

}  // namespace trailwarden
