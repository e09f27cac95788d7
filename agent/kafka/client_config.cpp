#include "agent/kafka/client_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "agent/http/http.h"

namespace trailwarden {

namespace {

constexpr size_t kMaxSecretFileBytes = size_t{1} << 20;
constexpr size_t kMaxTopicLength = 249;  // Kafka's limit

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

bool kafka_conf_set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                    bool secret, std::string& error) {
  return conf_set(conf, name, value, secret, error);
}

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

bool kafka_conf_apply(rd_kafka_conf_t* conf,
                      const std::vector<std::pair<const char*, std::string>>& fixed, bool msk_iam,
                      const std::vector<KafkaProperty>& properties, std::string& error) {
  for (const auto& [name, value] : fixed)
    if (!kafka_conf_set(conf, name, value, false, error)) return false;
  if (msk_iam && !kafka_conf_set(conf, "security.protocol", "SASL_SSL", false, error)) return false;
  for (const KafkaProperty& p : properties) {
    if (!kafka_conf_set(conf, p.name, p.value, p.secret, error)) {
      error = fmt::format("property {}: {}", p.name, error);
      return false;
    }
  }
  return !msk_iam || kafka_conf_set(conf, "sasl.mechanisms", "OAUTHBEARER", false, error);
}

bool is_secret_property(std::string_view name) {
  const std::string n = lower(name);
  for (std::string_view marker : {"password", "secret", "token", "key.pem", "credentials",
                                  "sasl.oauthbearer.config", "ssl_key"})
    if (n.find(marker) != std::string::npos) return true;
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

}  // namespace trailwarden
