#include "agent/decode/cloudtrail.h"

#include <simdjson.h>

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <fmt/format.h>
#include <vector>

#include "agent/common/json_writer.h"

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
  od::parser parser;
  std::vector<BadByte> bad_bytes;  // in the current file, by offset
  size_t next_bad_byte = 0;        // first of them not before the current record
};

CloudTrailReader::CloudTrailReader(const DecodeLimits& limits)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
  impl_->parser = od::parser(limits.max_decompressed_bytes);
}

CloudTrailReader::~CloudTrailReader() = default;

namespace {

// How many bytes of `s` are '{' or '[' ('{' is 0x7B and '[' 0x5B: both are 0x7B once bit 0x20
// is set, and no other byte is). 16 bytes per step with SSE2; this runs on every record.
size_t count_opening_brackets(std::string_view s) {
  size_t count = 0, i = 0;
#if defined(__SSE2__)
  // Per-byte counters (a match is -1, subtracted), summed up every 255 steps before they wrap.
  const __m128i bit = _mm_set1_epi8(0x20);
  const __m128i open = _mm_set1_epi8(0x7B);
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= s.size()) {
    __m128i counters = zero;
    for (int steps = 0; steps < 255 && i + 16 <= s.size(); ++steps, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(_mm_or_si128(v, bit), open));
    }
    const __m128i sums = _mm_sad_epu8(counters, zero);  // two 64-bit sums of 8 bytes each
    count += static_cast<size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < s.size(); ++i) count += static_cast<size_t>((s[i] | 0x20) == 0x7B);
  return count;
}

}  // namespace

bool json_depth_within(std::string_view raw, size_t limit) {
  // Every container opens with '{' or '[': their count bounds the depth, and for most
  // CloudTrail records that bound already settles it.
  if (count_opening_brackets(raw) <= limit) return true;
  // Exact: follow the nesting, skipping strings (brackets inside them do not count).
  size_t depth = 0;
  const size_t n = raw.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = raw[i];
    if (c == '"') {
      for (++i; i < n; ++i) {
        i = raw.find_first_of("\\\"", i);
        if (i == std::string_view::npos) return true;  // unclosed: the parser reports it
        if (raw[i] == '"') break;
        ++i;  // the escaped character
      }
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

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
void neutralise_bad_bytes(Buffer& json, std::vector<BadByte>& bad) {
  const std::string_view text = json.view();
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
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

// Reads the members of one top-level object: the records of "Records", and notes digest keys.
// Why a delimited record cannot be handed to the matcher, or "" (see the header: bad records).
// `offset` is the record's position in the file; `bad`/`next` as in Impl.
std::string check_record(std::string_view raw, size_t offset, const DecodeLimits& limits,
                         const std::vector<BadByte>& bad, size_t& next) {
  while (next < bad.size() && bad[next].offset < offset) ++next;
  if (next < bad.size() && bad[next].offset < offset + raw.size())
    return fmt::format("{} at byte {} of the record",
                       bad[next].control ? "an unescaped control character in a string"
                                         : "invalid UTF-8",
                       bad[next].offset - offset);
  return record_limit_error(raw, limits);
}

bool read_document(od::object& root, const DecodeLimits& limits_, const char* file_start,
                   const std::vector<BadByte>& bad_bytes, size_t& next_bad_byte,
                   RecordVisitor& visitor, ParseStats& stats, bool& saw_records,
                   bool& saw_digest_key, std::string& error) {
  simdjson::error_code e;
  bool records_in_this_document = false;
  for (auto field_result : root) {
    od::field field;
    if ((e = std::move(field_result).get(field))) {
      error = describe(e, fmt::format("after record {}", stats.records).c_str());
      return false;
    }
    std::string_view key;
    if ((e = field.unescaped_key().get(key))) {
      error = describe(e, "in a top-level key");
      return false;
    }
    if (key == "Records" && !records_in_this_document) {
      saw_records = records_in_this_document = true;
      od::array records;
      if ((e = field.value().get_array().get(records))) {
        error = e == simdjson::INCORRECT_TYPE ? std::string("\"Records\" is not an array")
                                              : describe(e, "at \"Records\"");
        return false;
      }
      for (auto element_result : records) {
        od::value element;
        if ((e = std::move(element_result).get(element))) {
          error = describe(e, fmt::format("after record {}", stats.records).c_str());
          return false;
        }
        ++stats.elements;
        od::object record;
        e = element.get_object().get(record);
        if (e == simdjson::INCORRECT_TYPE) {
          // Not an object: count it and skip it (arrays are walked, scalars are one token).
          ++stats.skipped_non_objects;
          od::array a;
          std::string_view ignored;
          if (!element.get_array().get(a)) e = a.raw_json().get(ignored);
          else e = simdjson::SUCCESS;
          if (e) {
            error = describe(e, fmt::format("at record {}", stats.records).c_str());
            return false;
          }
          continue;
        }
        std::string_view raw;
        if (e || (e = record.raw_json().get(raw))) {
          error = describe(e, fmt::format("in record {}", stats.records).c_str());
          return false;
        }
        if (stats.records + stats.bad_records >= limits_.max_records_per_file) {
          error = fmt::format("more than {} records in one file (limits.max_records_per_file)",
                              limits_.max_records_per_file);
          return false;
        }
        std::string why = check_record(raw, static_cast<size_t>(raw.data() - file_start), limits_,
                                       bad_bytes, next_bad_byte);
        if (!why.empty()) {
          ++stats.bad_records;
          visitor.on_bad_record(stats.elements - 1, raw, why);
          continue;
        }
        ++stats.records;
        visitor.on_record(raw);
      }
    } else {
      if (key == "digestStartTime" || key == "digestEndTime" || key == "logFiles" ||
          key == "previousDigestSignature")
        saw_digest_key = true;
      // Skipping a value validates it as far as On-Demand can.
      od::value& v = field.value();
      od::json_type type;
      if ((e = v.type().get(type))) {
        error = describe(e, fmt::format("at top-level key \"{}\"", key).c_str());
        return false;
      }
      std::string_view ignored;
      if (type == od::json_type::object) {
        od::object o;
        if (!(e = v.get_object().get(o))) e = o.raw_json().get(ignored);
      } else if (type == od::json_type::array) {
        od::array a;
        if (!(e = v.get_array().get(a))) e = a.raw_json().get(ignored);
      } else {
        ignored = v.raw_json_token();
      }
      if (e) {
        error = describe(e, fmt::format("at top-level key \"{}\"", key).c_str());
        return false;
      }
    }
  }
  return true;
}

}  // namespace

bool CloudTrailReader::release_memory(size_t keep) {
  if (impl_->parser.capacity() <= keep && impl_->bad_bytes.capacity() <= keep / 64) return false;
  impl_->parser = od::parser(limits_.max_decompressed_bytes);  // allocated again on use
  impl_->bad_bytes = {};
  return true;
}

bool CloudTrailReader::read(Buffer& json, RecordVisitor& visitor, ParseStats& stats,
                            std::string& error) {
  stats = ParseStats{};
  impl_->bad_bytes.clear();
  impl_->next_bad_byte = 0;
  od::parser& parser = impl_->parser;
  if (parser.max_depth() != limits_.max_depth || parser.capacity() < json.size()) {
    if (auto e = parser.allocate(std::max(json.size(), parser.capacity()), limits_.max_depth)) {
      error = fmt::format("cannot allocate the JSON parser: {}", simdjson::error_message(e));
      return false;
    }
  }
  // A file may hold several JSON documents one after the other: `cat a.gz b.gz` of two
  // CloudTrail files decompresses to {"Records":[...]}{"Records":[...]}.
  const char* const end = json.data() + json.size();
  const char* start = json.data();
  bool saw_records = false, saw_digest_key = false;
  for (size_t document = 0;; ++document) {
    od::document doc;
    const auto length = static_cast<size_t>(end - start);
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
      return false;
    }
    od::object root;
    if ((e = doc.get_object().get(root))) {
      if (e == simdjson::INCORRECT_TYPE && document == 0) {
        stats.kind = FileKind::kOther;
        return true;  // valid JSON that is not an object: not a CloudTrail file
      }
      error = document == 0 ? describe(e, "at the top level")
                            : fmt::format("unexpected content after the top-level JSON object, at "
                                          "byte {}",
                                          start - json.data());
      return false;
    }
    if (!read_document(root, limits_, json.data(), impl_->bad_bytes, impl_->next_bad_byte, visitor,
                       stats, saw_records, saw_digest_key, error))
      return false;
    auto next = doc.current_location();
    if (next.error() == simdjson::OUT_OF_BOUNDS) break;  // nothing but whitespace left
    if (next.error()) {
      error = describe(next.error(), "after the top-level JSON object");
      return false;
    }
    start = next.value_unsafe();
  }
  stats.kind = saw_records ? FileKind::kRecords : (saw_digest_key ? FileKind::kDigest : FileKind::kOther);
  return true;
}

}  // namespace trailwarden
