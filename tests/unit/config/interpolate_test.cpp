#include "agent/config/interpolate.h"

#include <doctest/doctest.h>

#include <map>
#include <stdexcept>

#include "agent/config/config.h"
#include "outputs/output_tables.h"

using namespace trailwarden;

namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string interp(std::string_view text, const EnvLookup& env, bool* secret = nullptr,
                   std::string* error = nullptr) {
  bool s = false;
  std::string e;
  auto out = interpolate_string(text, env, s, e);
  if (secret) *secret = s;
  if (error) *error = e;
  return out ? *out : "<error>";
}

std::string config_error(const std::string& toml, const EnvLookup& env) {
  try {
    parse_config(toml, "t.toml", env);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("interpolation: references, defaults and escapes") {
  const EnvLookup env = fake_env({{"QUEUE", "https://sqs.eu-west-1.amazonaws.com/1/q"},
                                  {"EMPTY", ""},
                                  {"HEC_TOKEN", "t0ken-value"}});
  CHECK(interp("${QUEUE}", env) == "https://sqs.eu-west-1.amazonaws.com/1/q");
  CHECK(interp("pre-${QUEUE}-post", env) == "pre-https://sqs.eu-west-1.amazonaws.com/1/q-post");
  CHECK(interp("${MISSING:-fallback}", env) == "fallback");
  CHECK(interp("${EMPTY:-fallback}", env) == "fallback");
  CHECK(interp("${EMPTY}", env) == "");
  CHECK(interp("$${QUEUE}", env) == "${QUEUE}");
  CHECK(interp("cost: $5, $$ and $", env) == "cost: $5, $ and $");
  CHECK(interp("no references", env) == "no references");

  bool secret = false;
  CHECK(interp("${HEC_TOKEN}", env, &secret) == "t0ken-value");
  CHECK(secret);
  interp("${QUEUE}", env, &secret);
  CHECK_FALSE(secret);

  std::string error;
  CHECK(interp("${MISSING}", env, nullptr, &error) == "<error>");
  CHECK(error.find("environment variable MISSING is not set") != std::string::npos);
  CHECK(interp("${not valid}", env, nullptr, &error) == "<error>");
  CHECK(error.find("does not name an environment variable") != std::string::npos);
  CHECK(interp("${UNTERMINATED", env, nullptr, &error) == "<error>");
  CHECK(error.find("unterminated") != std::string::npos);
}

TEST_CASE("interpolation: secret names") {
  for (const char* name : {"token", "SPLUNK_HEC_TOKEN", "sasl.password", "ssl.key.password",
                           "client_secret", "KAFKA_PASSWORD", "ssl.key.pem", "api_key"})
    CHECK_MESSAGE(is_secret_name(name), name);
  for (const char* name : {"token_file", "token_env", "url", "queue_url", "ssl.key.location",
                           "sasl.username", "key", "ca_file"})
    CHECK_MESSAGE(!is_secret_name(name), name);
}

TEST_CASE("interpolation in a configuration document, with positions in errors") {
  const EnvLookup env = fake_env({{"QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/q"},
                                  {"BUCKET", "trail-bucket"},
                                  {"SPLUNK_TOKEN", "abcd-efgh-ijkl"}});
  Config c = parse_config(R"(
[source.sqs]
queue_url = "${QUEUE_URL}"
allowed_buckets = ["${BUCKET}", "static"]
[[outputs]]
type = "splunk_hec"
url = "https://splunk.example.com:8088"
token = "${SPLUNK_TOKEN}"
)",
                          "t.toml", env);
  CHECK(c.sqs.queue_url == "https://sqs.us-east-1.amazonaws.com/1/q");
  CHECK(c.sqs.allowed_buckets == std::vector<std::string>{"trail-bucket", "static"});
  REQUIRE(c.outputs.size() == 1);
  CHECK(c.outputs[0].table->get("token")->value<std::string>() == "abcd-efgh-ijkl");
  CHECK(std::find(c.secrets.begin(), c.secrets.end(), "abcd-efgh-ijkl") != c.secrets.end());

  CHECK(config_error("[source.sqs]\nqueue_url = \"${NOPE}\"\n", env) ==
        "t.toml:2:13: source.sqs.queue_url: environment variable NOPE is not set (write ${NOPE:-default} for a "
        "default)");
}

TEST_CASE("kafka properties keep the Kafka output's own indirection") {
  const EnvLookup env = fake_env({});
  // ${KAFKA_PASSWORD} is unset here, yet parsing succeeds: the Kafka output resolves it later.
  Config c = parse_config(R"(
[[outputs]]
type = "kafka"
brokers = "127.0.0.1:9092"
topic = "alerts"
[outputs.properties]
"sasl.password" = "${KAFKA_PASSWORD}"
)",
                          "t.toml", env);
  const auto* props = c.outputs.at(0).table->get("properties")->as_table();
  REQUIRE(props);
  CHECK(props->get("sasl.password")->value<std::string>() == "${KAFKA_PASSWORD}");
}

TEST_CASE("the effective configuration: defaults filled in, secrets redacted") {
  const EnvLookup env = fake_env({{"SPLUNK_HEC_TOKEN", "0123-secret-token"},
                                  {"URL_WITH_SECRET_TOKEN", "s3cr3t-in-url"}});
  Config c = parse_config(R"(
[general]
log_level = "debug"
[[outputs]]
type = "splunk_hec"
name = "splunk"
url = "https://splunk.example.com:8088/services/collector/event?x=${URL_WITH_SECRET_TOKEN}"
token = "${SPLUNK_HEC_TOKEN}"
[[outputs]]
type = "kafka"
brokers = "127.0.0.1:9092"
topic = "alerts"
[outputs.properties]
"sasl.password" = "inline-password"
"sasl.username" = "trailwarden"
)",
                          "t.toml", env);
  const std::string out = render_effective_config(c);
  CHECK(out.find("log_level = \"debug\"") != std::string::npos);
  CHECK(out.find("visibility_timeout_seconds = 300") != std::string::npos);  // a default
  CHECK(out.find("listen = \"127.0.0.1:9731\"") != std::string::npos);
  CHECK(out.find("name = \"kafka-1\"") != std::string::npos);
  CHECK(out.find("\"sasl.username\" = \"trailwarden\"") != std::string::npos);
  CHECK(out.find("token = \"<redacted>\"") != std::string::npos);
  CHECK(out.find("\"sasl.password\" = \"<redacted>\"") != std::string::npos);
  CHECK(out.find("url = \"<redacted>\"") != std::string::npos);
  for (const char* secret : {"0123-secret-token", "s3cr3t-in-url", "inline-password"})
    CHECK_MESSAGE(out.find(secret) == std::string::npos, secret);
  // What it prints is a configuration the agent reads back the same way.
  Config again = parse_config(out, "effective.toml", env);
  CHECK(again.log_level == "debug");
  CHECK(again.outputs.size() == 2);
  // ... and renders the same again (but for the positions in the comments).
  const auto strip = [](std::string text) {
    std::string kept;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.starts_with("#")) continue;
      if (size_t hash = line.find("  # "); line.starts_with("[[") && hash != std::string::npos)
        line.resize(hash);
      kept += line + "\n";
    }
    return kept;
  };
  CHECK(strip(render_effective_config(again)) == strip(out));
}

TEST_CASE("metrics and logging keys") {
  Config c = parse_config("[metrics]\nlisten = \"[::1]:9000\"\n[general]\nlog_format = \"json\"\n",
                          "t.toml", fake_env({}));
  CHECK(c.metrics.listen == "[::1]:9000");
  CHECK(c.log_format == "json");
  CHECK(parse_config("[metrics]\nlisten = \"\"\n", "t.toml", fake_env({})).metrics.listen.empty());
  CHECK(config_error("[metrics]\nlisten = \"9000\"\n", fake_env({})).rfind("t.toml:2:10: ", 0) == 0);
  CHECK(config_error("[metrics]\nlisten = \"::1:9000\"\n", fake_env({})).find("HOST:PORT") !=
        std::string::npos);
  CHECK(config_error("[general]\nlog_format = \"xml\"\n", fake_env({})).find("unknown log format") !=
        std::string::npos);
  std::string host;
  int port = 0;
  CHECK(split_host_port("0.0.0.0:9731", host, port));
  CHECK(host == "0.0.0.0");
  CHECK(port == 9731);
  CHECK(split_host_port("localhost:0", host, port));  // any free port
  CHECK_FALSE(split_host_port("localhost:", host, port));
  CHECK_FALSE(split_host_port("localhost:65536", host, port));
}
