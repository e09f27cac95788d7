// The Kafka source's metrics, read from its stats at scrape time.
#include "agent/metrics/metrics.h"
#include "agent/sources/kafka/kafka_source.h"

namespace trailwarden {

void register_kafka_source_metrics(MetricsRegistry& registry, const kafka::KafkaSource& source) {
  registry.add([&source](PrometheusWriter& w) {
    const kafka::KafkaSourceStats& k = source.stats();
    w.counter("trailwarden_kafka_source_messages_received_total",
              "Kafka messages handed to the engine.", k.received.load());
    w.counter("trailwarden_kafka_source_messages_done_total",
              "Kafka messages whose alerts are all safe at every output (committable).",
              k.done_ok.load());
    w.counter("trailwarden_kafka_source_messages_failed_total",
              "Kafka messages kept for redelivery (their partition is not committed past them).",
              k.done_failed.load());
    w.counter("trailwarden_kafka_source_messages_ignored_total",
              "Kafka messages finished after their partition was revoked (the new owner "
              "consumes them again).",
              k.done_ignored.load());
    w.counter("trailwarden_kafka_source_messages_oversized_total",
              "Kafka messages over source.kafka.max_message_bytes: recorded in "
              "bad-records.ndjson and committed.",
              k.oversized.load());
    w.counter("trailwarden_kafka_source_commits_total", "Offset commits that succeeded (per partition).",
              k.commits.load());
    w.counter("trailwarden_kafka_source_commit_failures_total",
              "Offset commits refused or unanswered (per partition): sent again, or consumed "
              "again by the next owner.",
              k.commit_failures.load());
    w.counter("trailwarden_kafka_source_rebalances_total",
              "Partition assignments and revocations of this member.", k.rebalances.load());
    w.counter("trailwarden_kafka_source_consume_errors_total",
              "Error events from the consumer (brokers down, topics missing, ...).",
              k.consume_errors.load());
    w.counter("trailwarden_kafka_source_pauses_total",
              "Partitions paused for backpressure (max_in_flight, or a failed head).",
              k.pauses.load());
    w.gauge("trailwarden_kafka_source_messages_in_flight",
            "Kafka messages consumed and not yet done.", static_cast<double>(source.in_flight()));
  });
}

}  // namespace trailwarden
