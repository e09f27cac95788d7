// KafkaOutputConfig: the keys of an [[outputs]] table of type "kafka" (docs/outputs.md), parsed
// and checked at start-up, and the librdkafka configuration built from them.
//
//   brokers              bootstrap servers: "h1:9092,h2:9092" or ["h1:9092", "h2:9092"]
//   topic                the topic every alert goes to
//   key                  message key: "account" (default; the AWS account id) | "rule" | "uid" |
//                        "none"; an alert without that field gets a null key
//   compression          "zstd" (default) | "lz4" | "snappy" | "gzip" | "none"
//   delivery_timeout_ms  how long send() waits for the batch's acknowledgements (default 10000)
//   msk_iam              AWS MSK IAM authentication (SASL/OAUTHBEARER, SigV4 token; msk_iam.h)
//   [properties]         librdkafka properties passed through as they are (security.protocol,
//                        sasl.*, ssl.*, ...). Nested tables are flattened with '.', so both
//                        "security.protocol" = "SSL" and security.protocol = "SSL" work.
//
// Secret indirection and the masking of secret properties: agent/kafka/client_config.h.
//
// Properties that would break the output's guarantees, or that have a key of their own, are
// refused: bootstrap.servers / metadata.broker.list (use `brokers`), enable.idempotence and
// acks / request.required.acks (always true / all), compression.codec / compression.type (use
// `compression`), transactional.id, the callback properties; with msk_iam also sasl.mechanism(s),
// sasl.oauthbearer.* and enable.sasl.oauthbearer.unsecure.jwt.
//
// Plain values; the free functions are thread-safe.
#pragma once

#include <librdkafka/rdkafka.h>
#include <toml++/toml.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"
#include "agent/kafka/client_config.h"
#include "outputs/settings.h"

namespace trailwarden {

enum class KafkaKey { kAccount, kRule, kUid, kNone };

struct KafkaOutputConfig {
  std::string brokers;  // comma-separated, as librdkafka's bootstrap.servers
  std::string topic;
  KafkaKey key = KafkaKey::kAccount;
  std::string compression = "zstd";
  std::chrono::milliseconds delivery_timeout{10000};
  // librdkafka properties from [properties], after indirection, in the table's order.
  std::vector<KafkaProperty> properties;
  bool msk_iam = false;
  std::string msk_region;  // with msk_iam: the region the token is signed for
};

// Parses the kafka keys of `settings.table` (common keys already parsed into `settings`) and
// checks every property against librdkafka. `region` is the agent's AWS region (OutputEnv), used
// with msk_iam. Throws std::runtime_error("file:line:column: ...") on any error; messages never
// contain a secret value.
KafkaOutputConfig parse_kafka_config(const OutputSettings& settings, const std::string& region,
                                     const SecretSources& secrets);

// True if the property may not be set through [properties] (see the file comment).
bool is_reserved_property(std::string_view name, bool msk_iam);

// A new librdkafka configuration for `config`: our fixed settings (idempotence, acks=all,
// compression, message.timeout.ms = 0, client.id), then the properties, then the MSK IAM
// mechanism. No callbacks are set. nullptr with `error` (secrets scrubbed) if librdkafka refuses
// a value. The caller owns the result (rd_kafka_conf_destroy, or rd_kafka_new takes it).
rd_kafka_conf_t* make_rdkafka_conf(const KafkaOutputConfig& config, std::string& error);

// The message key of `alert` under `key`; empty means a null key.
std::string_view kafka_message_key(const AlertRecord& alert, KafkaKey key);

std::string_view kafka_key_name(KafkaKey key);

}  // namespace trailwarden
