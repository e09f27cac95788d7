#include "agent/decode/shapes.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "agent/decode/cloudtrail.h"

namespace trailwarden {

namespace {

constexpr std::string_view kLogFileStart = "{\"Records\"";
constexpr std::string_view kEventKey = "CloudTrailEvent";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// The index just past the string whose opening quote is at s[i], or npos if it is not closed.
size_t string_end(std::string_view s, size_t i) {
  ++i;
  while (i < s.size()) {
    i = s.find_first_of("\\\"", i);
    if (i == std::string_view::npos) return i;
    if (s[i] == '"') return i + 1;
    i += 2;  // the backslash and the escaped character
  }
  return std::string_view::npos;
}

// Whether `line` is exactly one complete JSON object or array (brackets balanced outside
// strings, closing at its last byte). A lexical check: the parser decides the rest.
bool one_complete_value(std::string_view line) {
  size_t depth = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      i = string_end(line, i);
      if (i == std::string_view::npos) return false;
      --i;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0 || (--depth == 0 && i + 1 != line.size())) return false;
    }
  }
  return depth == 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read_hex4(std::string_view s, size_t i, uint32_t& v) {
  if (i + 4 > s.size()) return false;
  v = 0;
  for (size_t k = 0; k < 4; ++k) {
    const int h = hex_value(s[i + k]);
    if (h < 0) return false;
    v = v * 16 + static_cast<uint32_t>(h);
  }
  return true;
}

void append_utf8(Buffer& out, size_t& n, uint32_t cp) {
  char* p = out.data() + n;
  if (cp < 0x80) {
    p[0] = static_cast<char>(cp);
    n += 1;
  } else if (cp < 0x800) {
    p[0] = static_cast<char>(0xC0 | (cp >> 6));
    p[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n += 2;
  } else if (cp < 0x10000) {
    p[0] = static_cast<char>(0xE0 | (cp >> 12));
    p[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    p[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n += 3;
  } else {
    p[0] = static_cast<char>(0xF0 | (cp >> 18));
    p[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    p[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    p[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n += 4;
  }
}

// Unescapes the contents of a JSON string (without its quotes) into `out`. False if it is not
// a valid JSON string (a bad escape, a lone surrogate, a raw control character).
bool unescape_json_string(std::string_view s, Buffer& out) {
  out.reserve(s.size());  // unescaping never lengthens
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) < 0x20) return false;
    if (c != '\\') {
      out.data()[n++] = c;
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return false;
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"': out.data()[n++] = '"'; break;
      case '\\': out.data()[n++] = '\\'; break;
      case '/': out.data()[n++] = '/'; break;
      case 'b': out.data()[n++] = '\b'; break;
      case 'f': out.data()[n++] = '\f'; break;
      case 'n': out.data()[n++] = '\n'; break;
      case 'r': out.data()[n++] = '\r'; break;
      case 't': out.data()[n++] = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (!read_hex4(s, i, cp)) return false;
        i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a lone low surrogate
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low;
          if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u' || !read_hex4(s, i + 2, low) ||
              low < 0xDC00 || low > 0xDFFF)
            return false;  // a lone high surrogate
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, n, cp);  // \uXXXX is 6 bytes and yields at most 3; a pair 12 for 4
        break;
      }
      default:
        return false;
    }
  }
  out.set_size(n);
  return true;
}

}  // namespace

std::string describe_shapes(unsigned shapes, bool line_delimited) {
  std::vector<std::string_view> parts;
  if (shapes & kShapeLogFile) parts.push_back("CloudTrail log files");
  if (shapes & kShapeLookupEvents) parts.push_back("lookup-events output");
  if (shapes & kShapeEventBridge) parts.push_back("EventBridge events");
  if (shapes & kShapeRecord) parts.push_back("CloudTrail records");
  if (parts.empty()) return {};
  std::string out = line_delimited ? "NDJSON of " : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  if (!line_delimited && shapes == kShapeLogFile) out = "a CloudTrail log file";
  return out;
}

bool is_line_delimited(std::string_view text) {
  const size_t start = skip_space(text, 0);
  if (text.substr(start).starts_with(kLogFileStart)) return false;
  const size_t nl = text.find('\n', start);
  if (nl == std::string_view::npos) return false;
  const size_t next = skip_space(text, nl + 1);
  if (next == text.size()) return false;  // one line only
  std::string_view line = text.substr(start, nl - start);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  if (line.size() < 2 || (line.front() != '{' && line.front() != '[')) return false;
  if (one_complete_value(line)) return true;
  // A broken first line (not an opening bracket alone, as pretty-printed JSON starts) followed
  // by an object at the start of a line.
  return line.front() == '{' && text[next] == '{' && text[next - 1] == '\n';
}

std::string cloudtrail_event_error(std::string_view record, const DecodeLimits& limits,
                                   simdjson::dom::parser& parser) {
  if (std::string why = record_limit_error(record, limits); !why.empty()) return why;
  simdjson::dom::element e;
  if (auto err = parser.parse(record.data(), record.size(), true).get(e))
    return fmt::format("the CloudTrailEvent string is not valid JSON ({})",
                       simdjson::error_message(err));
  if (!e.is_object()) return "the CloudTrailEvent string is not a JSON object";
  return {};
}

LookupEventsUnwrapper::LookupEventsUnwrapper(const DecodeLimits& limits)
    : limits_(limits), parser_(std::make_unique<simdjson::dom::parser>()) {}

LookupEventsUnwrapper::~LookupEventsUnwrapper() = default;

std::string LookupEventsUnwrapper::error_for(std::string_view record) {
  return cloudtrail_event_error(record, limits_, *parser_);
}

bool LookupEventsUnwrapper::release_memory(size_t keep) {
  bool released = out_.release_above(keep);
  released |= record_.release_above(keep);
  if (parser_->capacity() > keep) {
    *parser_ = simdjson::dom::parser();
    released = true;
  }
  return released;
}

size_t LookupEventsUnwrapper::unwrap(Buffer& json) {
  const std::string_view text = json.view();
  const size_t start = skip_space(text, 0);
  if (text.substr(start).starts_with(kLogFileStart)) return 0;
  constexpr std::string_view kQuotedKey = "\"CloudTrailEvent\"";
  if (!::memmem(text.data() + start, text.size() - start, kQuotedKey.data(), kQuotedKey.size()))
    return 0;

  // A lexical walk: which container we are in decides whether a "CloudTrailEvent" member is an
  // event's (the record as a string) or just a key somewhere inside a record. Only the first
  // levels matter; deeper ones are counted, not kept.
  struct Frame {
    bool object = false;
    bool events_array = false;  // the array of a top-level object's "Events" member
    bool event_object = false;  // an object whose CloudTrailEvent member is unwrapped
    bool expect_key = false;
    std::string_view key;  // the member whose value comes next (objects)
  };
  constexpr size_t kKept = 4;
  Frame frames[kKept];
  size_t depth = 0;
  size_t copied = 0, unwrapped = 0;
  out_.clear();
  auto emit = [&](std::string_view piece) { out_.append(piece); };

  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      const size_t end = string_end(text, i);
      if (end == std::string_view::npos) break;  // unclosed: the reader reports it
      if (depth >= 1 && depth <= kKept && frames[depth - 1].object) {
        Frame& f = frames[depth - 1];
        if (f.expect_key) {
          f.key = text.substr(i + 1, end - i - 2);
          f.expect_key = false;
        } else if (f.event_object && f.key == kEventKey &&
                   unescape_json_string(text.substr(i + 1, end - i - 2), record_) &&
                   error_for(record_.view()).empty()) {
          // The record's own line breaks are whitespace (it parsed): spaces keep NDJSON lines.
          std::replace_if(record_.data(), record_.data() + record_.size(),
                          [](char b) { return b == '\n' || b == '\r'; }, ' ');
          emit(text.substr(copied, i - copied));
          emit(record_.view());
          copied = end;
          ++unwrapped;
        }
      }
      i = end - 1;
    } else if (c == '{' || c == '[') {
      if (depth < kKept) {
        Frame f;
        f.object = c == '{';
        const Frame* parent = depth > 0 ? &frames[depth - 1] : nullptr;
        if (f.object) {
          f.expect_key = true;
          f.event_object = parent == nullptr || (depth == 1 && !parent->object) ||
                           parent->events_array;
        } else {
          f.events_array = depth == 1 && parent->object && parent->key == "Events";
        }
        frames[depth] = f;
      }
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth > 0) --depth;
    } else if (c == ',') {
      if (depth >= 1 && depth <= kKept && frames[depth - 1].object) {
        frames[depth - 1].expect_key = true;
        frames[depth - 1].key = {};
      }
    }
  }
  if (unwrapped == 0) return 0;
  emit(text.substr(copied));
  std::swap(json, out_);
  return unwrapped;
}

}  // namespace trailwarden
