// The alarm stage's metrics, read from its counters at scrape time.
#include "agent/alarms/alarm_stage.h"
#include "agent/metrics/metrics.h"
#include "agent/store/dynamodb_alarm_store.h"

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
    w.counter("trailwarden_alarm_store_failures_total",
              "Calls to the shared alarm store (DynamoDB) that failed: the unit is retried or "
              "the evaluation waits for the next tick.",
              k.store_failures.load());
    w.counter("trailwarden_alarm_transitions_superseded_total",
              "Transitions decided by this agent whose compare-and-set lost: another agent's "
              "transition stands and was notified by it (shared store).",
              k.transitions_superseded.load());
    w.counter("trailwarden_alarm_instances_discovered_total",
              "Alarm instances learned from the shared store's instance index (their "
              "datapoints went to other agents).",
              k.instances_discovered.load());
  });
}

void register_alarm_store_metrics(MetricsRegistry& registry,
                                  const store::DynamoDbAlarmStore& store) {
  registry.add([&store](PrometheusWriter& w) {
    const store::DynamoDbAlarmStoreCounters c = store.counters();
    w.counter("trailwarden_alarm_store_requests_total",
              "HTTP requests to the DynamoDB alarm store, retries included.", c.requests);
    w.counter("trailwarden_alarm_store_retries_total",
              "Requests to the DynamoDB alarm store repeated after a retryable failure.",
              c.retries);
    w.counter("trailwarden_alarm_store_updates_total",
              "UpdateItem calls of the DynamoDB alarm store (counts, extremes, index).",
              c.updates);
    w.counter("trailwarden_alarm_store_units_already_counted_total",
              "Deltas whose unit the period already held (a redelivery): nothing added.",
              c.already_counted);
    w.counter("trailwarden_alarm_store_units_unguarded_total",
              "Deltas counted beyond max_units, without the exactly-once guard.", c.unguarded);
    w.counter("trailwarden_alarm_store_transitions_won_total",
              "Transitions this agent wrote first (and notified).", c.transitions_won);
    w.counter("trailwarden_alarm_store_transitions_lost_total",
              "Transition writes refused because another agent changed the state first.",
              c.transitions_lost);
  });
}

}  // namespace trailwarden
