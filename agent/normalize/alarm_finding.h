// The alert for one alarm transition (docs/alerts.md, "Alarm transition findings"): an OCSF 1.4
// Detection Finding (class 2004) whose analytic is the alarm (rule id, alarm name), with the
// state change, the evaluated datapoints and period(s), the evaluated range as start/end time,
// the contributing records (eventIDs and their per-record finding uids, bounded) as related
// events and the dimension values; plus AlertRecord::alarm, the CloudWatch alarm change that
// the SNS output sends as CloudWatch's alarm notification. Pure functions; thread-safe.
//
// The input is plain values (the alarm stage, agent/alarms/, fills it from an AlarmEvaluator
// transition), so this layer does not depend on the evaluator.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/metric_alarm.h"
#include "agent/rules/rule.h"

namespace trailwarden {

struct AlarmFindingInput {
  struct Datapoint {
    int64_t period_start_ms = 0;
    bool present = true;   // false: missing, filled by treat_missing_data
    bool partial = false;  // the period was still open (early firing)
    double value = 0;
    uint64_t samples = 0;
    bool breaching = false;
  };
  struct Contributor {
    std::string event_id;     // the record's eventID ("" when it had none)
    std::string finding_uid;  // the per-record finding's uid
  };
  alarms::AlarmState old_state = alarms::AlarmState::kInsufficientData;
  alarms::AlarmState new_state = alarms::AlarmState::kInsufficientData;
  std::string reason;  // CloudWatch's NewStateReason
  int64_t state_change_ms = 0;
  int64_t newest_period_start_ms = 0;  // the newest period evaluated
  bool early = false;
  std::vector<Datapoint> datapoints;  // newest first
  // The metric's dimensions: (name, value), in MetricSpec::dimensions order.
  std::vector<std::pair<std::string, std::string>> dimensions;
  std::string dimension_key;  // alarms::dimension_key of the values ("" without dimensions)
  std::vector<Contributor> contributors;  // newest first; at most kMaxRelatedEvents are written
  uint64_t contributors_omitted = 0;
  std::string account;  // of the newest contributing record (cloud.account, AWSAccountId)
  std::string region;   // of the newest contributing record (cloud.region, Region)
};

inline constexpr size_t kMaxRelatedEvents = 20;

// The transition's finding uid: a UUID (version 8) from SHA-256 of the rule id, the alarm name,
// the dimension key, the old and new state and the newest period evaluated, so that the same
// transition (whichever record completed it, early or at the period's end) has the same uid.
std::string alarm_finding_uid(std::string_view rule_id, std::string_view alarm_name,
                              std::string_view dimension_key, alarms::AlarmState old_state,
                              alarms::AlarmState new_state, int64_t period_start_ms);

// The alert for the transition of `rule`'s alarm (`rule.metric_alarm` must be set).
AlertRecord make_alarm_alert(const rules::Rule& rule, const AlarmFindingInput& in);

}  // namespace trailwarden
