// Bad records and their dead-letter file.
//
// A bad record (see agent/decode/cloudtrail.h: over a per-record limit, invalid UTF-8 or control
// characters, or unparseable where the matcher parses it) is never matched, so it can never
// alert. It is not
// retried either: parsing is deterministic, and the same bytes fail the same way on every
// redelivery, so keeping the SQS message for them would only hold the file's good records
// hostage. Instead `run` writes one JSON line per bad record to a dead-letter file, and the
// message is deleted once every record was either matched (alerts delivered) or written here.
//
// RecordDeadLetterFile appends those lines, each written and fdatasync'ed before write()
// returns. The file is bounded: when it would grow past max_bytes it is renamed to
// "<path>.1" (replacing an older one) and a new file is started, so at most about twice
// max_bytes are kept. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

struct BadRecord {
  uint64_t index = 0;    // 0-based position among the elements of "Records" in the object
  std::string reason;    // what is wrong, naming the limit
  uint64_t bytes = 0;    // the record's size
  std::string excerpt;   // its first bytes (at most kExcerptBytes)

  static constexpr size_t kExcerptBytes = 1024;
};

class RecordDeadLetterFile {
 public:
  RecordDeadLetterFile(std::string path, uint64_t max_bytes);

  // Appends one line per record:
  //   {"time":<ms>,"object":"s3://b/k","message_id":"...","record_index":N,"reason":"...",
  //    "record_bytes":N,"excerpt":"<first bytes of the record, as a JSON string>"}
  // and, if `omitted` > 0, one line {"time":..,"object":..,"message_id":..,"omitted":N} for
  // bad records of the object that were counted but not kept. Returns false with `error`
  // (naming the file) if the lines could not be written and synced.
  bool write(std::string_view object, std::string_view message_id,
             const std::vector<BadRecord>& records, uint64_t omitted, std::string& error);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t max_bytes_;
  std::mutex mu_;
};

}  // namespace trailwarden
