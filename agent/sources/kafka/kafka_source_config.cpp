#include "agent/sources/kafka/kafka_source_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

#include "agent/http/http.h"
#include "agent/config/toml_util.h"
#include "agent/kafka/msk_iam.h"

namespace trailwarden::kafka {

namespace {

constexpr std::string_view kSection = "source.kafka";

// clang-format off
constexpr std::array<std::string_view, 21> kReserved = {
    "bootstrap.servers", "metadata.broker.list", "group.id", "client.id", "enable.auto.commit",
    "auto.commit.enable", "enable.auto.offset.store", "auto.offset.reset", "rebalance_cb",
    "offset_commit_cb", "error_cb", "log_cb", "stats_cb", "throttle_cb", "opaque",
    "background_event_cb", "oauthbearer_token_refresh_cb", "socket_cb", "connect_cb", "open_cb",
    "consume_cb"};
// clang-format on

[[noreturn]] void fail(const std::string& file, const toml::node& n, const std::string& msg) {
  throw std::runtime_error(fmt::format("{}: {}", toml_where(file, n.source()), msg));
}

toml::source_region region_of(const toml::table& t, std::string_view key) {
  if (const toml::node* n = t.get(key); n && n->source().begin.line != 0) return n->source();
  for (const auto& [k, v] : t)
    if (k.str() == key) return k.source();
  return {};
}

size_t read_count(TomlReader& r, const std::string& file, std::string_view key, size_t value,
                  int64_t min_value) {
  if (const toml::node* n = r.get(key)) {
    if (!n->is_integer() || *n->value<int64_t>() < min_value)
      fail(file, *n, fmt::format("{}.{} must be an integer of at least {}", kSection, key, min_value));
    return static_cast<size_t>(*n->value<int64_t>());
  }
  return value;
}

}  // namespace

bool is_reserved_source_property(std::string_view name, bool msk_iam) {
  const std::string n = http::ascii_lower(name);
  if (std::find(kReserved.begin(), kReserved.end(), n) != kReserved.end()) return true;
  return msk_iam && (n == "sasl.mechanism" || n == "sasl.mechanisms" ||
                     n.rfind("sasl.oauthbearer.", 0) == 0 ||
                     n == "enable.sasl.oauthbearer.unsecure.jwt");
}

KafkaSourceConfig parse_kafka_source_config(const toml::table& table, const std::string& file,
                                            const std::string& region, const SecretSources& secrets) {
  TomlReader r(file, table, std::string(kSection));
  KafkaSourceConfig c;
  const std::string where = fmt::format("{}: [{}]", file, kSection);

  if (const toml::node* n = r.get("brokers"))
    c.brokers = parse_kafka_brokers(*n, region_of(table, "brokers"), file, kSection);
  if (c.brokers.empty())
    throw std::runtime_error(fmt::format("{} needs brokers (\"host:port,...\")", where));

  if (const toml::node* n = r.get("topics")) {
    if (n->is_string()) {
      c.topics.push_back(*n->value<std::string>());
    } else if (const toml::array* arr = n->as_array()) {
      for (const toml::node& el : *arr) {
        if (!el.is_string()) fail(file, el, "source.kafka.topics must contain only strings");
        c.topics.push_back(*el.value<std::string>());
      }
    } else {
      fail(file, *n, "source.kafka.topics must be a topic name or an array of topic names");
    }
    for (const std::string& t : c.topics)
      if (!valid_kafka_topic(t))
        fail(file, *n,
             fmt::format("source.kafka.topics: '{}' is not a Kafka topic name (1-249 characters "
                         "of [A-Za-z0-9._-])",
                         t));
    std::vector<std::string> sorted = c.topics;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      fail(file, *n, "source.kafka.topics names a topic twice");
  }
  if (c.topics.empty())
    throw std::runtime_error(fmt::format("{} needs topics (a name or an array of names)", where));

  r.read("group_id", c.group_id);
  if (c.group_id.empty())
    throw std::runtime_error(fmt::format(
        "{} needs a group_id: the consumer group whose committed offsets say where to resume",
        where));
  r.read("client_id", c.client_id);
  if (c.client_id.empty()) fail(file, *r.table().get("client_id"), "source.kafka.client_id is empty");

  r.read("auto_offset_reset", c.auto_offset_reset);
  if (c.auto_offset_reset != "earliest" && c.auto_offset_reset != "latest" &&
      c.auto_offset_reset != "error")
    fail(file, *table.get("auto_offset_reset"),
         "source.kafka.auto_offset_reset must be \"earliest\", \"latest\" or \"error\"");

  c.max_in_flight = read_count(r, file, "max_in_flight", c.max_in_flight, 1);
  c.commit_interval = std::chrono::milliseconds(
      read_count(r, file, "commit_interval_ms", static_cast<size_t>(c.commit_interval.count()), 1));
  c.commit_batch = read_count(r, file, "commit_batch", c.commit_batch, 1);
  c.max_message_bytes = read_count(r, file, "max_message_bytes", c.max_message_bytes, 1);
  c.shutdown_timeout_seconds =
      read_count(r, file, "shutdown_timeout_seconds", c.shutdown_timeout_seconds, 1);

  r.read("msk_iam", c.msk_iam);
  if (c.msk_iam) {
    if (region.empty())
      throw std::runtime_error(fmt::format(
          "{}: msk_iam needs the AWS region of the cluster ([aws] region or AWS_REGION)", where));
    if (!valid_aws_region(region))
      throw std::runtime_error(
          fmt::format("{}: msk_iam: '{}' is not an AWS region name", where, region));
    c.msk_region = region;
  }

  if (const toml::node* n = r.get("properties")) {
    const bool msk_iam = c.msk_iam;
    const auto refused = [msk_iam](std::string_view name) -> std::string {
      if (!is_reserved_source_property(name, msk_iam)) return {};
      const std::string l = http::ascii_lower(name);
      if (l == "bootstrap.servers" || l == "metadata.broker.list") return "use source.kafka.brokers";
      if (l == "group.id") return "use source.kafka.group_id";
      if (l == "client.id") return "use source.kafka.client_id";
      if (l == "auto.offset.reset") return "use source.kafka.auto_offset_reset";
      if (l == "enable.auto.commit" || l == "auto.commit.enable" || l == "enable.auto.offset.store")
        return "the source commits offsets itself, only after their messages are done";
      if (msk_iam && l.find("sasl") != std::string::npos)
        return "msk_iam sets the SASL mechanism and token itself";
      return "it is set by the source itself";
    };
    c.properties = parse_kafka_properties(*n, region_of(table, "properties"), file, kSection,
                                          msk_iam, refused, secrets);
  }
  r.finish();
  return c;
}

rd_kafka_conf_t* make_consumer_conf(const KafkaSourceConfig& c, std::string& error) {
  struct Deleter {
    void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
  };
  std::unique_ptr<rd_kafka_conf_t, Deleter> conf(rd_kafka_conf_new());
  const std::vector<std::pair<const char*, std::string>> fixed = {
      {"bootstrap.servers", c.brokers},
      {"group.id", c.group_id},
      {"client.id", c.client_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", c.auto_offset_reset},
  };
  if (!kafka_conf_apply(conf.get(), fixed, c.msk_iam, c.properties, error)) return nullptr;
  return conf.release();
}

}  // namespace trailwarden::kafka
