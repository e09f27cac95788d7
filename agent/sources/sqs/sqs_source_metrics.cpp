// The SQS source's metrics, read from its counters at scrape time.
#include "agent/sources/sqs/sqs_source.h"

namespace trailwarden {

void register_sqs_source_metrics(MetricsRegistry& registry, const SqsSource& source) {
  registry.add([&k = source.counters()](PrometheusWriter& w) {
    w.counter("trailwarden_sqs_messages_received_total", "SQS messages received.",
              k.messages_received.load());
    w.counter("trailwarden_sqs_messages_deleted_total",
              "SQS messages deleted after all their alerts were safe at every output.",
              k.messages_deleted.load());
    w.counter("trailwarden_sqs_messages_failed_total",
              "SQS messages left for redelivery (and, after maxReceiveCount, the queue's "
              "dead-letter queue) because an object could not be read or an alert not delivered.",
              k.messages_failed.load());
    w.counter("trailwarden_sqs_messages_unknown_total",
              "SQS messages that are not a notification trailwarden understands (never deleted).",
              k.messages_unknown.load());
    w.counter("trailwarden_sqs_test_events_total", "s3:TestEvent messages (deleted).",
              k.messages_test_events.load());
    w.counter("trailwarden_sqs_receive_errors_total", "Failed ReceiveMessage calls.",
              k.poll_errors.load());
    w.counter("trailwarden_sqs_visibility_extensions_total",
              "In-flight messages whose visibility timeout was extended (heartbeat).",
              k.visibility_extensions.load());
    w.gauge("trailwarden_sqs_messages_in_flight", "Messages received and not yet finished.",
            static_cast<double>(k.in_flight.load()));
    w.gauge("trailwarden_sqs_last_receive_timestamp_seconds",
            "When a ReceiveMessage call last succeeded (Unix time).",
            static_cast<double>(k.last_poll_ok_ms.load()) / 1000.0);
    w.counter("trailwarden_notifications_refused_total",
              "Objects named by notifications outside source.sqs.allowed_buckets (not fetched).",
              k.notifications_refused.load());
    w.counter("trailwarden_inline_events_refused_total",
              "EventBridge CloudTrail events refused by the inline policy (source.sqs."
              "inline_events, inline_accounts, inline_regions): deleted, never matched.",
              k.inline_events_refused.load());
    w.counter("trailwarden_objects_skipped_total",
              "Objects not read by choice (digest, Insights, key outside key_prefixes).",
              k.objects_skipped.load());
  });
}

}  // namespace trailwarden
