// DiskQueue: a bounded, durable FIFO of byte records in a directory: append-only segment files
// (`<12 digits>.seg`, format in segment_format.h: a versioned file header, then records framed
// with a magic, the length, a header CRC and a payload CRC) plus an `ack` file naming the
// position of the first record not yet acknowledged. It survives kill -9.
//
// Recovery (open()): records after the acknowledged position are read back in order.
//   - A record that runs past the end of the last segment (a crash mid-append) is cut off.
//   - Any other damaged record (bad CRC, bad length, garbage) is skipped and counted, one per
//     record as far as can be told (corrupt_records(); where headers are damaged, one per record
//     magic in the damaged bytes: segment::damaged_records), with an ERROR line naming the
//     segment and byte offset; its bytes are copied to <dir>/quarantine/<segment>-<offset>.bad
//     (up to quarantine_max_bytes in all); every intact record after it is still delivered, in
//     order.
//   - The ack file carries a checksum. A damaged one, or one naming a missing segment, an offset
//     past the data or inside a record, is reported (ERROR) and recovery starts earlier instead:
//     records may be delivered again, never lost. A checksummed offset inside a damaged region
//     is trusted (delivery resumes there). A legacy ack (no checksum) removes no segment before
//     its offset has proved a record start.
//   - A segment-named file larger than a segment can grow (segment_bytes + max_bytes + header),
//     or unreadable, is not read: counted as one damaged record, logged, left alone. Segment
//     numbers stop at 999999999999; larger ones are strays.
//   - A segment found shorter than it was when the next one was started (its size is in the next
//     one's file header) has lost its end: counted as one damaged record, logged.
//   - Segments of the previous format (no file header) are read with their own rules.
//   - Files and directories in the buffer directory that are not the queue's own are left alone
//     with a WARN line, at open and when segments are removed later.
// Nothing here throws.
//
// One producer and one consumer may use it concurrently (the DeliveryPipeline's submit path and
// an output's delivery thread); every method is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/clock.h"
#include "outputs/delivery/segment_format.h"

namespace trailwarden {

class DiskQueue {
 public:
  struct Options {
    size_t max_bytes = size_t{256} << 20;     // on disk, acknowledged data excluded
    size_t segment_bytes = size_t{16} << 20;  // a new segment starts past this size
    bool fsync = true;                        // fdatasync after every append() and ack()
    size_t quarantine_max_bytes = size_t{64} << 20;  // damaged bytes kept for forensics, in all
    std::string name = "buffer";              // how log lines name this queue (the output)
  };

  // Bytes a record takes on disk beyond its payload (counted against max_bytes).
  static constexpr size_t kRecordOverhead = segment::kRecordHeaderSize;

  // `dir` empty: a memory-only queue with the same interface (nothing survives a restart).
  // Waits (wait_for_room, peek) are on `clock` (agent/core/clock.h), which must outlive the queue.
  DiskQueue(std::string dir, Options options, const Clock& clock = system_clock());
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
  uint64_t corrupt_records() const;  // damaged records skipped during recovery

  // Wakes waiters in peek()/wait_for_room() (shutdown).
  void interrupt();

  // Calls `visit` with every pending record, oldest first, under the queue's lock and without
  // copying it (the view is valid during the call only; `visit` must not call this queue).
  // For start-up recovery, which must not hold a second copy of a large backlog.
  void for_each_pending(const std::function<void(std::string_view)>& visit) const;

 private:
  struct Entry {
    uint64_t segment;
    uint64_t offset;  // where this record starts in its segment
    std::string payload;
  };
  struct AckPosition;
  bool recover(std::string& error);
  AckPosition read_ack();
  std::vector<uint64_t> list_segments(bool warn_strays);
  void quarantine(uint64_t segment, uint64_t offset, uint32_t records, std::string_view bytes);
  // Opens `segment` for appends, writing its file header if it is new (`previous_size`: the size
  // of the segment before it, recorded in the header).
  bool open_segment_for_append(uint64_t segment, uint64_t previous_size, std::string& error);
  bool write_ack(uint64_t segment, uint64_t offset, std::string& error);
  bool record_head(std::string& error);  // writes the ack position, removes segments before it
  void remove_segments_before(uint64_t segment);
  std::string segment_path(uint64_t segment) const;

  const std::string dir_;
  const Options options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> pending_;  // unacknowledged records, oldest first (kept in memory too)
  size_t pending_bytes_ = 0;
  uint64_t write_segment_ = 1;
  uint64_t write_offset_ = 0;
  int write_fd_ = -1;
  uint64_t corrupt_ = 0;
  size_t quarantined_bytes_ = 0;
  bool interrupted_ = false;
  std::set<uint64_t> segments_;     // segment files this queue knows to exist
  std::set<std::string> warned_;    // stray names already reported
};

}  // namespace trailwarden
