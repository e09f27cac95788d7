// scan_log_file: the fast path of CloudTrailReader for the one shape almost every input has, a
// CloudTrail log file `{"Records":[{...},{...}]}` (whitespace allowed between tokens). One
// vectorised pass over the text finds each record's extent: quotes and backslashes give the
// strings (brackets inside them do not count), the brackets outside them give the nesting, and
// blocks of 64 bytes in which no record can end are stepped over by counting their brackets.
// It replaces simdjson's index of the whole file plus On-Demand's walk over every token of every
// record, the largest cost of reading a file after decompression.
//
// The contract is all or nothing: it succeeds only for a text that the general reader would
// read as exactly these records, with nothing to report, and otherwise says "not handled"
// before anything was visited, so the general reader (simdjson On-Demand) reads the text from
// the start and reports what is wrong exactly as before. Not handled: invalid UTF-8, a control
// character inside a string or one other than tab, line feed and carriage return outside them,
// an unclosed string, any other key or document, an element that is not an object, a record
// nesting deeper than `max_depth` - 2 (the root object and the array count for the parser),
// brackets that do not pair up at a record's edges, more than `max_records` records (the reader
// reports that), and CPUs without AVX2. Inside a
// record only the nesting is read, as On-Demand's skip reads it; the matcher parses the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace trailwarden {

// One record: text[begin, end) is what On-Demand's raw_json() of the element gives, the object
// and the whitespace after it up to the next ',' or ']'.
struct RecordExtent {
  uint32_t begin;
  uint32_t end;
};

// Finds the records of `text`, which must be followed by at least 64 readable bytes (the
// Buffer padding). True with `records` filled when handled; false (records unspecified) when
// the general reader must read the text. Texts of 4 GiB or more are not handled.
bool scan_log_file(std::string_view text, size_t max_depth, size_t max_records,
                   std::vector<RecordExtent>& records);

}  // namespace trailwarden
