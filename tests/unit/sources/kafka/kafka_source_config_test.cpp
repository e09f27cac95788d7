// [source.kafka]: keys, defaults, errors with positions, the librdkafka settings the source owns,
// and the TLS/SASL/MSK IAM settings shared with the Kafka output.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "agent/sources/kafka/kafka_source_config.h"

using namespace trailwarden;
using namespace trailwarden::kafka;

namespace {

const std::string kFile = "/etc/trailwarden/trailwarden.toml";

SecretSources secrets(std::map<std::string, std::string> env = {}) {
  SecretSources s;
  s.getenv = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  s.read_file = [](const std::string&, std::string&, std::string& why) {
    why = "no files here";
    return aws::ReadStatus::kNotFound;
  };
  return s;
}

KafkaSourceConfig parse(const std::string& text, const std::string& region = "",
                        std::map<std::string, std::string> env = {}) {
  toml::table doc = toml::parse(text, kFile);
  return parse_kafka_source_config(*doc["source"]["kafka"].as_table(), kFile, region,
                                   secrets(std::move(env)));
}

std::string error_of(const std::string& text, const std::string& region = "") {
  try {
    parse(text, region);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

const std::string kMinimal = R"([source.kafka]
brokers = "b1:9092, b2:9092"
topics = "cloudtrail"
group_id = "trailwarden"
)";

}  // namespace

TEST_CASE("kafka source config: minimal table and defaults") {
  const KafkaSourceConfig c = parse(kMinimal);
  CHECK(c.brokers == "b1:9092,b2:9092");
  CHECK(c.topics == std::vector<std::string>{"cloudtrail"});
  CHECK(c.group_id == "trailwarden");
  CHECK(c.client_id == "trailwarden");
  CHECK(c.auto_offset_reset == "earliest");
  CHECK(c.max_in_flight == 256);
  CHECK(c.commit_interval == std::chrono::milliseconds(1000));
  CHECK(c.commit_batch == 1000);
  CHECK(c.max_message_bytes == (size_t{16} << 20));
  CHECK_FALSE(c.msk_iam);
  CHECK(c.properties.empty());
}

TEST_CASE("kafka source config: every key") {
  const KafkaSourceConfig c = parse(R"([source.kafka]
brokers = ["b1:9092", "b2:9092"]
topics = ["ct-a", "ct-b"]
group_id = "g"
client_id = "agent-7"
auto_offset_reset = "latest"
max_in_flight = 8
commit_interval_ms = 250
commit_batch = 10
max_message_bytes = 1048576
msk_iam = true
[source.kafka.properties]
security.protocol = "SASL_SSL"
"ssl.ca.location" = "/etc/ssl/certs/ca-certificates.crt"
)",
                                    "eu-west-1");
  CHECK(c.brokers == "b1:9092,b2:9092");
  CHECK(c.topics == std::vector<std::string>{"ct-a", "ct-b"});
  CHECK(c.client_id == "agent-7");
  CHECK(c.auto_offset_reset == "latest");
  CHECK(c.max_in_flight == 8);
  CHECK(c.commit_interval == std::chrono::milliseconds(250));
  CHECK(c.commit_batch == 10);
  CHECK(c.max_message_bytes == 1048576);
  CHECK(c.msk_iam);
  CHECK(c.msk_region == "eu-west-1");
  REQUIRE(c.properties.size() == 2);
  CHECK(c.properties[0].name == "security.protocol");
  CHECK(c.properties[1].name == "ssl.ca.location");
}

TEST_CASE("kafka source config: errors name the key and its position") {
  CHECK(error_of("[source.kafka]\ntopics = \"t\"\ngroup_id = \"g\"\n").find("needs brokers") !=
        std::string::npos);
  CHECK(error_of("[source.kafka]\nbrokers = \"b:1\"\ngroup_id = \"g\"\n").find("needs topics") !=
        std::string::npos);
  CHECK(error_of("[source.kafka]\nbrokers = \"b:1\"\ntopics = \"t\"\n").find("needs a group_id") !=
        std::string::npos);
  CHECK(error_of(kMinimal + "auto_offset_reset = \"smallest\"\n") ==
        kFile + ":5:21: source.kafka.auto_offset_reset must be \"earliest\", \"latest\" or \"error\"");
  CHECK(error_of(kMinimal + "max_in_flight = 0\n") ==
        kFile + ":5:17: source.kafka.max_in_flight must be an integer of at least 1");
  CHECK(error_of(kMinimal + "colour = \"blue\"\n") ==
        kFile + ":5:1: unknown key 'colour' in [source.kafka]");
  CHECK(error_of("[source.kafka]\nbrokers = \"b:1\"\ngroup_id = \"g\"\ntopics = [\"ok\", \"bad topic\"]\n")
            .find("source.kafka.topics: 'bad topic' is not a Kafka topic name") != std::string::npos);
  CHECK(error_of("[source.kafka]\nbrokers = \"b:1\"\ngroup_id = \"g\"\ntopics = [\"t\", \"t\"]\n")
            .find("names a topic twice") != std::string::npos);
  CHECK(error_of("[source.kafka]\nbrokers = \"b:1,,b:2\"\ngroup_id = \"g\"\ntopics = \"t\"\n") ==
        kFile +
            ":2:11: source.kafka.brokers: each broker is \"host:port\", without spaces or empty "
            "entries");
  CHECK(error_of(kMinimal + "msk_iam = true\n").find("msk_iam needs the AWS region") !=
        std::string::npos);
}

TEST_CASE("kafka source config: properties the source owns are refused, with the key to use") {
  const auto refused = [](const std::string& line) {
    return error_of(kMinimal + "[source.kafka.properties]\n" + line + "\n");
  };
  CHECK(refused("\"enable.auto.commit\" = true") ==
        kFile + ":6:24: source.kafka.properties.enable.auto.commit cannot be set here: the source "
                "commits offsets itself, only after their messages are done");
  CHECK(refused("\"enable.auto.offset.store\" = true").find("commits offsets itself") !=
        std::string::npos);
  CHECK(refused("\"group.id\" = \"x\"").find("use source.kafka.group_id") != std::string::npos);
  CHECK(refused("\"auto.offset.reset\" = \"latest\"").find("use source.kafka.auto_offset_reset") !=
        std::string::npos);
  CHECK(refused("\"bootstrap.servers\" = \"x:1\"").find("use source.kafka.brokers") !=
        std::string::npos);
  CHECK(refused("\"no.such.property\" = 1").find("unknown librdkafka property") != std::string::npos);
  CHECK(is_reserved_source_property("SASL.Mechanism", true));
  CHECK_FALSE(is_reserved_source_property("sasl.mechanism", false));
}

TEST_CASE("kafka source config: secrets come through indirection and never appear in errors") {
  const KafkaSourceConfig c = parse(kMinimal + R"([source.kafka.properties]
security.protocol = "SASL_SSL"
sasl.mechanism = "SCRAM-SHA-512"
sasl.username = "agent"
sasl.password = "${KAFKA_PASSWORD}"
)",
                                    "", {{"KAFKA_PASSWORD", "hunter2-secret"}});
  REQUIRE(c.properties.size() == 4);
  const auto password = std::find_if(c.properties.begin(), c.properties.end(),
                                     [](const KafkaProperty& p) { return p.name == "sasl.password"; });
  REQUIRE(password != c.properties.end());
  CHECK(password->value == "hunter2-secret");
  CHECK(password->secret);
  const std::string e = error_of(kMinimal + "[source.kafka.properties]\nsasl.password = \"${UNSET_X}\"\n");
  CHECK(e.find("source.kafka.properties.sasl.password: environment variable UNSET_X is not set") !=
        std::string::npos);
}

TEST_CASE("kafka source config: the consumer configuration holds our settings") {
  KafkaSourceConfig c = parse(kMinimal);
  std::string error;
  rd_kafka_conf_t* conf = make_consumer_conf(c, error);
  REQUIRE_MESSAGE(conf, error);
  const auto get = [&](const char* name) {
    char buf[256];
    size_t size = sizeof buf;
    REQUIRE(rd_kafka_conf_get(conf, name, buf, &size) == RD_KAFKA_CONF_OK);
    return std::string(buf);
  };
  CHECK(get("enable.auto.commit") == "false");
  CHECK(get("enable.auto.offset.store") == "false");
  CHECK(get("group.id") == "trailwarden");
  CHECK(get("auto.offset.reset") == "smallest");  // librdkafka's name for earliest
  CHECK(get("bootstrap.servers") == "b1:9092,b2:9092");
  rd_kafka_conf_destroy(conf);
}
