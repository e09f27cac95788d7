#include "outputs/kafka/kafka_config.h"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

#include "agent/config/toml_util.h"
#include "agent/http/http.h"
#include "agent/kafka/msk_iam.h"

namespace trailwarden {

namespace {

// clang-format off
constexpr std::array<std::string_view, 20> kReservedProperties = {
    "bootstrap.servers", "metadata.broker.list", "enable.idempotence", "acks",
    "request.required.acks", "compression.codec", "compression.type", "transactional.id",
    "dr_cb", "dr_msg_cb", "error_cb", "log_cb", "stats_cb", "throttle_cb", "opaque",
    "background_event_cb", "oauthbearer_token_refresh_cb", "socket_cb", "connect_cb",
    "open_cb"};
constexpr std::array<std::string_view, 5> kCompressions = {"zstd", "lz4", "snappy", "gzip",
                                                           "none"};
// clang-format on

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

std::string lower(std::string_view s) { return http::ascii_lower(s); }

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Where a key's value is, for messages. OutputSettings keeps a copy of the table, and toml++
// does not copy the source positions of values (only of keys), so the key's position is the
// fallback.
toml::source_region region_of(const toml::table& t, std::string_view key) {
  if (const toml::node* n = t.get(key); n && n->source().begin.line != 0) return n->source();
  for (const auto& [k, v] : t)
    if (k.str() == key) return k.source();
  return {};
}

[[noreturn]] void fail_at(const std::string& origin, const toml::source_region& where,
                          const std::string& msg) {
  throw std::runtime_error(fmt::format("{}: {}", toml_where(origin, where), msg));
}


}  // namespace

bool is_reserved_property(std::string_view name, bool msk_iam) {
  const std::string n = lower(name);
  if (std::find(kReservedProperties.begin(), kReservedProperties.end(), n) !=
      kReservedProperties.end())
    return true;
  if (msk_iam &&
      (n == "sasl.mechanism" || n == "sasl.mechanisms" || starts_with(n, "sasl.oauthbearer.") ||
       n == "enable.sasl.oauthbearer.unsecure.jwt"))
    return true;
  return false;
}


KafkaOutputConfig parse_kafka_config(const OutputSettings& s, const std::string& region,
                                     const SecretSources& secrets) {
  const toml::table& table = *s.table;
  TomlReader r(s.config_file, table, "outputs");
  mark_common_output_keys(r);
  KafkaOutputConfig c;
  const auto fail = [&](std::string_view key, const std::string& msg) {
    fail_at(s.config_file, region_of(table, key), msg);
  };
  const auto read_string = [&](std::string_view key, std::string& out) {
    if (const toml::node* n = r.get(key)) {
      if (!n->is_string()) fail(key, fmt::format("outputs.{} must be a string", key));
      out = *n->value<std::string>();
    }
  };

  if (const toml::node* n = r.get("brokers"))
    c.brokers = parse_kafka_brokers(*n, region_of(table, "brokers"), s.config_file, "outputs");
  if (c.brokers.empty())
    throw std::runtime_error(
        fmt::format("{}: a kafka output needs brokers (\"host:port,...\")", s.origin));

  read_string("topic", c.topic);
  if (c.topic.empty())
    throw std::runtime_error(fmt::format("{}: a kafka output needs a topic", s.origin));
  if (!valid_kafka_topic(c.topic))
    fail("topic", "outputs.topic: a Kafka topic name is 1-249 characters of [A-Za-z0-9._-]");

  std::string text;
  read_string("key", text);
  if (text == "account" || text.empty())
    c.key = KafkaKey::kAccount;
  else if (text == "rule")
    c.key = KafkaKey::kRule;
  else if (text == "uid")
    c.key = KafkaKey::kUid;
  else if (text == "none")
    c.key = KafkaKey::kNone;
  else
    fail("key", "outputs.key must be \"account\", \"rule\", \"uid\" or \"none\"");

  text.clear();
  read_string("compression", text);
  if (!text.empty()) {
    if (std::find(kCompressions.begin(), kCompressions.end(), text) == kCompressions.end())
      fail("compression",
           "outputs.compression must be \"zstd\", \"lz4\", \"snappy\", \"gzip\" or \"none\"");
    c.compression = text;
  }
  {  // Is the codec built into this librdkafka?
    ConfPtr probe(rd_kafka_conf_new());
    std::string error;
    if (!kafka_conf_set(probe.get(), "compression.codec", c.compression, false, error))
      throw std::runtime_error(
          fmt::format("{}: compression \"{}\": {}", s.origin, c.compression, error));
  }

  if (const toml::node* n = r.get("delivery_timeout_ms")) {
    if (!n->is_integer() || *n->value<int64_t>() < 1)
      fail("delivery_timeout_ms", "outputs.delivery_timeout_ms must be an integer of at least 1");
    c.delivery_timeout = std::chrono::milliseconds(*n->value<int64_t>());
  }

  if (const toml::node* n = r.get("msk_iam")) {
    if (!n->is_boolean()) fail("msk_iam", "outputs.msk_iam must be true or false");
    c.msk_iam = *n->value<bool>();
  }
  if (c.msk_iam) {
    if (region.empty())
      throw std::runtime_error(fmt::format(
          "{}: msk_iam needs the AWS region of the cluster ([aws] region or AWS_REGION)",
          s.origin));
    if (!valid_aws_region(region))
      throw std::runtime_error(
          fmt::format("{}: msk_iam: '{}' is not an AWS region name", s.origin, region));
    c.msk_region = region;
  }

  if (const toml::node* n = r.get("properties")) {
    const bool msk_iam = c.msk_iam;
    const auto refused = [msk_iam](std::string_view name) -> std::string {
      if (!is_reserved_property(name, msk_iam)) return {};
      const std::string n_lower = lower(name);
      if (n_lower == "bootstrap.servers" || n_lower == "metadata.broker.list")
        return "use outputs.brokers";
      if (starts_with(n_lower, "compression.")) return "use outputs.compression";
      if (n_lower == "enable.idempotence" || n_lower == "acks" || n_lower == "request.required.acks")
        return "the output always uses an idempotent producer with acks=all";
      if (n_lower == "transactional.id") return "transactions are not supported";
      if (msk_iam && n_lower.find("sasl") != std::string::npos)
        return "msk_iam sets the SASL mechanism and token itself";
      return "it is set by the output itself";
    };
    c.properties = parse_kafka_properties(*n, region_of(table, "properties"), s.config_file,
                                          "outputs", msk_iam, refused, secrets);
  }
  r.finish();
  return c;
}

rd_kafka_conf_t* make_rdkafka_conf(const KafkaOutputConfig& c, std::string& error) {
  ConfPtr conf(rd_kafka_conf_new());
  const std::string timeout_default =
      "0";  // librdkafka retries until delivered; see kafka_output.h
  const std::vector<std::pair<const char*, std::string>> fixed = {
      {"bootstrap.servers", c.brokers},     {"client.id", "trailwarden"},
      {"enable.idempotence", "true"},       {"acks", "all"},
      {"compression.codec", c.compression}, {"message.timeout.ms", timeout_default},
  };
  if (!kafka_conf_apply(conf.get(), fixed, c.msk_iam, c.properties, error)) return nullptr;
  return conf.release();
}

std::string_view kafka_message_key(const AlertRecord& alert, KafkaKey key) {
  switch (key) {
    case KafkaKey::kAccount:
      return alert.account;
    case KafkaKey::kRule:
      return alert.rule_id;
    case KafkaKey::kUid:
      return alert.uid;
    case KafkaKey::kNone:
      return {};
  }
  return {};
}

std::string_view kafka_key_name(KafkaKey key) {
  switch (key) {
    case KafkaKey::kAccount:
      return "account";
    case KafkaKey::kRule:
      return "rule";
    case KafkaKey::kUid:
      return "uid";
    case KafkaKey::kNone:
      return "none";
  }
  return "?";
}

}  // namespace trailwarden
