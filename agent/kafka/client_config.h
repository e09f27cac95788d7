// The client settings every Kafka client of the agent shares — the Kafka output
// (outputs/kafka) and the Kafka source (agent/sources/kafka): bootstrap servers, the
// [properties] table of librdkafka properties (TLS, SASL, ...) with secret indirection, and the
// setting of one property on a librdkafka configuration. MSK IAM authentication is msk_iam.h
// beside this file. Each client parses its own keys (outputs/kafka/kafka_config.h,
// agent/sources/kafka/kafka_source_config.h) with these pieces.
//
// Secret indirection, for any string property value (the whole value):
//   "${NAME}"        the environment variable NAME (which must be set)
//   "@file:/path"    the content of the file (at most 1 MiB; one trailing newline removed);
//                    a relative path is taken from the configuration file's directory
//   "$${...}", "@@file:..."   the literal value without the first character
// Values that came through indirection, and properties whose names say they hold secrets
// (password, secret, token, key.pem, sasl.oauthbearer.config, ...), are marked secret: they never
// appear in messages or logs.
//
// Plain values; the free functions are thread-safe.
#pragma once

#include <librdkafka/rdkafka.h>
#include <toml++/toml.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/aws/credentials.h"

namespace trailwarden {

struct KafkaProperty {
  std::string name;
  std::string value;
  bool secret = false;  // never shown in messages or logs
};

// Where secret indirection reads from; tests inject fakes.
struct SecretSources {
  // Value of environment variable `name`; nullopt when unset.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  aws::FileReader read_file;
};
// The process environment (live getenv) and the disk.
SecretSources process_secret_sources();

// Resolves one property value's indirection (see the file comment). `where` names the value in
// messages ("outputs.properties.sasl.password"); `base_dir` anchors relative @file: paths.
// false with `error` (without the secret) on failure.
bool resolve_secret_value(const std::string& raw, const SecretSources& secrets,
                          const std::string& where, const std::string& base_dir, std::string& value,
                          bool& indirect, std::string& error);

// True for a Kafka topic name: 1-249 characters of [A-Za-z0-9._-], not "." or "..".
bool valid_kafka_topic(std::string_view topic);

// The pieces of a client table that the output and the Kafka source (agent/sources/kafka)
// share. `section` names the table in messages ("outputs", "source.kafka"); `where` is the
// key's position; errors throw std::runtime_error("file:line:column: ...") without secrets.
//
// `brokers`: "h:p,h:p" or ["h:p", ...] as librdkafka's bootstrap.servers.
std::string parse_kafka_brokers(const toml::node& node, const toml::source_region& where,
                                const std::string& config_file, std::string_view section);
// Why a property may not be set through [properties] ("use outputs.brokers"), or "" when it may.
using KafkaPropertyRefusal = std::function<std::string(std::string_view name)>;
// `[properties]`: flattened with '.', secret indirection resolved (secrets registered for
// masking), refused names rejected, with msk_iam only SASL_SSL/SASL_PLAINTEXT, each value checked
// against librdkafka. In the table's order.
std::vector<KafkaProperty> parse_kafka_properties(const toml::node& node,
                                                  const toml::source_region& where,
                                                  const std::string& config_file,
                                                  std::string_view section, bool msk_iam,
                                                  const KafkaPropertyRefusal& refused,
                                                  const SecretSources& secrets);

// True if a property of this name holds a secret (by name).
bool is_secret_property(std::string_view name);

// Sets one property on `conf`; false with a message (the value scrubbed when `secret`) when
// librdkafka refuses it.
bool kafka_conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                    bool secret, std::string& error);

// Sets what a client (the Kafka output's producer, the Kafka source's consumer) is made of, in
// this order: its own `fixed` properties, security.protocol SASL_SSL with `msk_iam`, the user's
// `properties` (an error names the property), then sasl.mechanisms OAUTHBEARER with `msk_iam`.
// False with a message (no secret in it) on the first property librdkafka refuses.
bool kafka_conf_apply(rd_kafka_conf_t* conf,
                      const std::vector<std::pair<const char*, std::string>>& fixed, bool msk_iam,
                      const std::vector<KafkaProperty>& properties, std::string& error);

}  // namespace trailwarden
