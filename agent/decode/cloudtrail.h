// CloudTrailReader: walks the records of one input without building a DOM: simdjson On-Demand
// indexes the file once and hands out each record's raw JSON text, in order. A CloudTrail log
// file ({"Records":[...]}) is the usual input; the other shapes of agent/decode/shapes.h
// (lookup-events output, EventBridge events, bare records; alone, in an array or as NDJSON)
// are read the same way, their records in place (lookup-events after prepare()). Digest files
// are recognised; anything that is none of the shapes is counted (ParseStats::unrecognised).
// NDJSON is read one line at a time: a line that is not one JSON value is a bad record of its
// own, named by its line number ("line 7: ..."), and the other lines are read.
// One reader per thread (it owns the simdjson parser and its buffers); not thread-safe.
//
// Bad record versus bad file. A *bad record* is one element of "Records" that is well
// delimited (the file's structure around it is intact) but that cannot be trusted to the
// matcher: it is over limits.max_record_bytes, nests deeper than limits.max_depth, or holds
// invalid UTF-8 or an unescaped control character (below 0x20) in a string. These checks apply
// to every record, whatever its content. A bad record goes to RecordVisitor::on_bad_record()
// and reading goes on with the next one; the rest of the file is unaffected. (A record that is delimited but fails to parse when the matcher
// evaluates it — e.g. an invalid escape like "\q" — is a bad record too, found by the
// caller; a lone surrogate escape is repaired there instead, see agent/decode/surrogates.h.)
// Elements of "Records" that are not objects are neither: they are counted and skipped.
// A *bad file* is one whose structure is broken: truncated or malformed JSON outside a single
// record's string contents, "Records" not an array, too many records. read() returns false;
// the records before the break have been visited.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "agent/common/buffer.h"
#include "agent/decode/json_depth.h"
#include "agent/decode/limits.h"

namespace trailwarden {

enum class FileKind {
  kRecords,  // a CloudTrail log file (possibly with zero records)
  kDigest,   // a CloudTrail digest file (no records to match)
  kOther,    // valid JSON that is not a CloudTrail log file
};

struct ParseStats {
  FileKind kind = FileKind::kOther;
  size_t records = 0;              // records handed to on_record()
  size_t bad_records = 0;          // records handed to on_bad_record()
  size_t skipped_non_objects = 0;  // elements of Records that were not objects (skipped)
  size_t elements = 0;             // elements of Records seen so far, in all documents
  // The other shapes (agent/decode/shapes.h); elements then counts their records too.
  unsigned shapes = 0;              // InputShape bits of what was found
  bool line_delimited = false;      // read as NDJSON, one line at a time
  size_t unrecognised = 0;          // lines, documents or array elements of none of the shapes
  std::string first_unrecognised;   // what the first of them was ("line 3: ...")
};

class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  // `raw` is the record's JSON text; it points into the buffer given to read(), which stays
  // valid and padded (Buffer::kPadding) until read() returns. The record's index (0-based
  // position among the elements of "Records" in the file) is ParseStats::elements - 1.
  virtual void on_record(std::string_view raw) = 0;
  // A bad record (see above): `index` as for on_record, `raw` its text (possibly huge: keep
  // an excerpt only), `reason` what is wrong, naming the limit.
  virtual void on_bad_record(size_t index, std::string_view raw, const std::string& reason) = 0;
};

// The per-record limits of `limits` (max_record_bytes, max_depth) applied to one record's JSON
// text: "" if it is within them, else what is wrong, naming the limit.
std::string record_limit_error(std::string_view raw, const DecodeLimits& limits);

class CloudTrailReader {
 public:
  // `log_files_only`: read CloudTrail log files only, as `test-pattern` does (everything else
  // is FileKind::kOther); otherwise every shape of agent/decode/shapes.h.
  explicit CloudTrailReader(const DecodeLimits& limits, bool log_files_only = false);
  ~CloudTrailReader();
  // Changes `log_files_only` for the next prepare()/read() (the engine: S3 objects are what
  // CloudTrail writes, log files; local files and Kafka messages may be any shape).
  void set_log_files_only(bool on) { log_files_only_ = on; }
  // Whether a log file in its usual form is read by scan_log_file() (agent/decode/
  // log_file_scan.h) instead of simdjson On-Demand. On by default; the results are the same,
  // which the tests check by turning it off.
  void set_fast_path(bool on) { fast_path_ = on; }

  // Rewrites what must be rewritten before the text is scanned and read (lookup-events: each
  // CloudTrailEvent string into its record; LookupEventsUnwrapper). Call it on the decoded text
  // before MatchSession::begin() and read(). Returns how many records were unwrapped.
  size_t prepare(Buffer& json);

  // Reads the JSON text in `json`. Returns false with `error` on a bad file; records before
  // the error have been visited already (stats.records says how many). Invalid UTF-8 bytes and
  // unescaped control characters in strings are replaced by '?' in place (that is why `json`
  // is not const); a record that held one is a bad record, never handed to on_record().
  bool read(Buffer& json, RecordVisitor& visitor, ParseStats& stats, std::string& error);

  // Frees the parser's buffers if they were sized for a document over `keep` bytes (after an
  // unusually large file). Returns true if it freed anything.
  bool release_memory(size_t keep);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DecodeLimits limits_;
  bool log_files_only_;
  bool fast_path_ = true;
};

}  // namespace trailwarden
