#include "agent/cli/run_status.h"

#include <fmt/format.h>

#include <chrono>
#include <limits>

#include "outputs/ecs_document.h"
#include "outputs/sns/sns_message.h"

namespace trailwarden::cli {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void register_start_metrics(MetricsRegistry& registry, const aws::CredentialsSource& credentials,
                            int64_t started_ms) {
  registry.add([started_ms](PrometheusWriter& w) {
    w.family("trailwarden_build_info", "gauge", "Version of the running agent.");
    w.sample("trailwarden_build_info", uint64_t{1}, {{"version", TRAILWARDEN_VERSION}});
    w.gauge("trailwarden_start_time_seconds", "When the agent started (Unix time).",
            static_cast<double>(started_ms) / 1000.0);
  });
  registry.add([&credentials](PrometheusWriter& w) {
    w.counter("trailwarden_aws_credential_refreshes_total",
              "AWS credentials obtained (first fetch and every refresh).", credentials.fetches());
    w.counter("trailwarden_aws_credential_failures_total",
              "Failed attempts to obtain or refresh AWS credentials.",
              credentials.fetch_failures());
  });
}
void register_metrics(MetricsRegistry& registry, const Engine& engine, const RunSourceView& source,
                      const DeliveryPipeline& outputs,
                      const aws::CredentialsSource& credentials,
                      int64_t started_ms) {
  register_start_metrics(registry, credentials, started_ms);
  if (source.sqs) register_sqs_source_metrics(registry, *source.sqs);
  if (source.kafka) register_kafka_source_metrics(registry, *source.kafka);
  register_engine_metrics(registry, engine);
  registry.add([](PrometheusWriter& w) {
    w.counter("trailwarden_ecs_degraded_documents_total",
              "ECS documents made without the finding or the record, which could not be parsed.",
              ecs_degraded_documents());
    w.counter("trailwarden_ecs_truncated_documents_total",
              "ECS documents that left part of a field out (trailwarden.truncated_fields).",
              ecs_truncated_documents());
    w.counter("trailwarden_sns_trimmed_messages_total",
              "SNS messages over the 256 KiB limit sent with raw_data/unmapped left out, or as "
              "a summary (unmapped.trailwarden.sns_trimmed says which).",
              sns_trimmed_messages());
  });
  registry.add([&outputs](PrometheusWriter& w) {
    struct Field {
      const char* name;
      const char* type;
      const char* help;
      std::function<double(const OutputCounters&, size_t)> value;
    };
    static const Field kFields[] = {
        {"trailwarden_output_alerts_accepted_total", "counter",
         "Alerts routed to the output and buffered.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.accepted.load()); }},
        {"trailwarden_output_alerts_sent_total", "counter",
         "Alerts the destination acknowledged.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.delivered.load()); }},
        {"trailwarden_output_retries_total", "counter", "Batches sent again after a failure.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.retries.load()); }},
        {"trailwarden_output_alerts_rejected_total", "counter",
         "Alerts the destination refused, written to the dead-letter file.",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.rejected.load()); }},
        {"trailwarden_output_alerts_dropped_total", "counter",
         "Alerts dropped because the buffer was full (when_full = \"drop_newest\").",
         [](const OutputCounters& o, size_t) { return static_cast<double>(o.dropped.load()); }},
        {"trailwarden_output_buffer_corrupt_records_total", "counter",
         "Damaged records found in the disk buffer at start-up: skipped, logged, quarantined.",
         [](const OutputCounters& o, size_t) {
           return static_cast<double>(o.buffer_corrupt_records.load());
         }},
        {"trailwarden_output_buffer_bytes", "gauge", "Bytes waiting in the output's buffer.",
         [](const OutputCounters& o, size_t) {
           return static_cast<double>(o.buffered_bytes.load());
         }},
        {"trailwarden_output_buffer_max_bytes", "gauge", "The buffer's size limit.",
         [](const OutputCounters&, size_t max) { return static_cast<double>(max); }},
    };
    for (const Field& field : kFields) {
      w.family(field.name, field.type, field.help);
      for (size_t i = 0; i < outputs.size(); ++i)
        w.sample(field.name, field.value(outputs.counters(i), outputs.settings(i).buffer_max_bytes),
                 {{"output", outputs.name(i)}});
    }
  });
}
void register_status_metrics(MetricsRegistry& registry, const StatusServerStats& s) {
  registry.add([&s](PrometheusWriter& w) {
    w.counter("trailwarden_status_requests_total",
              "Requests the metrics and health endpoint answered (any path).", s.requests.load());
    w.counter("trailwarden_status_requests_refused_total",
              "Requests it refused: malformed (400, 505), request head too large (431) or not "
              "complete in time (408).",
              s.requests_refused.load());
    w.counter("trailwarden_status_connections_evicted_total",
              "Connections it closed to make room for a new one (the oldest still sending its "
              "request).",
              s.connections_evicted.load());
    w.counter("trailwarden_status_connections_timed_out_total",
              "Connections it closed because the request head or the response was too slow.",
              s.connections_timed_out.load());
  });
}

Probe health(const Engine& engine, const DeliveryPipeline& outputs, const Config& c) {
  if (outputs.failed()) return {false, "output failed: " + outputs.failure()};
  const EngineCounters& e = engine.counters();
  const int64_t last = e.last_loop_ms.load();
  const int64_t stuck_after_ms = static_cast<int64_t>(c.sqs.wait_time_seconds + 120) * 1000;
  if (e.polling && last && now_ms() - last > stuck_after_ms)
    return {false, fmt::format("the SQS poll loop has not turned for {} s", (now_ms() - last) / 1000)};
  return {true, {}};
}
Probe readiness(const Engine& engine, const RunSourceView& source, const DeliveryPipeline& outputs,
                const Config& c) {
  Probe h = health(engine, outputs, c);
  if (!h.ok) return h;
  const EngineCounters& e = engine.counters();
  if (source.kafka) {
    if (!e.polling) return {false, "not consuming the Kafka topics (starting or stopping)"};
    if (std::string why; source.kafka->fatal(&why)) return {false, "source kafka: " + why};
  } else {
    const SqsSourceCounters& q = source.sqs->counters();
    if (!e.polling) return {false, "not polling the queue (starting or stopping)"};
    const int64_t last_ok = q.last_poll_ok_ms.load();
    const int64_t limit_ms = static_cast<int64_t>(c.metrics.ready_poll_timeout_seconds) * 1000;
    if (!last_ok) return {false, "no successful SQS receive yet"};
    if (now_ms() - last_ok > limit_ms)
      return {false,
              fmt::format("no successful SQS receive for {} s", (now_ms() - last_ok) / 1000)};
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputSettings& o = outputs.settings(i);
    if (o.when_full == OutputSettings::WhenFull::kBlock &&
        outputs.counters(i).buffered_bytes.load() >= o.buffer_max_bytes)
      return {false, fmt::format("output {}: buffer full (backpressure)", o.name)};
  }
  return {true, {}};
}

std::string status_line(const Engine& engine, const RunSourceView& source) {
  const EngineCounters& e = engine.counters();
  if (source.kafka) {
    const kafka::KafkaSourceStats& k = source.kafka->stats();
    return fmt::format("{} Kafka messages, {} records, {} alerts; {} in flight", k.received.load(),
                       e.records.load(), engine.delivery_counters().alerts_sent.load(),
                       source.kafka->in_flight());
  }
  const SqsSourceCounters& q = source.sqs->counters();
  const FetchCounters& f = engine.fetch_counters();
  const DeliveryCounters& d = engine.delivery_counters();
  return fmt::format("{} messages, {} objects, {} records, {} alerts; {} in flight",
                     q.messages_received.load(), f.objects_fetched.load(), e.records.load(),
                     d.alerts_sent.load(), q.in_flight.load());
}

}  // namespace trailwarden::cli
