// The alarm stage's metrics, read from its counters at scrape time.
#include "agent/alarms/alarm_stage.h"
#include "agent/metrics/metrics.h"

namespace trailwarden {

void register_alarm_stage_metrics(MetricsRegistry& registry, const alarms::AlarmStage& stage) {
  registry.add([&k = stage.counters()](PrometheusWriter& w) {
    w.counter("trailwarden_alarm_datapoints_total",
              "Datapoints added to alarm instances (one per matching record of an alarm rule).",
              k.datapoints.load());
    w.counter("trailwarden_alarm_no_datapoint_total",
              "Matches of alarm rules that gave no datapoint (value or dimension missing, no "
              "eventTime).",
              k.no_datapoint.load() + k.no_event_time.load());
    w.counter("trailwarden_alarm_late_datapoints_total",
              "Datapoints refused: their period was already final (later than the lateness).",
              k.late.load());
    w.counter("trailwarden_alarm_overflow_datapoints_total",
              "Datapoints refused: too far ahead of the evaluated periods.", k.overflow.load());
    w.counter("trailwarden_alarm_instances_refused_total",
              "Datapoints refused: their rule has max_instances_per_rule dimension sets.",
              k.instances_refused.load());
    w.counter("trailwarden_alarm_transitions_total", "Alarm state changes.",
              k.transitions.load());
    w.counter("trailwarden_alarm_units_repeated_total",
              "Units (objects, messages) that came again after their alarm datapoints were "
              "saved: not counted twice.",
              k.units_repeated.load());
    w.counter("trailwarden_alarm_commit_failures_total",
              "Units or ticks whose alarm state could not be saved (the unit is retried).",
              k.commit_failures.load());
    w.counter("trailwarden_alarm_transitions_resent_total",
              "Alarm transition alerts sent again because their delivery was not confirmed.",
              k.resent.load());
    w.counter("trailwarden_alarm_restore_failures_total",
              "Saved alarm instances that did not fit their alarm's definition at start-up "
              "(they start again from INSUFFICIENT_DATA).",
              k.restore_failures.load());
  });
}

}  // namespace trailwarden
