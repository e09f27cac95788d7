#include "agent/decode/cloudtrail.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/decode/log_file_scan.h"
#include "agent/decode/shapes.h"

namespace trailwarden {

static_assert(Buffer::kPadding >= simdjson::SIMDJSON_PADDING, "Buffer padding too small");

namespace od = simdjson::ondemand;

namespace {

// A byte of the file that simdjson's whole-file check refused, replaced by '?' (see
// neutralise_bad_bytes()).
struct BadByte {
  size_t offset;
  bool control;  // an unescaped control character inside a string (else invalid UTF-8)
};

}  // namespace

struct CloudTrailReader::Impl {
  explicit Impl(const DecodeLimits& limits) : unwrapper(limits) {}
  od::parser parser;
  od::parser unit_parser;          // one event object (an array element) on its own
  std::vector<BadByte> bad_bytes;  // in the current file, by offset
  size_t next_bad_byte = 0;        // first of them not before the current record
  LookupEventsUnwrapper unwrapper;
  std::vector<RecordExtent> extents;  // the records found by scan_log_file()
};

CloudTrailReader::CloudTrailReader(const DecodeLimits& limits, bool log_files_only)
    : impl_(std::make_unique<Impl>(limits)), limits_(limits), log_files_only_(log_files_only) {
  impl_->parser = od::parser(limits.max_decompressed_bytes);
  impl_->unit_parser = od::parser(limits.max_decompressed_bytes);
}

size_t CloudTrailReader::prepare(Buffer& json) {
  return log_files_only_ ? 0 : impl_->unwrapper.unwrap(json);
}

CloudTrailReader::~CloudTrailReader() = default;

std::string record_limit_error(std::string_view raw, const DecodeLimits& limits) {
  if (raw.size() > limits.max_record_bytes)
    return fmt::format("the record is {} bytes, over limits.max_record_bytes ({})", raw.size(),
                       limits.max_record_bytes);
  if (!json_depth_within(raw, limits.max_depth))
    return fmt::format("JSON nesting deeper than limits.max_depth ({})", limits.max_depth);
  return {};
}

namespace {

// Replaces by '?' each byte of `json` that is not part of a valid UTF-8 sequence, and each
// control character (below 0x20) inside a string, which JSON requires escaped; notes them in
// `bad` (by offset). A replaced byte inside a string keeps the JSON valid (the record holding it
// is then reported bad); one anywhere else leaves the file malformed, as it was.
// Only the bytes in [from, to) are looked at (one line of NDJSON; by default all).
void neutralise_bad_bytes(Buffer& json, std::vector<BadByte>& bad, size_t from = 0,
                          size_t to = std::string_view::npos) {
  const std::string_view text = json.view().substr(0, std::min(to, json.size()));
  bool in_string = false;
  for (size_t i = from; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t len = utf8_sequence_length(text, i);
      if (len == 0) {
        json.data()[i] = '?';
        bad.push_back({i, false});
        ++i;
      } else {
        i += len;
      }
      continue;
    }
    if (in_string) {
      if (c == '\\') {
        // The escaped character belongs to the escape (an escaped quote does not end the
        // string); a non-ASCII one is left to the UTF-8 check of the next turn.
        ++i;
        if (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) {
          if (static_cast<unsigned char>(text[i]) < 0x20) {
            json.data()[i] = '?';
            bad.push_back({i, true});
          }
          ++i;
        }
        continue;
      }
      if (c == '"') in_string = false;
      else if (c < 0x20) {
        json.data()[i] = '?';
        bad.push_back({i, true});
      }
    } else if (c == '"') {
      in_string = true;
    }
    ++i;
  }
}

std::string describe(simdjson::error_code e, const char* where_text) {
  switch (e) {
    case simdjson::TAPE_ERROR:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return fmt::format("malformed or truncated JSON {}", where_text);
    case simdjson::UNCLOSED_STRING:
      return fmt::format("truncated JSON (unclosed string) {}", where_text);
    case simdjson::DEPTH_ERROR:
      return fmt::format("JSON nesting deeper than the limit (limits.max_depth) {}", where_text);
    case simdjson::UTF8_ERROR:
      return fmt::format("invalid UTF-8 in JSON {}", where_text);
    default:
      return fmt::format("invalid JSON {}: {}", where_text, simdjson::error_message(e));
  }
}


// Why a delimited record cannot be handed to the matcher, or "" (see the header: bad records).
// `offset` is the record's position in the file; `bad`/`next` as in Impl.
// `depth_within`: the caller knows the record nests no deeper than limits.max_depth.
std::string check_record(std::string_view raw, size_t offset, const DecodeLimits& limits,
                         const std::vector<BadByte>& bad, size_t& next, bool depth_within) {
  while (next < bad.size() && bad[next].offset < offset) ++next;
  if (next < bad.size() && bad[next].offset < offset + raw.size())
    return fmt::format("{} at byte {} of the record",
                       bad[next].control ? "an unescaped control character in a string"
                                         : "invalid UTF-8",
                       bad[next].offset - offset);
  if (depth_within && raw.size() <= limits.max_record_bytes) return {};
  return record_limit_error(raw, limits);
}

// One walk over a file: where it is and what it has seen.
struct Walk {
  const DecodeLimits& limits;
  const char* file_start;
  const char* file_end;
  const std::vector<BadByte>& bad_bytes;
  size_t& next_bad_byte;
  od::parser& unit_parser;
  LookupEventsUnwrapper& unwrapper;
  RecordVisitor& visitor;
  ParseStats& stats;
  bool shapes;        // every input shape (else CloudTrail log files only)
  std::string where;  // "line N: " while reading NDJSON, prefixed to what is reported
  bool saw_records = false;
  bool saw_digest_key = false;
  bool fatal = false;  // the error ends the file even in NDJSON (too many records)
};

void report_bad(Walk& w, std::string_view raw, const std::string& why) {
  ++w.stats.bad_records;
  w.visitor.on_bad_record(w.stats.elements - 1, raw, w.where + why);
}

void note_unrecognised(Walk& w, const std::string& what) {
  if (w.stats.unrecognised++ == 0) w.stats.first_unrecognised = w.where + what;
}

// Hands one delimited record (already counted in stats.elements) to the visitor, or reports
// it bad. False, with `error`, when the file has too many records. `depth_within` as for
// check_record().
bool visit(Walk& w, std::string_view raw, std::string& error, bool depth_within = false) {
  if (w.stats.records + w.stats.bad_records >= w.limits.max_records_per_file) {
    error = fmt::format("more than {} records in one file (limits.max_records_per_file)",
                        w.limits.max_records_per_file);
    w.fatal = true;
    return false;
  }
  const std::string why = check_record(raw, static_cast<size_t>(raw.data() - w.file_start),
                                       w.limits, w.bad_bytes, w.next_bad_byte, depth_within);
  if (!why.empty()) {
    report_bad(w, raw, why);
    return true;
  }
  ++w.stats.records;
  w.visitor.on_record(raw);
  return true;
}

// Skips a value (validating it as far as On-Demand does).
simdjson::error_code skip_value(od::value& v) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  std::string_view ignored;
  if (type == od::json_type::object) {
    od::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(ignored);
  }
  if (type == od::json_type::array) {
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(ignored);
  }
  ignored = v.raw_json_token();
  return simdjson::SUCCESS;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// What the members of one object said about its shape (shapes.h).
struct UnitKeys {
  bool containers = false;   // "Records" or "Events" were read (a log file, a lookup page)
  std::string_view detail;   // the "detail" object's text (EventBridge)
  std::string detail_type;   // "detail-type"
  bool has_detail_type = false;
  bool has_event = false;    // a "CloudTrailEvent" member (lookup-events)
  std::string_view event;    // ... the record's text, when it is an object
  std::string event_error;   // ... why it is no record, when it is not
  bool record_keys = false;  // eventVersion, eventName or eventSource (a bare record)
  bool digest_keys = false;
  bool next_token = false;   // "NextToken" (of a lookup-events page)
};

bool read_unit(std::string_view span, Walk& w, bool lookup_only, std::string& error);

// Reads the members of an object: at the top level (`root`) the records of "Records" and of
// "Events" as they come; the other members only say what the object is (in `u`).
bool read_fields(od::object& obj, Walk& w, UnitKeys& u, bool root, std::string& error) {
  simdjson::error_code e;
  bool records_in_this_document = false, events_in_this_document = false;
  for (auto field_result : obj) {
    od::field field;
    if ((e = std::move(field_result).get(field))) {
      error = describe(e, fmt::format("after record {}", w.stats.records).c_str());
      return false;
    }
    std::string_view key;
    if ((e = field.unescaped_key().get(key))) {
      error = describe(e, root ? "in a top-level key" : "in a key");
      return false;
    }
    od::value& v = field.value();
    if (root && key == "Records" && !records_in_this_document) {
      w.saw_records = records_in_this_document = u.containers = true;
      w.stats.shapes |= kShapeLogFile;
      od::array records;
      if ((e = v.get_array().get(records))) {
        error = e == simdjson::INCORRECT_TYPE ? std::string("\"Records\" is not an array")
                                              : describe(e, "at \"Records\"");
        return false;
      }
      for (auto element_result : records) {
        od::value element;
        if ((e = std::move(element_result).get(element))) {
          error = describe(e, fmt::format("after record {}", w.stats.records).c_str());
          return false;
        }
        ++w.stats.elements;
        od::object record;
        e = element.get_object().get(record);
        if (e == simdjson::INCORRECT_TYPE) {
          // Not an object: count it and skip it (arrays are walked, scalars are one token).
          ++w.stats.skipped_non_objects;
          od::array a;
          std::string_view ignored;
          if (!element.get_array().get(a)) e = a.raw_json().get(ignored);
          else e = simdjson::SUCCESS;
          if (e) {
            error = describe(e, fmt::format("at record {}", w.stats.records).c_str());
            return false;
          }
          continue;
        }
        std::string_view raw;
        if (e || (e = record.raw_json().get(raw))) {
          error = describe(e, fmt::format("in record {}", w.stats.records).c_str());
          return false;
        }
        if (!visit(w, raw, error)) return false;
      }
    } else if (w.shapes && root && key == "Events" && !events_in_this_document) {
      // lookup-events output: each element an event whose CloudTrailEvent is the record
      // (unwrapped from its string by LookupEventsUnwrapper before this walk).
      w.saw_records = events_in_this_document = u.containers = true;
      w.stats.shapes |= kShapeLookupEvents;
      od::array events;
      if ((e = v.get_array().get(events))) {
        error = e == simdjson::INCORRECT_TYPE ? std::string("\"Events\" is not an array")
                                              : describe(e, "at \"Events\"");
        return false;
      }
      for (auto element_result : events) {
        od::value element;
        if ((e = std::move(element_result).get(element))) {
          error = describe(e, fmt::format("after record {}", w.stats.records).c_str());
          return false;
        }
        ++w.stats.elements;
        od::object event;
        std::string_view raw;
        e = element.get_object().get(event);
        if (e == simdjson::INCORRECT_TYPE) {
          ++w.stats.skipped_non_objects;
          if ((e = skip_value(element))) {
            error = describe(e, fmt::format("at event {}", w.stats.elements - 1).c_str());
            return false;
          }
          continue;
        }
        if (e || (e = event.raw_json().get(raw))) {
          error = describe(e, fmt::format("in event {}", w.stats.elements - 1).c_str());
          return false;
        }
        if (!read_unit(raw, w, /*lookup_only=*/true, error)) return false;
      }
    } else if (w.shapes && key == "detail") {
      od::object o;
      if (!v.get_object().get(o)) e = o.raw_json().get(u.detail);
      else e = skip_value(v);
      if (e) {
        error = describe(e, "at \"detail\"");
        return false;
      }
    } else if (w.shapes && key == "detail-type") {
      std::string_view s;
      if (!v.get_string().get(s)) {
        u.detail_type.assign(s);
        u.has_detail_type = true;
      } else if ((e = skip_value(v))) {
        error = describe(e, "at \"detail-type\"");
        return false;
      }
    } else if (w.shapes && key == "CloudTrailEvent") {
      u.has_event = true;
      od::json_type type;
      if ((e = v.type().get(type))) {
        error = describe(e, "at \"CloudTrailEvent\"");
        return false;
      }
      if (type == od::json_type::object) {
        od::object o;
        if ((e = v.get_object().get(o)) || (e = o.raw_json().get(u.event))) {
          error = describe(e, "in \"CloudTrailEvent\"");
          return false;
        }
      } else if (type == od::json_type::string) {
        // Left a string by the unwrapper: say why it is no record.
        std::string_view s;
        if ((e = v.get_string().get(s)))
          u.event_error = fmt::format("the CloudTrailEvent string is not a valid JSON string ({})",
                                      simdjson::error_message(e));
        else
          u.event_error = w.unwrapper.error_for(s);
        if (u.event_error.empty())
          u.event_error = "the CloudTrailEvent string was not unwrapped (lookup-events output "
                          "after a CloudTrail log file in one input is not read)";
      } else {
        u.event_error = "CloudTrailEvent is neither a JSON string nor an object";
        if ((e = skip_value(v))) {
          error = describe(e, "at \"CloudTrailEvent\"");
          return false;
        }
      }
    } else {
      if (key == "eventVersion" || key == "eventName" || key == "eventSource")
        u.record_keys = true;
      if (key == "NextToken") u.next_token = true;
      if (key == "digestStartTime" || key == "digestEndTime" || key == "logFiles" ||
          key == "previousDigestSignature")
        u.digest_keys = w.saw_digest_key = true;
      if ((e = skip_value(v))) {
        error = describe(e, fmt::format("at {}key \"{}\"", root ? "top-level " : "", key).c_str());
        return false;
      }
    }
  }
  return true;
}

// On-Demand's raw_json() of an object keeps the whitespace after it; a record ends at its '}'.
std::string_view trim_end(std::string_view raw) {
  while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
  return raw;
}

// Decides what an object that is not a log file or lookup page is, from its members, and hands
// out its record. `span` gives the object's text (for a bare record and for reports);
// `lookup_only`: it is an element of "Events" (counted already), which must be an event.
template <typename Span>
bool finish_unit(Walk& w, const UnitKeys& u, Span span, bool lookup_only, std::string& error) {
  if (u.has_event) {
    w.stats.shapes |= kShapeLookupEvents;
    if (!lookup_only) ++w.stats.elements;
    if (!u.event_error.empty()) {
      report_bad(w, span(), u.event_error);
      return true;
    }
    return visit(w, trim_end(u.event), error);
  }
  if (lookup_only) {
    report_bad(w, span(), "an element of \"Events\" without a CloudTrailEvent member");
    return true;
  }
  if (!u.detail.empty() && u.has_detail_type) {
    if (!u.detail_type.ends_with("via CloudTrail")) {
      note_unrecognised(w, fmt::format("an EventBridge event of type \"{}\", not a CloudTrail "
                                       "event",
                                       u.detail_type));
      return true;
    }
    w.stats.shapes |= kShapeEventBridge;
    ++w.stats.elements;
    return visit(w, trim_end(u.detail), error);
  }
  if (u.record_keys) {
    w.stats.shapes |= kShapeRecord;
    ++w.stats.elements;
    return visit(w, trim_end(span()), error);
  }
  if (u.next_token)
    note_unrecognised(w, "a lookup-events page with a NextToken but no \"Events\"");
  else if (!u.digest_keys)
    note_unrecognised(w, "a JSON object that is none of the shapes (no Records, Events, "
                         "CloudTrailEvent, EventBridge detail or CloudTrail event keys)");
  return true;
}

// One object inside the file (an element of a top-level array or of "Events"), read on its own.
bool read_unit(std::string_view span, Walk& w, bool lookup_only, std::string& error) {
  od::document doc;
  od::object obj;
  UnitKeys u;
  const size_t capacity = static_cast<size_t>(w.file_end - span.data()) + Buffer::kPadding;
  auto e = w.unit_parser.iterate(span.data(), span.size(), capacity).get(doc);
  if (!e) e = doc.get_object().get(obj);
  std::string why;
  if (e) why = describe(e, "in the object");
  else read_fields(obj, w, u, /*root=*/false, why);
  if (!why.empty()) {  // delimited by the file's parse, yet not readable on its own
    if (!lookup_only) ++w.stats.elements;
    report_bad(w, span, why);
    return true;
  }
  return finish_unit(w, u, [span] { return span; }, lookup_only, error);
}

// The length of the object or array `s` starts with (its brackets matched outside strings), or
// npos if it does not end in `s`. Lexical: the parser checks the rest.
size_t json_value_length(std::string_view s) {
  size_t depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      ++i;
      while (i < s.size()) {
        i = s.find_first_of("\\\"", i);
        if (i == std::string_view::npos) return i;
        if (s[i] == '"') break;
        i += 2;  // the backslash and the escaped character
      }
      if (i >= s.size()) return std::string_view::npos;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0 || --depth == 0) return i + 1;
    } else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return std::string_view::npos;  // not an object or array: left to the parser as it is
    }
  }
  return std::string_view::npos;
}

// Whether nothing but whitespace follows where the walk of `doc` stands.
bool at_end(od::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

// One top-level JSON value: a document, or one line of NDJSON (`line`: nothing may follow it).
bool read_root(od::document& doc, Walk& w, std::string_view text, bool line,
               std::string& error) {
  od::json_type type;
  simdjson::error_code e;
  if ((e = doc.type().get(type))) {
    error = describe(e, "at the top level");
    return false;
  }
  if (type == od::json_type::object) {
    od::object root;
    UnitKeys u;
    if ((e = doc.get_object().get(root))) {
      error = describe(e, "at the top level");
      return false;
    }
    if (!read_fields(root, w, u, /*root=*/true, error)) return false;
    if (line && !at_end(doc)) {
      error = "unexpected content after the JSON value";
      return false;
    }
    if (u.containers || !w.shapes) return true;
    auto span = [&doc, text]() -> std::string_view {  // walks the object again (rare shapes)
      doc.rewind();
      od::object o;
      std::string_view raw;
      if (!doc.get_object().get(o) && !o.raw_json().get(raw)) return raw;
      // Its members were read, yet On-Demand cannot delimit it (malformed inside a value it
      // skipped): the document's text is the object, and the matcher reports it a bad record.
      std::string_view object = text;
      while (!object.empty() && is_space(object.front())) object.remove_prefix(1);
      return object;
    };
    return finish_unit(w, u, span, /*lookup_only=*/false, error);
  }
  if (type != od::json_type::array) {  // a scalar: a line of NDJSON that is no object
    // The type is read from the first byte only: the value must be one ("not json" is not).
    bool is_null = false, b = false;
    double d = 0;
    std::string_view str;
    switch (type) {
      case od::json_type::null:
        if (!(e = doc.is_null().get(is_null)) && !is_null) e = simdjson::N_ATOM_ERROR;
        break;
      case od::json_type::boolean: e = doc.get_bool().get(b); break;
      case od::json_type::number: e = doc.get_double().get(d); break;
      default: e = doc.get_string().get(str); break;
    }
    if (e) {
      error = describe(e, "at the top level");
      return false;
    }
    if (line && !at_end(doc)) {
      error = "unexpected content after the JSON value";
      return false;
    }
    note_unrecognised(w, "a JSON value that is not an object or an array");
    return true;
  }
  // An array (of events or records).
  od::array elements;
  if ((e = doc.get_array().get(elements))) {
    error = describe(e, "at the top level");
    return false;
  }
  size_t index = 0;
  for (auto element_result : elements) {
    od::value element;
    if ((e = std::move(element_result).get(element))) {
      error = describe(e, fmt::format("after record {}", w.stats.records).c_str());
      return false;
    }
    od::object o;
    std::string_view raw;
    e = element.get_object().get(o);
    if (e == simdjson::INCORRECT_TYPE) {
      note_unrecognised(w, fmt::format("element {} of a top-level array is not an object", index));
      e = skip_value(element);
    } else if (!e && !(e = o.raw_json().get(raw)) && !read_unit(raw, w, false, error)) {
      return false;
    }
    if (e) {
      error = describe(e, fmt::format("in element {} of the top-level array", index).c_str());
      return false;
    }
    ++index;
  }
  if (line && !at_end(doc)) {
    error = "unexpected content after the JSON value";
    return false;
  }
  return true;
}

// NDJSON: each line one top-level value. A line that is not one readable JSON value is a bad
// record of its own (with its line number), unless records of it were handed out already.
bool read_lines(Buffer& json, Walk& w, od::parser& parser, std::vector<BadByte>& bad_bytes,
                std::string& error) {
  const char* const base = json.data();
  const size_t size = json.size();
  size_t line_no = 0;
  for (size_t pos = 0; pos < size;) {
    const void* nl = std::memchr(base + pos, '\n', size - pos);
    const size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - base) : size;
    ++line_no;
    size_t b = pos, e = end;
    pos = end + 1;
    while (b < e && is_space(base[b])) ++b;
    while (e > b && is_space(base[e - 1])) --e;
    if (b == e) continue;
    w.where = fmt::format("line {}: ", line_no);
    const size_t visited = w.stats.records + w.stats.bad_records;
    const size_t capacity = size - b + Buffer::kPadding;
    od::document doc;
    auto err = parser.iterate(base + b, e - b, capacity).get(doc);
    if (err == simdjson::UTF8_ERROR || err == simdjson::UNESCAPED_CHARS) {
      // As for a whole file: neutralise the bad bytes of this line, report their records.
      const size_t known = bad_bytes.size();
      neutralise_bad_bytes(json, bad_bytes, b, e);
      if (bad_bytes.size() > known) err = parser.iterate(base + b, e - b, capacity).get(doc);
    }
    std::string why;
    if (err) why = describe(err, "(the line is not one JSON value)");
    else read_root(doc, w, std::string_view(base + b, e - b), /*line=*/true, why);
    if (why.empty()) continue;
    if (w.fatal || w.stats.records + w.stats.bad_records != visited) {
      // Records of this line were handed out already: a broken log file, as in a whole file.
      error = w.where + why;
      return false;
    }
    ++w.stats.elements;
    report_bad(w, std::string_view(base + b, e - b), why);
  }
  return true;
}

// A log file in its usual form, read from the extents scan_log_file() found (no bad bytes, every
// record within max_depth): what read_root() would visit, in the same order.
bool read_log_file_extents(const std::vector<RecordExtent>& extents, Walk& w,
                           std::string& error) {
  w.saw_records = true;
  w.stats.shapes |= kShapeLogFile;
  for (const RecordExtent& x : extents) {
    ++w.stats.elements;
    if (!visit(w, std::string_view(w.file_start + x.begin, x.end - x.begin), error,
               /*depth_within=*/true))
      return false;
  }
  return true;
}

}  // namespace

bool CloudTrailReader::release_memory(size_t keep) {
  bool released = impl_->unwrapper.release_memory(keep);
  if (impl_->parser.capacity() <= keep && impl_->unit_parser.capacity() <= keep &&
      impl_->bad_bytes.capacity() <= keep / 64 &&
      impl_->extents.capacity() * sizeof(RecordExtent) <= keep / 16)
    return released;
  impl_->parser = od::parser(limits_.max_decompressed_bytes);  // allocated again on use
  impl_->unit_parser = od::parser(limits_.max_decompressed_bytes);
  // (Assigning `{}` would keep the capacity: it assigns an empty initializer list.)
  impl_->bad_bytes = std::vector<BadByte>();
  impl_->extents = std::vector<RecordExtent>();
  return true;
}

bool CloudTrailReader::read(Buffer& json, RecordVisitor& visitor, ParseStats& stats,
                            std::string& error) {
  stats = ParseStats{};
  impl_->bad_bytes.clear();
  impl_->next_bad_byte = 0;
  Walk w{limits_,          json.data(),           json.data() + json.size(),
         impl_->bad_bytes, impl_->next_bad_byte,  impl_->unit_parser,
         impl_->unwrapper, visitor,               stats,
         !log_files_only_, {}};
  auto finish = [&](bool ok) {
    stats.kind = w.saw_records || stats.shapes ? FileKind::kRecords
                 : w.saw_digest_key            ? FileKind::kDigest
                                               : FileKind::kOther;
    return ok;
  };
  const bool line_delimited = w.shapes && is_line_delimited(json.view());
  if (!line_delimited && fast_path_ &&
      scan_log_file(json.view(), limits_.max_depth, limits_.max_records_per_file, impl_->extents))
    return finish(read_log_file_extents(impl_->extents, w, error));
  od::parser& parser = impl_->parser;  // sized on first use (the fast path does without it)
  if (parser.max_depth() != limits_.max_depth || parser.capacity() < json.size()) {
    if (auto e = parser.allocate(std::max(json.size(), parser.capacity()), limits_.max_depth)) {
      error = fmt::format("cannot allocate the JSON parser: {}", simdjson::error_message(e));
      return false;
    }
  }
  if (line_delimited) {
    stats.line_delimited = true;
    return finish(read_lines(json, w, parser, impl_->bad_bytes, error));
  }
  // A file may hold several JSON documents one after the other: `cat a.gz b.gz` of two
  // CloudTrail files decompresses to {"Records":[...]}{"Records":[...]}.
  const char* const end = json.data() + json.size();
  const char* start = json.data();
  for (size_t document = 0;; ++document) {
    od::document doc;
    // The first document's parse indexes (and checks) the whole text; each later one only
    // itself, where its end can be found: many documents (`jq .` of NDJSON) stay linear.
    size_t length = static_cast<size_t>(end - start);
    if (document > 0) length = std::min(length, json_value_length(std::string_view(start, length)));
    auto e = parser.iterate(start, length, length + Buffer::kPadding).get(doc);
    if ((e == simdjson::UTF8_ERROR || e == simdjson::UNESCAPED_CHARS) && document == 0 &&
        impl_->bad_bytes.empty()) {
      // Stage 1 checks the whole text at once: find the bad bytes, neutralise them, and let
      // the records that hold them be reported one by one (rare path, a scalar pass).
      neutralise_bad_bytes(json, impl_->bad_bytes);
      if (!impl_->bad_bytes.empty())
        e = parser.iterate(start, length, length + Buffer::kPadding).get(doc);
    }
    if (e) {
      error = describe(e, "(in the whole file)");
      return finish(false);
    }
    od::json_type type;
    if ((e = doc.type().get(type))) {
      error = describe(e, "at the top level");
      return finish(false);
    }
    if (type != od::json_type::object && !(w.shapes && type == od::json_type::array)) {
      if (document == 0) {
        // valid JSON that is neither an object nor (a list of events) an array
        if (w.shapes) note_unrecognised(w, "a JSON value that is not an object or an array");
        stats.kind = FileKind::kOther;
        return true;
      }
      error = fmt::format("unexpected content after the top-level JSON object, at byte {}",
                          start - json.data());
      return finish(false);
    }
    if (!read_root(doc, w, std::string_view(start, length), /*line=*/false, error))
      return finish(false);
    auto next = doc.current_location();
    if (next.error() == simdjson::OUT_OF_BOUNDS) {  // nothing but whitespace left (in `length`)
      const char* after = start + length;
      while (after < end && is_space(*after)) ++after;
      if (after == end) break;
      start = after;
      continue;
    }
    if (next.error()) {
      error = describe(next.error(), "after the top-level JSON object");
      return finish(false);
    }
    start = next.value_unsafe();
  }
  return finish(true);
}

}  // namespace trailwarden
