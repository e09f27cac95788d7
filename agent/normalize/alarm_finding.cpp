#include "agent/normalize/alarm_finding.h"

#include <openssl/evp.h>

#include <fmt/format.h>

#include "agent/aws/names.h"
#include "agent/common/json_writer.h"
#include "agent/normalize/event_time.h"
#include "agent/normalize/ocsf.h"
#include "agent/normalize/ocsf_parts.h"

namespace trailwarden {

namespace {

using alarms::AlarmState;

// OCSF status: ALARM is a new finding, OK resolves it, INSUFFICIENT_DATA is neither.
void write_status(JsonWriter& w, AlarmState s) {
  switch (s) {
    case AlarmState::kAlarm: w.field("status_id", 1).field("status", "New"); break;
    case AlarmState::kOk: w.field("status_id", 4).field("status", "Resolved"); break;
    case AlarmState::kInsufficientData:
      w.field("status_id", 99).field("status", "Insufficient data");
      break;
  }
}


// AlertRecord::alarm: the CloudWatch alarm change as outputs/sns reads it
// (parse_alarm_change, outputs/sns/cloudwatch_alarm_message.h).
std::string alarm_change_json(const rules::Rule& rule, const AlarmFindingInput& in) {
  const alarms::MetricAlarmSpec& s = *rule.metric_alarm;
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("AlarmName", std::string_view(s.alarm.name));
  w.field("AlarmDescription", std::string_view(s.alarm.description));
  w.field("AWSAccountId", std::string_view(in.account));
  w.field("NewStateValue", alarms::state_name(in.new_state));
  w.field("NewStateReason", std::string_view(in.reason));
  w.field("StateChangeTime", in.state_change_ms);
  w.field("Region", std::string_view(in.region));
  w.field("OldStateValue", alarms::state_name(in.old_state));
  w.key("Trigger").begin_object();
  w.field("MetricName", std::string_view(s.metric.name));
  w.field("Namespace", std::string_view(s.metric.namespace_));
  w.field("Statistic", alarms::statistic_name(s.alarm.statistic));
  w.field("Unit", std::string_view(s.metric.unit));
  w.key("Dimensions").begin_array();
  for (const auto& [name, value] : in.dimensions)
    w.begin_object().field("value", std::string_view(value)).field("name", std::string_view(name)).end_object();
  w.end_array();
  w.field("Period", s.alarm.period_seconds);
  w.field("EvaluationPeriods", s.alarm.evaluation_periods);
  w.field("DatapointsToAlarm", s.alarm.datapoints_to_alarm);
  w.field("ComparisonOperator", alarms::comparison_name(s.alarm.comparison));
  w.field("Threshold", s.alarm.threshold);
  w.field("TreatMissingData", alarms::treat_missing_name(s.alarm.treat_missing_data));
  w.end_object();
  w.end_object();
  return out;
}

}  // namespace

std::string alarm_finding_uid(std::string_view rule_id, std::string_view alarm_name,
                              std::string_view dimension_key, AlarmState old_state,
                              AlarmState new_state, int64_t period_start_ms) {
  // Each part followed by a NUL: distinct tuples never hash the same text.
  std::string text;
  const std::string period = std::to_string(period_start_ms);
  for (std::string_view part : {std::string_view("trailwarden alarm v1"), rule_id, alarm_name,
                                dimension_key, alarms::state_name(old_state),
                                alarms::state_name(new_state), std::string_view(period)}) {
    text.append(part);
    text.push_back('\0');
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  return hex_uuid_v8(digest);
}

AlertRecord make_alarm_alert(const rules::Rule& rule, const AlarmFindingInput& in) {
  const alarms::MetricAlarmSpec& spec = *rule.metric_alarm;
  const alarms::AlarmSpec& alarm = spec.alarm;
  const int64_t period_ms = alarm.period_seconds * 1000;
  // The evaluated range: the oldest datapoint's period to the end of the newest.
  // (the last evaluation_periods periods, further back when the datapoints used reach further).
  int64_t range_start = in.newest_period_start_ms - (alarm.evaluation_periods - 1) * period_ms;
  const int64_t range_end = in.newest_period_start_ms + period_ms;
  for (const auto& d : in.datapoints)
    if (d.present) range_start = std::min(range_start, d.period_start_ms);
  uint64_t samples = 0;
  for (const auto& d : in.datapoints) samples += d.samples;
  const std::string_view old_name = alarms::state_name(in.old_state);
  const std::string_view new_name = alarms::state_name(in.new_state);
  std::string dims;
  for (const auto& [name, value] : in.dimensions)
    dims += fmt::format("{}{}={}", dims.empty() ? "" : ", ", name, value);

  AlertRecord a;
  a.kind = AlertKind::kAlarm;
  a.uid = alarm_finding_uid(rule.id, alarm.name, in.dimension_key, in.old_state, in.new_state,
                            in.newest_period_start_ms);
  a.rule_id = rule.id;
  a.rule_title = rule.title;
  a.severity_id = static_cast<int>(rule.severity);
  a.tags = rule.tags;
  a.time_ms = in.state_change_ms;
  a.account = in.account;
  a.region = in.region;
  a.event_name = fmt::format("{}: {} -> {}", alarm.name, old_name, new_name);
  if (!in.contributors.empty()) a.event_id = in.contributors.front().event_id;
  a.alarm = alarm_change_json(rule, in);

  const std::string title = fmt::format("{}: \"{}\"", new_name, alarm.name);
  std::string message = fmt::format("Alarm \"{}\" ({}) changed from {} to {}", alarm.name,
                                    rule.title, old_name, new_name);
  if (!dims.empty()) message += fmt::format(" for {}", dims);
  message += ": " + in.reason;

  JsonWriter w(a.ocsf);
  w.begin_object();
  w.field("activity_id", 1).field("activity_name", "Create");
  w.field("category_uid", 2).field("category_name", "Findings");
  w.field("class_uid", 2004).field("class_name", "Detection Finding");
  w.field("type_uid", 200401).field("type_name", "Detection Finding: Create");
  w.field("severity_id", a.severity_id).field("severity", rules::severity_name(rule.severity));
  write_status(w, in.new_state);
  w.field("is_alert", in.new_state == AlarmState::kAlarm);
  w.field("message", std::string_view(message));
  w.field("time", in.state_change_ms);
  w.field("time_dt", std::string_view(format_datetime(in.state_change_ms)));
  w.field("start_time", range_start);
  w.field("start_time_dt", std::string_view(format_datetime(range_start)));
  w.field("end_time", range_end);
  w.field("end_time_dt", std::string_view(format_datetime(range_end)));
  w.field("count", static_cast<int64_t>(samples));
  // The comparison of counts with a threshold is certain.
  w.field("confidence_id", 3).field("confidence", "High");

  w.key("metadata").begin_object();
  w.field("version", kOcsfVersion);
  w.field("uid", std::string_view(a.uid));
  write_ocsf_product(w);
  w.field("event_code", "AlarmStateChange");
  write_ocsf_labels(w, rule.tags);
  w.end_object();

  w.key("finding_info").begin_object();
  w.field("uid", std::string_view(a.uid));
  w.field("title", std::string_view(title));
  w.field("desc", std::string_view(message));
  w.key("types").begin_array().value("Alarm state change").end_array();
  w.key("analytic").begin_object();
  w.field("uid", std::string_view(rule.id));
  w.field("name", std::string_view(alarm.name));
  w.field("type_id", 1).field("type", "Rule");
  if (!rule.pack.empty()) w.field("category", std::string_view(rule.pack));
  if (!alarm.description.empty()) w.field("desc", std::string_view(alarm.description));
  w.end_object();
  w.field("first_seen_time", range_start).field("last_seen_time", range_end);
  w.key("data_sources").begin_array().value("AWS CloudTrail").end_array();
  if (!in.contributors.empty()) {
    w.key("related_events").begin_array();
    size_t written = 0;
    for (const auto& c : in.contributors) {
      if (written++ == kMaxRelatedEvents) break;
      w.begin_object();
      w.field("uid", std::string_view(c.event_id.empty() ? c.finding_uid : c.event_id));
      w.field("type", "AWS CloudTrail event");
      w.field("desc", std::string_view(fmt::format("Detection Finding {}", c.finding_uid)));
      w.end_object();
    }
    w.end_array();
  }
  w.field("related_events_count",
          static_cast<int64_t>(in.contributors.size() + in.contributors_omitted));
  w.end_object();

  w.key("cloud").begin_object();
  w.field("provider", "AWS");
  if (!in.region.empty()) w.field("region", std::string_view(in.region));
  if (aws::is_valid_account_id(in.account)) write_ocsf_account(w, in.account);
  w.end_object();

  // What OCSF has no place for: the alarm's state change, its datapoints and dimensions.
  w.key("unmapped").begin_object().key("trailwarden").begin_object().key("alarm").begin_object();
  w.field("name", std::string_view(alarm.name));
  w.field("old_state", old_name).field("new_state", new_name);
  w.field("reason", std::string_view(in.reason));
  w.field("early", in.early);
  w.field("metric_name", std::string_view(spec.metric.name));
  w.field("metric_namespace", std::string_view(spec.metric.namespace_));
  w.field("statistic", alarms::statistic_name(alarm.statistic));
  w.field("period", alarm.period_seconds);
  w.field("evaluation_periods", alarm.evaluation_periods);
  w.field("datapoints_to_alarm", alarm.datapoints_to_alarm);
  w.field("comparison_operator", alarms::comparison_name(alarm.comparison));
  w.field("threshold", alarm.threshold);
  w.field("treat_missing_data", alarms::treat_missing_name(alarm.treat_missing_data));
  w.key("dimensions").begin_object();
  for (const auto& [name, value] : in.dimensions) w.field(name, std::string_view(value));
  w.end_object();
  w.key("datapoints").begin_array();
  for (const auto& d : in.datapoints) {
    w.begin_object();
    w.field("period_start", std::string_view(format_datetime(d.period_start_ms)));
    w.field("present", d.present);
    if (d.present) w.field("value", d.value);
    w.field("samples", d.samples);
    w.field("breaching", d.breaching);
    if (d.partial) w.field("partial", true);
    w.end_object();
  }
  w.end_array();
  w.key("contributors").begin_array();
  size_t written = 0;
  for (const auto& c : in.contributors) {
    if (written++ == kMaxRelatedEvents) break;
    w.begin_object();
    if (!c.event_id.empty()) w.field("event_id", std::string_view(c.event_id));
    w.field("finding_uid", std::string_view(c.finding_uid));
    w.end_object();
  }
  w.end_array();
  w.field("contributors_omitted",
          in.contributors_omitted +
              (in.contributors.size() > kMaxRelatedEvents ? in.contributors.size() - kMaxRelatedEvents : 0));
  w.end_object().end_object().end_object();
  w.end_object();
  return a;
}

}  // namespace trailwarden
