// The shapes of input that hold CloudTrail records, besides CloudTrail's own log files, and
// the one rewriting some of them need before their records can be matched in place.
//
// Shapes (decided from the document itself, never from its name; docs/cli.md, "replay"):
// - a CloudTrail log file: {"Records":[record, ...]} (several may follow each other);
// - the output of `aws cloudtrail lookup-events`: {"Events":[{..., "CloudTrailEvent":
//   "<the record as a JSON string>"}], "NextToken": ...} — one page or all of them, several
//   pages one after the other, an array of its Events, or NDJSON of either;
// - EventBridge events as saved: {"detail-type": "... via CloudTrail", "detail": record, ...};
// - CloudTrail records, bare;
// the last three alone, as a JSON array of them, or as NDJSON (one JSON value per line, the
// shapes mixed as they come).
//
// lookup-events carries each record as an escaped JSON *string*, which the matcher cannot scan
// in place (its one Vectorscan pass runs over the text before the records are walked).
// LookupEventsUnwrapper rewrites each such string into the record's JSON text before that pass:
// a copy of the input, paid only by inputs that hold CloudTrailEvent strings (lookup-events
// output is small by nature: the API returns at most 50 events per call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/common/buffer.h"
#include "agent/decode/limits.h"

namespace simdjson::dom {
class parser;
}

namespace trailwarden {

// One bit per shape of the units found in an input (ParseStats::shapes).
enum InputShape : unsigned {
  kShapeLogFile = 1u << 0,       // {"Records":[...]}
  kShapeLookupEvents = 1u << 1,  // lookup-events output (or its Events)
  kShapeEventBridge = 1u << 2,   // EventBridge events with a CloudTrail record as detail
  kShapeRecord = 1u << 3,        // bare CloudTrail records
};

// Says in words what `shapes` (InputShape bits) were, e.g. "NDJSON of EventBridge events and
// CloudTrail records"; "" if none.
std::string describe_shapes(unsigned shapes, bool line_delimited);

// Whether `text` (decoded JSON, without a byte order mark) is NDJSON: its first line holds one
// complete JSON value and more follows on the next lines — or its first line is broken and the
// next starts a new object at column 0. Pretty-printed JSON (whose first line opens a value
// it does not close) and single-line files are not. Text that starts like a CloudTrail log
// file ({"Records") is never NDJSON: concatenated log files are read as before, one document
// after the other.
bool is_line_delimited(std::string_view text);

// Why the text of a CloudTrailEvent string (unescaped) cannot be matched as a record ("" if it
// can): over limits.max_record_bytes, nested deeper than limits.max_depth, not JSON, not a JSON
// object. `parser` validates it (a DOM parse).
std::string cloudtrail_event_error(std::string_view record, const DecodeLimits& limits,
                                   simdjson::dom::parser& parser);

class LookupEventsUnwrapper {
 public:
  explicit LookupEventsUnwrapper(const DecodeLimits& limits);
  ~LookupEventsUnwrapper();

  // If `json` holds lookup-events output, replaces each "CloudTrailEvent" string member of an
  // event object (an element of a top-level "Events" array, of a top-level array, or a
  // top-level object) by the record it holds, when that is a valid JSON object within the
  // per-record limits; the others stay strings (the reader reports them as bad records, with
  // cloudtrail_event_error()). Everything else is kept byte for byte. Returns how many were
  // replaced. Text that starts like a CloudTrail log file, or holds no "CloudTrailEvent", is
  // left alone without being scanned further.
  size_t unwrap(Buffer& json);

  // Why a CloudTrailEvent string (unescaped) is not a record; see cloudtrail_event_error().
  std::string error_for(std::string_view record);

  // Frees buffers grown past `keep` bytes; true if anything was freed.
  bool release_memory(size_t keep);

 private:
  DecodeLimits limits_;
  Buffer out_;
  Buffer record_;
  std::unique_ptr<simdjson::dom::parser> parser_;
};

}  // namespace trailwarden
