#include "outputs/kafka/kafka_config.h"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "agent/http/http.h"
#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "outputs/kafka/msk_iam.h"

namespace trailwarden {

namespace {

constexpr size_t kMaxSecretFileBytes = size_t{1} << 20;
constexpr size_t kMaxTopicLength = 249;  // Kafka's limit

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

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

bool valid_env_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
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

struct FlatProperty {
  std::string name;
  const toml::node* node;
  toml::source_region where;
};

// Flattens [properties] (nested tables joined with '.') into librdkafka names.
void flatten(const toml::table& t, const std::string& prefix, std::vector<FlatProperty>& out) {
  for (const auto& [k, v] : t) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table())
      flatten(*sub, name, out);
    else
      out.push_back({std::move(name), &v, v.source().begin.line != 0 ? v.source() : k.source()});
  }
}

// Sets one property; false with a message (the value scrubbed when secret) on refusal.
bool conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value, bool secret,
              std::string& error) {
  char errstr[512];
  const rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
  if (res == RD_KAFKA_CONF_OK) return true;
  error = res == RD_KAFKA_CONF_UNKNOWN ? fmt::format("unknown librdkafka property '{}'", name)
                                       : std::string(errstr);
  if (secret) http::scrub_secret(error, value);
  return false;
}

}  // namespace

SecretSources process_secret_sources() {
  SecretSources s;
  s.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  s.read_file = aws::disk_file_reader(kMaxSecretFileBytes);
  return s;
}

bool is_secret_property(std::string_view name) {
  const std::string n = lower(name);
  for (std::string_view marker : {"password", "secret", "token", "key.pem", "credentials",
                                  "sasl.oauthbearer.config", "ssl_key"})
    if (n.find(marker) != std::string::npos) return true;
  return false;
}

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

bool resolve_secret_value(const std::string& raw, const SecretSources& secrets,
                          const std::string& where, const std::string& base_dir, std::string& value,
                          bool& indirect, std::string& error) {
  indirect = false;
  if (starts_with(raw, "$${") || starts_with(raw, "@@file:")) {
    value = raw.substr(1);
    return true;
  }
  if (starts_with(raw, "${") && raw.size() > 3 && raw.back() == '}') {
    const std::string name = raw.substr(2, raw.size() - 3);
    if (!valid_env_name(name)) {
      error = fmt::format(
          "{}: '${{...}}' must name an environment variable ([A-Za-z_][A-Za-z0-9_]*)", where);
      return false;
    }
    std::optional<std::string> v = secrets.getenv ? secrets.getenv(name) : std::nullopt;
    if (!v) {
      error = fmt::format("{}: environment variable {} is not set", where, name);
      return false;
    }
    value = std::move(*v);
    indirect = true;
    return true;
  }
  if (starts_with(raw, "@file:")) {
    std::string path = raw.substr(6);
    if (path.empty()) {
      error = fmt::format("{}: '@file:' needs a path", where);
      return false;
    }
    if (path[0] != '/' && !base_dir.empty())
      path = (std::filesystem::path(base_dir) / path).string();
    std::string content, why;
    const aws::ReadStatus st =
        secrets.read_file ? secrets.read_file(path, content, why) : aws::ReadStatus::kError;
    if (st != aws::ReadStatus::kOk) {
      error = fmt::format("{}: cannot read {}: {}", where, path,
                          st == aws::ReadStatus::kNotFound ? "no such file" : why);
      return false;
    }
    if (!content.empty() && content.back() == '\n') content.pop_back();
    if (!content.empty() && content.back() == '\r') content.pop_back();
    value = std::move(content);
    indirect = true;
    return true;
  }
  value = raw;
  return true;
}

bool valid_kafka_topic(std::string_view t) {
  if (t.empty() || t.size() > kMaxTopicLength || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string parse_kafka_brokers(const toml::node& n, const toml::source_region& where,
                                const std::string& config_file, std::string_view section) {
  std::vector<std::string> list;
  if (n.is_string()) {
    const std::string text = *n.value<std::string>();
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string::npos) comma = text.size();
      list.push_back(trim(std::string_view(text).substr(start, comma - start)));
      start = comma + 1;
    }
  } else if (const toml::array* arr = n.as_array()) {
    for (const toml::node& el : *arr) {
      if (!el.is_string())
        fail_at(config_file, where, fmt::format("{}.brokers must contain only strings", section));
      list.push_back(trim(*el.value<std::string>()));
    }
  } else {
    fail_at(config_file, where,
            fmt::format("{}.brokers must be a string (\"host:port,host:port\") or an array of "
                        "strings",
                        section));
  }
  for (const auto& b : list)
    if (b.empty() || b.find_first_of(" \t,") != std::string::npos)
      fail_at(config_file, where,
              fmt::format("{}.brokers: each broker is \"host:port\", without spaces or empty "
                          "entries",
                          section));
  return fmt::format("{}", fmt::join(list, ","));
}

std::vector<KafkaProperty> parse_kafka_properties(const toml::node& n,
                                                  const toml::source_region& where,
                                                  const std::string& config_file,
                                                  std::string_view section, bool msk_iam,
                                                  const KafkaPropertyRefusal& refused,
                                                  const SecretSources& secrets) {
  const toml::table* props = n.as_table();
  if (!props)
    fail_at(config_file, where,
            fmt::format("{}.properties must be a table of librdkafka properties", section));
  std::vector<FlatProperty> flat;
  flatten(*props, "", flat);
  const std::string base_dir = std::filesystem::path(config_file).parent_path().string();
  ConfPtr probe(rd_kafka_conf_new());
  std::vector<KafkaProperty> out;
  for (const auto& [name, node, here] : flat) {
    const std::string where_name = fmt::format("{}.properties.{}", section, name);
    if (std::string why = refused ? refused(name) : std::string(); !why.empty())
      fail_at(config_file, here, fmt::format("{} cannot be set here: {}", where_name, why));
    KafkaProperty p;
    p.name = name;
    if (node->is_string()) {
      bool indirect = false;
      std::string error;
      if (!resolve_secret_value(*node->value<std::string>(), secrets, where_name, base_dir,
                                p.value, indirect, error))
        fail_at(config_file, here, error);
      p.secret = indirect || is_secret_property(name);
      if (p.secret) register_secret(p.value);  // masked in every log line
    } else if (node->is_integer()) {
      p.value = std::to_string(*node->value<int64_t>());
    } else if (node->is_boolean()) {
      p.value = *node->value<bool>() ? "true" : "false";
    } else {
      fail_at(config_file, here,
              fmt::format("{} must be a string, an integer or a boolean", where_name));
    }
    if (msk_iam && lower(name) == "security.protocol") {
      const std::string proto = lower(p.value);
      if (proto != "sasl_ssl" && proto != "sasl_plaintext")
        fail_at(config_file, here,
                fmt::format("{}: msk_iam needs SASL_SSL (or SASL_PLAINTEXT)", where_name));
    }
    std::string error;
    if (!conf_set(probe.get(), p.name, p.value, p.secret, error))
      fail_at(config_file, here, fmt::format("{}: {}", where_name, error));
    out.push_back(std::move(p));
  }
  return out;
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
    if (!conf_set(probe.get(), "compression.codec", c.compression, false, error))
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
  const std::pair<const char*, std::string> fixed[] = {
      {"bootstrap.servers", c.brokers},     {"client.id", "trailwarden"},
      {"enable.idempotence", "true"},       {"acks", "all"},
      {"compression.codec", c.compression}, {"message.timeout.ms", timeout_default},
  };
  for (const auto& [name, value] : fixed)
    if (!conf_set(conf.get(), name, value, false, error)) return nullptr;
  if (c.msk_iam && !conf_set(conf.get(), "security.protocol", "SASL_SSL", false, error))
    return nullptr;
  for (const KafkaProperty& p : c.properties) {
    if (!conf_set(conf.get(), p.name, p.value, p.secret, error)) {
      error = fmt::format("property {}: {}", p.name, error);
      return nullptr;
    }
  }
  if (c.msk_iam && !conf_set(conf.get(), "sasl.mechanisms", "OAUTHBEARER", false, error))
    return nullptr;
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
