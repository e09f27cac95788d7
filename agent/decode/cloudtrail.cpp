#include "agent/decode/cloudtrail.h"

#include <simdjson.h>

#include <fmt/format.h>

namespace trailwarden {

static_assert(Buffer::kPadding >= simdjson::SIMDJSON_PADDING, "Buffer padding too small");

namespace od = simdjson::ondemand;

struct CloudTrailReader::Impl {
  od::parser parser;
};

CloudTrailReader::CloudTrailReader(const DecodeLimits& limits)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
  impl_->parser = od::parser(limits.max_decompressed_bytes);
}

CloudTrailReader::~CloudTrailReader() = default;

namespace {

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
bool read_document(od::object& root, const DecodeLimits& limits_, RecordVisitor& visitor,
                   ParseStats& stats, bool& saw_records, bool& saw_digest_key, std::string& error) {
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
        if (stats.records >= limits_.max_records_per_file) {
          error = fmt::format("more than {} records in one file (limits.max_records_per_file)",
                              limits_.max_records_per_file);
          return false;
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

bool CloudTrailReader::read(const Buffer& json, RecordVisitor& visitor, ParseStats& stats,
                            std::string& error) {
  stats = ParseStats{};
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
    if (!read_document(root, limits_, visitor, stats, saw_records, saw_digest_key, error))
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
