// The datapoint one matching record gives a rule's metric (CloudWatch metric filter semantics,
// docs/alarms.md "Semantics"): its value — the literal, or the number at the value selector —
// and its dimension values. Stateless; the record is a parsed simdjson DOM element, as the
// matcher hands it to on_match (agent/rules/matcher.h). Field paths are walked by the same code
// as filter patterns (rules::select_json).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/rules/metric_alarm.h"

namespace simdjson::dom {
class element;
}

namespace trailwarden::alarms {

enum class DatapointOutcome {
  kEmitted,           // value and every dimension found
  kValueMissing,      // the value selector names no field: no datapoint
  kValueNotNumeric,   // the field is not a number nor a decimal string: no datapoint
  kDimensionMissing,  // a dimension's field is absent, an object/array or null: no datapoint
  kDimensionInvalid,  // a dimension's value is empty or longer than 1024 characters
};
std::string_view outcome_name(DatapointOutcome o);  // "value_not_numeric", for counters

struct Datapoint {
  DatapointOutcome outcome = DatapointOutcome::kEmitted;
  double value = 0;
  // One value per MetricSpec::dimensions (same order: sorted by name). Numbers and booleans
  // as their JSON text.
  std::vector<std::string> dimensions;
  std::string reason;  // for an outcome other than kEmitted: which field and why, in words
};

// Longest dimension value CloudWatch accepts.
inline constexpr size_t kMaxDimensionValue = 1024;

// `record` is nullptr for an event that is not a JSON object: a literal value still counts it
// (a metric with dimensions or a value selector gives no datapoint then).
Datapoint extract_datapoint(const MetricSpec& spec, const simdjson::dom::element* record);

// Whether extract_datapoint() reads any field of the record (a value selector or a dimension).
// When it does not (a literal value without dimensions, as every CIS alarm), the datapoint is
// the same whatever the record, nullptr included: callers need not parse the record for it.
bool reads_record(const MetricSpec& spec);

// The key of an alarm instance: the dimension values, each length-prefixed ("4:alice"), so
// that distinct sets never collide. "" for a metric without dimensions.
std::string dimension_key(const std::vector<std::string>& values);
// The values back from a dimension_key(); false when `key` is not one.
bool parse_dimension_key(std::string_view key, std::vector<std::string>& values);

}  // namespace trailwarden::alarms
