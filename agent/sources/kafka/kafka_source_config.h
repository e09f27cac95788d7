// KafkaSourceConfig: the [source.kafka] table (docs/kafka-source.md), parsed and checked when
// `run` starts (config/ keeps the table as written: Config::kafka_source).
//
//   brokers            bootstrap servers: "h1:9092,h2:9092" or ["h1:9092", "h2:9092"] (required)
//   topics             topic name or array of names (required)
//   group_id           the consumer group: its committed offsets are where consumption resumes
//                      (required)
//   client_id          client.id (default "trailwarden")
//   auto_offset_reset  where a partition without committed offset starts: "earliest" (default:
//                      nothing retained is missed) | "latest" | "error" (refuse to guess)
//   max_in_flight      messages handed out and not finished (default 256; at least 1); beyond it
//                      the source pauses its partitions and keeps polling
//   commit_interval_ms how often done offsets are committed (default 1000); also after every
//                      commit_batch done messages, on a rebalance and at shutdown
//   commit_batch       (default 1000)
//   max_message_bytes  larger messages are skipped, counted and recorded (default 16 MiB)
//   shutdown_timeout_seconds  how long `run` waits at shutdown for messages in work (default 20)
//   msk_iam            Amazon MSK IAM authentication (as in a kafka output)
//   [properties]       librdkafka properties (TLS, SASL, ...) as in a kafka output: secret
//                      indirection ("${ENV}", "@file:"), secrets masked in logs
//
// Properties the source sets itself are refused in [properties]: bootstrap.servers,
// metadata.broker.list, group.id, client.id, enable.auto.commit, enable.auto.offset.store,
// auto.offset.reset, the callbacks; with msk_iam also the SASL mechanism and OAUTHBEARER settings.
#pragma once

#include <librdkafka/rdkafka.h>
#include <toml++/toml.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "agent/kafka/client_config.h"

namespace trailwarden::kafka {

struct KafkaSourceConfig {
  std::string brokers;  // comma-separated, as bootstrap.servers
  std::vector<std::string> topics;
  std::string group_id;
  std::string client_id = "trailwarden";
  std::string auto_offset_reset = "earliest";
  size_t max_in_flight = 256;
  std::chrono::milliseconds commit_interval{1000};
  size_t commit_batch = 1000;
  size_t max_message_bytes = size_t{16} << 20;
  size_t shutdown_timeout_seconds = 20;
  std::vector<KafkaProperty> properties;
  bool msk_iam = false;
  std::string msk_region;
};

// Parses `table` (the [source.kafka] table of `config_file`). `region` is the agent's AWS region,
// used with msk_iam. Throws std::runtime_error("file:line:column: source.kafka...") on any error
// (unknown keys too); messages never contain a secret value.
KafkaSourceConfig parse_kafka_source_config(const toml::table& table, const std::string& config_file,
                                            const std::string& region, const SecretSources& secrets);

// True if [source.kafka.properties] may not set `name` (see the file comment).
bool is_reserved_source_property(std::string_view name, bool msk_iam);

// A new librdkafka consumer configuration: our fixed settings (group.id, client.id,
// enable.auto.commit=false, enable.auto.offset.store=false, auto.offset.reset), then the
// properties, then the MSK IAM mechanism. No callbacks. nullptr with `error` (secrets scrubbed)
// if librdkafka refuses a value; the caller owns the result.
rd_kafka_conf_t* make_consumer_conf(const KafkaSourceConfig& config, std::string& error);

}  // namespace trailwarden::kafka
