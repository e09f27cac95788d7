#include "agent/alarms/metric_value.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>

namespace trailwarden::alarms {

namespace {

// The JSON text of a scalar dimension value; false for objects, arrays, null.
bool scalar_text(const simdjson::dom::element& e, std::string& out) {
  char buf[64];
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      out = std::string(e.get_string().value_unsafe());
      return true;
    case simdjson::dom::element_type::INT64: {
      auto r = std::to_chars(buf, buf + sizeof buf, e.get_int64().value_unsafe());
      out.assign(buf, r.ptr);
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      auto r = std::to_chars(buf, buf + sizeof buf, e.get_uint64().value_unsafe());
      out.assign(buf, r.ptr);
      return true;
    }
    case simdjson::dom::element_type::DOUBLE: {
      auto r = std::to_chars(buf, buf + sizeof buf, e.get_double().value_unsafe());
      out.assign(buf, r.ptr);
      return true;
    }
    case simdjson::dom::element_type::BOOL:
      out = e.get_bool().value_unsafe() ? "true" : "false";
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view outcome_name(DatapointOutcome o) {
  switch (o) {
    case DatapointOutcome::kEmitted: return "emitted";
    case DatapointOutcome::kValueMissing: return "value_missing";
    case DatapointOutcome::kValueNotNumeric: return "value_not_numeric";
    case DatapointOutcome::kDimensionMissing: return "dimension_missing";
    case DatapointOutcome::kDimensionInvalid: return "dimension_invalid";
  }
  return "?";
}

Datapoint extract_datapoint(const MetricSpec& spec, const simdjson::dom::element* record) {
  Datapoint d;
  if (!spec.value.is_selector) {
    d.value = spec.value.literal;
  } else {
    simdjson::dom::element v;
    if (!record || !rules::select_json(*record, spec.value.selector, v)) {
      d.outcome = DatapointOutcome::kValueMissing;
      d.reason = fmt::format("metric value {}: no such field", spec.value.selector_text);
      return d;
    }
    bool ok = false;
    switch (v.type()) {
      case simdjson::dom::element_type::INT64:
        d.value = static_cast<double>(v.get_int64().value_unsafe());
        ok = true;
        break;
      case simdjson::dom::element_type::UINT64:
        d.value = static_cast<double>(v.get_uint64().value_unsafe());
        ok = true;
        break;
      case simdjson::dom::element_type::DOUBLE:
        d.value = v.get_double().value_unsafe();
        ok = std::isfinite(d.value);
        break;
      case simdjson::dom::element_type::STRING:
        ok = rules::decimal_string_to_number(v.get_string().value_unsafe(), d.value) &&
             std::isfinite(d.value);
        break;
      default:
        break;
    }
    if (!ok) {
      d.outcome = DatapointOutcome::kValueNotNumeric;
      d.value = 0;
      d.reason = fmt::format("metric value {}: not a number", spec.value.selector_text);
      return d;
    }
  }
  d.dimensions.reserve(spec.dimensions.size());
  for (const auto& dim : spec.dimensions) {
    simdjson::dom::element e;
    std::string text;
    if (!record || !rules::select_json(*record, dim.selector, e) || !scalar_text(e, text)) {
      d.outcome = DatapointOutcome::kDimensionMissing;
      d.reason = fmt::format("dimension {} ({}): no such field, or not a string, number or boolean",
                             dim.name, dim.selector_text);
      d.dimensions.clear();
      return d;
    }
    if (text.empty() || text.size() > kMaxDimensionValue) {
      d.outcome = DatapointOutcome::kDimensionInvalid;
      d.reason = fmt::format("dimension {} ({}): value of {} characters (1 to {} allowed)", dim.name,
                             dim.selector_text, text.size(), kMaxDimensionValue);
      d.dimensions.clear();
      return d;
    }
    d.dimensions.push_back(std::move(text));
  }
  return d;
}

bool reads_record(const MetricSpec& spec) {
  return spec.value.is_selector || !spec.dimensions.empty();
}

std::string dimension_key(const std::vector<std::string>& values) {
  std::string key;
  for (const auto& v : values) fmt::format_to(std::back_inserter(key), "{}:{}", v.size(), v);
  return key;
}

bool parse_dimension_key(std::string_view key, std::vector<std::string>& values) {
  values.clear();
  while (!key.empty()) {
    const size_t colon = key.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) return false;
    size_t n = 0;
    for (char c : key.substr(0, colon)) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    if (n > key.size() - colon - 1) return false;
    values.emplace_back(key.substr(colon + 1, n));
    key.remove_prefix(colon + 1 + n);
  }
  return true;
}

}  // namespace trailwarden::alarms
