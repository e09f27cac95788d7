#include "agent/rules/metric_alarm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "agent/config/toml_util.h"

namespace trailwarden::alarms {

namespace {

template <typename E>
struct Named {
  E value;
  std::string_view name;
};

constexpr Named<Statistic> kStatistics[] = {
    {Statistic::kSampleCount, "SampleCount"}, {Statistic::kSum, "Sum"},
    {Statistic::kMinimum, "Minimum"},         {Statistic::kMaximum, "Maximum"},
    {Statistic::kAverage, "Average"},
};
constexpr Named<Comparison> kComparisons[] = {
    {Comparison::kGreaterThanOrEqualToThreshold, "GreaterThanOrEqualToThreshold"},
    {Comparison::kGreaterThanThreshold, "GreaterThanThreshold"},
    {Comparison::kLessThanThreshold, "LessThanThreshold"},
    {Comparison::kLessThanOrEqualToThreshold, "LessThanOrEqualToThreshold"},
};
constexpr Named<TreatMissingData> kTreatMissing[] = {
    {TreatMissingData::kMissing, "missing"},
    {TreatMissingData::kNotBreaching, "notBreaching"},
    {TreatMissingData::kBreaching, "breaching"},
    {TreatMissingData::kIgnore, "ignore"},
};
constexpr Named<AlarmState> kStates[] = {
    {AlarmState::kInsufficientData, "INSUFFICIENT_DATA"},
    {AlarmState::kOk, "OK"},
    {AlarmState::kAlarm, "ALARM"},
};

// CloudWatch's units (MetricTransformation.unit, PutMetricData's StandardUnit).
constexpr std::string_view kUnits[] = {
    "Seconds",          "Microseconds",      "Milliseconds",     "Bytes",
    "Kilobytes",        "Megabytes",         "Gigabytes",        "Terabytes",
    "Bits",             "Kilobits",          "Megabits",         "Gigabits",
    "Terabits",         "Percent",           "Count",            "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second",  "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second",      "Kilobits/Second",   "Megabits/Second",  "Gigabits/Second",
    "Terabits/Second",  "Count/Second",      "None",
};

template <typename E, size_t N>
std::string_view name_of(const Named<E> (&table)[N], E v) {
  for (const auto& n : table)
    if (n.value == v) return n.name;
  return "?";
}

template <typename E, size_t N>
bool parse_name(const Named<E> (&table)[N], std::string_view name, E& out) {
  for (const auto& n : table) {
    if (n.name == name) {
      out = n.value;
      return true;
    }
  }
  return false;
}

template <typename E, size_t N>
std::string names_of(const Named<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i) out += i + 1 == N ? " or " : ", ";
    out += table[i].name;
  }
  return out;
}

// Reads one table (metric or alarm) with positions in every message.
class Reader {
 public:
  Reader(const std::string& origin, const toml::table& t, std::string what)
      : origin_(origin), table_(t), what_(std::move(what)) {}

  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const {
    throw std::runtime_error(fmt::format("{}: {}: {}", toml_where(origin_, n.source()), what_, msg));
  }
  [[noreturn]] void fail_table(const std::string& msg) const { fail(table_, msg); }

  const toml::node* get(std::string_view key) {
    known_.emplace_back(key);
    return table_.get(key);
  }
  const toml::node& require(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) fail_table(fmt::format("missing required key '{}'", key));
    return *n;
  }
  std::optional<std::string> string(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(*n, fmt::format("'{}' must be a string", key));
    return std::string(*n->value<std::string_view>());
  }
  static bool number_of(const toml::node& n, double& out) {
    if (n.is_integer()) {
      out = static_cast<double>(*n.value<int64_t>());
      return true;
    }
    if (n.is_floating_point()) {
      out = *n.value<double>();
      return std::isfinite(out);
    }
    return false;
  }
  double number(const toml::node& n, std::string_view key) const {
    double d = 0;
    if (!number_of(n, d)) fail(n, fmt::format("'{}' must be a finite number", key));
    return d;
  }
  int64_t integer(const toml::node& n, std::string_view key) const {
    if (!n.is_integer()) fail(n, fmt::format("'{}' must be an integer", key));
    return *n.value<int64_t>();
  }
  void finish() const {
    for (const auto& [k, v] : table_) {
      bool ok = std::find(known_.begin(), known_.end(), k.str()) != known_.end();
      if (!ok)
        throw std::runtime_error(fmt::format("{}: {}: unknown key '{}'",
                                             toml_where(origin_, k.source()), what_, k.str()));
    }
  }

 private:
  const std::string& origin_;
  const toml::table& table_;
  std::string what_;
  std::vector<std::string_view> known_;
};

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}
bool has_non_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c != ' ' && c != '\t'; });
}

// PutMetricFilter's metricName / metricNamespace: 1-255 characters, none of ':', '*', '$'.
void check_filter_name(Reader& r, const toml::node& n, std::string_view key, std::string_view v) {
  if (v.empty() || v.size() > 255) r.fail(n, fmt::format("'{}' must have 1 to 255 characters", key));
  if (v.find_first_of(":*$") != std::string_view::npos)
    r.fail(n, fmt::format("'{}' must not contain ':', '*' or '$' (CloudWatch metric filters refuse "
                          "them)",
                          key));
}

std::vector<rules::PathStep> parse_selector(Reader& r, const toml::node& n, std::string_view key,
                                            const std::string& text) {
  rules::ParseError err;
  auto steps = rules::parse_json_selector(text, &err);
  if (!steps)
    r.fail(n, fmt::format("'{}' = \"{}\" is not a JSON selector such as \"$.a.b[0]\" ({})", key,
                          text, err.to_string()));
  return std::move(*steps);
}

MetricSpec parse_metric(const std::string& origin, const toml::table& t, std::string_view rule_id) {
  Reader r(origin, t, "metric");
  MetricSpec m;
  m.name = std::string(rule_id);
  if (auto v = r.string("name")) {
    check_filter_name(r, *t.get("name"), "name", *v);
    m.name = *v;
  } else {
    // The default comes from the rule id, which allows only letters, digits, '-', '_' and '.'.
  }
  if (auto v = r.string("namespace")) {
    const toml::node& n = *t.get("namespace");
    check_filter_name(r, n, "namespace", *v);
    for (char c : *v) {
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                      c == '_' || c == '/' || c == '#' || c == ' ';
      if (!ok || static_cast<unsigned char>(c) >= 0x80)
        r.fail(n, "'namespace' may contain only letters, digits, '.', '-', '_', '/', '#' and spaces");
    }
    if (!has_non_space(*v)) r.fail(n, "'namespace' must not be only spaces");
    if (v->rfind("AWS/", 0) == 0)
      r.fail(n, "'namespace' must not start with 'AWS/' (reserved for AWS services)");
    m.namespace_ = *v;
  }
  if (const toml::node* n = r.get("value")) {
    double d = 0;
    if (Reader::number_of(*n, d)) {
      m.value.literal = d;
    } else if (n->is_string()) {
      std::string text(*n->value<std::string_view>());
      if (!text.empty() && text[0] == '$') {
        m.value.is_selector = true;
        m.value.selector = parse_selector(r, *n, "value", text);
        m.value.selector_text = text;
      } else if (rules::decimal_string_to_number(text, d)) {
        m.value.literal = d;
      } else {
        r.fail(*n, fmt::format("'value' = \"{}\" is neither a number nor a \"$.field\" selector",
                               text));
      }
    } else {
      r.fail(*n, "'value' must be a finite number or a \"$.field\" selector");
    }
  }
  if (const toml::node* n = r.get("default_value")) m.default_value = r.number(*n, "default_value");
  if (auto v = r.string("unit")) {
    if (std::find(std::begin(kUnits), std::end(kUnits), *v) == std::end(kUnits))
      r.fail(*t.get("unit"),
             fmt::format("unknown unit '{}' (CloudWatch units: {})", *v, fmt::join(kUnits, ", ")));
    m.unit = *v;
  }
  if (const toml::node* n = r.get("dimensions")) {
    const toml::table* dt = n->as_table();
    if (!dt) r.fail(*n, "'dimensions' must be a table of name = \"$.field\"");
    if (dt->size() > MetricSpec::kMaxDimensions)
      r.fail(*n, fmt::format("at most {} dimensions (CloudWatch metric filters allow no more), "
                             "found {}",
                             MetricSpec::kMaxDimensions, dt->size()));
    for (const auto& [k, v] : *dt) {
      const std::string name(k.str());
      if (name.empty() || name.size() > 255 || !is_ascii(name) || !has_non_space(name) ||
          name[0] == ':')
        r.fail(v, fmt::format("dimension name '{}' must have 1 to 255 ASCII characters, not only "
                              "spaces, and not start with ':'",
                              name));
      if (!v.is_string())
        r.fail(v, fmt::format("dimension '{}' must be a \"$.field\" selector string", name));
      std::string text(*v.value<std::string_view>());
      DimensionSpec d;
      d.name = name;
      d.selector = parse_selector(r, v, fmt::format("dimensions.{}", name), text);
      d.selector_text = text;
      m.dimensions.push_back(std::move(d));
    }
    std::sort(m.dimensions.begin(), m.dimensions.end(),
              [](const DimensionSpec& a, const DimensionSpec& b) { return a.name < b.name; });
    if (m.default_value && !m.dimensions.empty())
      r.fail(*n, "'dimensions' cannot be used together with 'default_value' (CloudWatch refuses "
                 "a metric filter with both)");
  }
  r.finish();
  return m;
}

AlarmSpec parse_alarm(const std::string& origin, const toml::table& t, std::string_view rule_id) {
  Reader r(origin, t, "alarm");
  AlarmSpec a;
  a.name = std::string(rule_id);
  if (auto v = r.string("name")) {
    const toml::node& n = *t.get("name");
    if (v->empty() || v->size() > 255 || !is_ascii(*v))
      r.fail(n, "'name' must have 1 to 255 ASCII characters");
    a.name = *v;
  }
  if (auto v = r.string("description")) {
    if (v->size() > 1024) r.fail(*t.get("description"), "'description' must have at most 1024 characters");
    a.description = *v;
  }
  {
    const toml::node& n = r.require("statistic");
    if (!n.is_string() || !parse_name(kStatistics, *n.value<std::string_view>(), a.statistic))
      r.fail(n, fmt::format("'statistic' must be {}", names_of(kStatistics)));
  }
  {
    const toml::node& n = r.require("period");
    a.period_seconds = r.integer(n, "period");
    const int64_t p = a.period_seconds;
    if (!(p == 10 || p == 30 || (p >= 60 && p % 60 == 0)))
      r.fail(n, fmt::format("'period' = {} must be 10, 30 or a multiple of 60 seconds", p));
  }
  {
    const toml::node& n = r.require("evaluation_periods");
    a.evaluation_periods = r.integer(n, "evaluation_periods");
    if (a.evaluation_periods < 1) r.fail(n, "'evaluation_periods' must be at least 1");
    if (a.evaluation_periods > 86400 / a.period_seconds)
      r.fail(n, fmt::format("'period' × 'evaluation_periods' = {} s exceeds one day (86400 s)",
                            a.period_seconds * a.evaluation_periods));
  }
  a.datapoints_to_alarm = a.evaluation_periods;
  if (const toml::node* n = r.get("datapoints_to_alarm")) {
    a.datapoints_to_alarm = r.integer(*n, "datapoints_to_alarm");
    if (a.datapoints_to_alarm < 1 || a.datapoints_to_alarm > a.evaluation_periods)
      r.fail(*n, fmt::format("'datapoints_to_alarm' must be between 1 and 'evaluation_periods' "
                             "({})",
                             a.evaluation_periods));
  }
  a.threshold = r.number(r.require("threshold"), "threshold");
  {
    const toml::node& n = r.require("comparison_operator");
    if (!n.is_string() || !parse_name(kComparisons, *n.value<std::string_view>(), a.comparison))
      r.fail(n, fmt::format("'comparison_operator' must be {}", names_of(kComparisons)));
  }
  if (const toml::node* n = r.get("treat_missing_data")) {
    if (!n->is_string() ||
        !parse_name(kTreatMissing, *n->value<std::string_view>(), a.treat_missing_data))
      r.fail(*n, fmt::format("'treat_missing_data' must be {}", names_of(kTreatMissing)));
  }
  if (const toml::node* n = r.get("lateness_seconds")) {
    a.lateness_seconds = r.integer(*n, "lateness_seconds");
    if (a.lateness_seconds < 0 || a.lateness_seconds > AlarmSpec::kMaxLatenessSeconds)
      r.fail(*n, fmt::format("'lateness_seconds' must be between 0 and {}",
                             AlarmSpec::kMaxLatenessSeconds));
  }
  if (const toml::node* n = r.get("enabled")) {
    if (!n->is_boolean()) r.fail(*n, "'enabled' must be true or false");
    a.enabled = *n->value<bool>();
  }
  if (const toml::node* n = r.get("notify")) {
    const toml::array* arr = n->as_array();
    if (!arr || arr->empty())
      r.fail(*n, "'notify' must be a non-empty array of states (\"ALARM\", \"OK\", "
                 "\"INSUFFICIENT_DATA\")");
    a.notify = NotifySet{false, false, false};
    for (const auto& el : *arr) {
      AlarmState s{};
      if (!el.is_string() || !parse_name(kStates, *el.value<std::string_view>(), s))
        r.fail(el, "'notify' may contain only \"ALARM\", \"OK\" and \"INSUFFICIENT_DATA\"");
      if (s == AlarmState::kAlarm) a.notify.alarm = true;
      if (s == AlarmState::kOk) a.notify.ok = true;
      if (s == AlarmState::kInsufficientData) a.notify.insufficient_data = true;
    }
  }
  r.finish();
  return a;
}

}  // namespace

std::string_view statistic_name(Statistic s) { return name_of(kStatistics, s); }
std::string_view comparison_name(Comparison c) { return name_of(kComparisons, c); }
std::string_view treat_missing_name(TreatMissingData t) { return name_of(kTreatMissing, t); }
std::string_view state_name(AlarmState s) { return name_of(kStates, s); }
bool parse_statistic(std::string_view n, Statistic& out) { return parse_name(kStatistics, n, out); }
bool parse_comparison(std::string_view n, Comparison& out) { return parse_name(kComparisons, n, out); }
bool parse_treat_missing(std::string_view n, TreatMissingData& out) {
  return parse_name(kTreatMissing, n, out);
}
bool parse_state(std::string_view n, AlarmState& out) { return parse_name(kStates, n, out); }

bool breaches(Comparison c, double value, double threshold) {
  switch (c) {
    case Comparison::kGreaterThanOrEqualToThreshold: return value >= threshold;
    case Comparison::kGreaterThanThreshold: return value > threshold;
    case Comparison::kLessThanThreshold: return value < threshold;
    case Comparison::kLessThanOrEqualToThreshold: return value <= threshold;
  }
  return false;
}

bool NotifySet::contains(AlarmState s) const {
  switch (s) {
    case AlarmState::kAlarm: return alarm;
    case AlarmState::kOk: return ok;
    case AlarmState::kInsufficientData: return insufficient_data;
  }
  return false;
}

bool MetricAlarmSpec::fires_early() const {
  const bool upward = alarm.comparison == Comparison::kGreaterThanOrEqualToThreshold ||
                      alarm.comparison == Comparison::kGreaterThanThreshold;
  switch (alarm.statistic) {
    case Statistic::kSampleCount:  // only grows
    case Statistic::kMaximum:      // only grows
      return upward;
    case Statistic::kMinimum:  // only shrinks
      return !upward;
    case Statistic::kSum:  // grows only when no value can be negative: a literal value >= 0
      return upward && !metric.value.is_selector && metric.value.literal >= 0;
    case Statistic::kAverage:  // moves either way
      return false;
  }
  return false;
}

std::optional<MetricAlarmSpec> parse_metric_alarm(const toml::table& rule, const std::string& origin,
                                                  std::string_view rule_id,
                                                  rules::Pattern::Kind pattern_kind) {
  const toml::node* mn = rule.get(kMetricKey);
  const toml::node* an = rule.get(kAlarmKey);
  if (!mn && !an) return std::nullopt;
  auto where = [&](const toml::node& n) { return toml_where(origin, n.source()); };
  if (mn && !mn->is_table())
    throw std::runtime_error(fmt::format("{}: 'metric' must be a table ([rules.metric])", where(*mn)));
  if (an && !an->is_table())
    throw std::runtime_error(fmt::format("{}: 'alarm' must be a table ([rules.alarm])", where(*an)));
  if (!an)
    throw std::runtime_error(fmt::format(
        "{}: rule '{}': a metric needs an alarm ([rules.alarm]); the agent publishes no metrics",
        where(*mn), rule_id));
  MetricAlarmSpec spec;
  if (mn) {
    spec.metric = parse_metric(origin, *mn->as_table(), rule_id);
    if (!spec.metric.dimensions.empty() && pattern_kind == rules::Pattern::Kind::kText)
      throw std::runtime_error(fmt::format(
          "{}: metric: rule '{}': dimensions need a JSON or space-delimited filter pattern (a "
          "text pattern has no fields; CloudWatch refuses it too)",
          where(*mn->as_table()->get("dimensions")), rule_id));
  } else {
    spec.metric.name = std::string(rule_id);  // one per matching record, as the CIS filters
  }
  spec.alarm = parse_alarm(origin, *an->as_table(), rule_id);
  return spec;
}

}  // namespace trailwarden::alarms
