// CloudTrailReader: walks the records of one CloudTrail log file ({"Records":[...]}) without
// building a DOM: simdjson On-Demand indexes the file once and hands out each record's raw
// JSON text, in order. Digest files and other JSON objects without "Records" are recognised.
// One reader per thread (it owns the simdjson parser and its buffers); not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "agent/common/buffer.h"
#include "agent/decode/limits.h"

namespace trailwarden {

enum class FileKind {
  kRecords,  // a CloudTrail log file (possibly with zero records)
  kDigest,   // a CloudTrail digest file (no records to match)
  kOther,    // valid JSON that is not a CloudTrail log file
};

struct ParseStats {
  FileKind kind = FileKind::kOther;
  size_t records = 0;              // records handed to the visitor
  size_t skipped_non_objects = 0;  // elements of Records that were not objects
};

class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  // `raw` is the record's JSON text; it points into the buffer given to read(), which stays
  // valid and padded (Buffer::kPadding) until read() returns.
  virtual void on_record(std::string_view raw) = 0;
};

class CloudTrailReader {
 public:
  explicit CloudTrailReader(const DecodeLimits& limits);
  ~CloudTrailReader();

  // Reads the JSON text in `json`. Returns false with `error` on malformed JSON or exceeded
  // limits; records before the error have been visited already (stats.records says how many).
  bool read(const Buffer& json, RecordVisitor& visitor, ParseStats& stats, std::string& error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DecodeLimits limits_;
};

}  // namespace trailwarden
