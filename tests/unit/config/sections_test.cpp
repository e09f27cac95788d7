// The agent's sections of the configuration: one key table each drives the parser and the
// effective-configuration printer, so a key is spelled once (agent/config/sections.h).
#include "agent/config/sections.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/embedded.h"
#include "agent/config/toml_util.h"

using namespace trailwarden;

namespace {

std::string error_of(const std::string& toml) {
  try {
    parse_config(toml, "t.toml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// The key names printed under `header` in the effective configuration, in order.
std::vector<std::string> printed_keys(const std::string& text, const std::string& header) {
  std::vector<std::string> keys;
  size_t pos = text.find("\n" + header + "\n");
  REQUIRE(pos != std::string::npos);
  pos += header.size() + 2;
  while (pos < text.size() && text[pos] != '\n' && text[pos] != '[') {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    keys.push_back(line.substr(0, line.find(" = ")));
    pos = nl + 1;
  }
  return keys;
}

template <typename Section>
std::vector<std::string> names(ConfigKeys<Section> keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.emplace_back(k.name);
  return out;
}

// Every [source.sqs] key with a value other than its default.
const char* const kSqsAllKeys = R"([source.sqs]
queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/trail"
max_messages = 7
wait_time_seconds = 5
visibility_timeout_seconds = 600
heartbeat_seconds = 60
max_in_flight_messages = 8
workers = 3
allowed_buckets = ["trail-a", "trail-b"]
key_prefixes = ["AWSLogs/o-1/"]
include_digest = true
include_insights = true
expected_bucket_owner = "111122223333"
inline_events = true
inline_events_via_sns = true
inline_accounts = ["111122223333"]
inline_regions = ["eu-west-1"]
shutdown_timeout_seconds = 5
dedup_window = 1000
)";

}  // namespace

TEST_CASE("[source.sqs]: the printer prints exactly the keys the parser reads, in its order") {
  const std::string out = render_effective_config(default_config(), OutputRenderer{});
  CHECK(printed_keys(out, "[source.sqs]") == names(sqs_keys()));
  CHECK(printed_keys(out, "[general]") == names(general_keys()));
  CHECK(printed_keys(out, "[metrics]") == names(metrics_keys()));
  CHECK(printed_keys(out, "[aws]") == names(aws_keys()));
  CHECK(printed_keys(out, "[limits]") == names(limits_keys()));
  CHECK(printed_keys(out, "[rules]") == names(rules_keys()));
  CHECK(printed_keys(out, "[alarms]") == names(alarms_keys()));
  CHECK(printed_keys(out, "[alarms.dynamodb]") == names(alarms_dynamodb_keys()));
  CHECK(printed_keys(out, "[alerts]") == names(alerts_keys()));
  CHECK(printed_keys(out, "[replay]") == names(replay_keys()));
}

TEST_CASE("[source.sqs]: every key read, printed and read back the same") {
  const Config c = parse_config(kSqsAllKeys, "t.toml");
  const SqsSourceConfig& q = c.sqs;
  CHECK(q.queue_url == "https://sqs.eu-west-1.amazonaws.com/111122223333/trail");
  CHECK(q.max_messages == 7);
  CHECK(q.wait_time_seconds == 5);
  CHECK(q.visibility_timeout_seconds == 600);
  CHECK(q.heartbeat_seconds == 60);
  CHECK(q.max_in_flight_messages == 8);
  CHECK(q.workers == 3);
  CHECK(q.allowed_buckets == std::vector<std::string>{"trail-a", "trail-b"});
  CHECK(q.key_prefixes == std::vector<std::string>{"AWSLogs/o-1/"});
  CHECK(q.include_digest);
  CHECK(q.include_insights);
  CHECK(q.expected_bucket_owner == "111122223333");
  CHECK(q.inline_events);
  CHECK(q.inline_events_via_sns);
  CHECK(q.inline_accounts == std::vector<std::string>{"111122223333"});
  CHECK(q.inline_regions == std::vector<std::string>{"eu-west-1"});
  CHECK(q.shutdown_timeout_seconds == 5);
  CHECK(q.dedup_window == 1000);
  const std::string printed = render_effective_config(c, OutputRenderer{});
  for (const char* line : {"max_messages = 7\n", "inline_regions = [\"eu-west-1\"]\n",
                           "include_digest = true\n", "dedup_window = 1000\n"})
    CHECK_MESSAGE(printed.find(line) != std::string::npos, line);
  const Config again = parse_config(printed, "effective.toml");
  const std::string reprinted = render_effective_config(again, OutputRenderer{});
  CHECK(reprinted.substr(reprinted.find('\n')) == printed.substr(printed.find('\n')));
}

TEST_CASE("[source.sqs]: bounds and names from the key table, at the value's position") {
  CHECK(error_of("[source.sqs]\nmax_messages = 11\n") ==
        "t.toml:2:16: source.sqs.max_messages must be 1 to 10");
  CHECK(error_of("[source.sqs]\nmax_messages = 0\n") ==
        "t.toml:2:16: source.sqs.max_messages must be at least 1");
  CHECK(error_of("[source.sqs]\nwait_time_seconds = 21\n") ==
        "t.toml:2:21: source.sqs.wait_time_seconds must be 0 to 20");
  CHECK(error_of("[source.sqs]\nvisibility_timeout_seconds = 43201\n") ==
        "t.toml:2:30: source.sqs.visibility_timeout_seconds must be at most 43200 (12 hours)");
  CHECK(error_of("[source.sqs]\nworkers = \"4\"\n") ==
        "t.toml:2:11: source.sqs.workers must be an integer");
  CHECK(error_of("[source.sqs]\ninclude_digest = 1\n") ==
        "t.toml:2:18: source.sqs.include_digest must be true or false");
  CHECK(error_of("[source.sqs]\nkey_prefixes = [\"a\", 2]\n") ==
        "t.toml:2:22: source.sqs.key_prefixes must contain only strings");
  CHECK(error_of("[source.sqs]\nexpected_bucket_owner = \"me\"\n") ==
        "t.toml:2:25: source.sqs.expected_bucket_owner must be a 12-digit account id");
  CHECK(error_of("[source.sqs]\ninline_regions = [\"eu-west-1\", \"mars-1\"]\n") ==
        "t.toml:2:32: source.sqs.inline_regions: \"mars-1\" is not an AWS region name like "
        "\"us-east-1\"");
  CHECK(error_of("[source.sqs]\nqueue = \"x\"\n") == "t.toml:2:1: unknown key 'queue' in [source.sqs]");
  // [source] knows its kinds of source: sqs and kafka; anything else is an error.
  CHECK(error_of("[source]\nkinesis = {}\n") == "t.toml:2:1: unknown key 'kinesis' in [source]");
  CHECK(error_of("[source]\nkafka = 1\n") == "t.toml:2:9: [kafka] must be a table");
}

TEST_CASE("[source.kafka] is kept as written for the Kafka source's own parser") {
  const Config c = parse_config("[source.kafka]\nbrokers = \"127.0.0.1:9092\"\ntopics = \"ct\"\n",
                                "t.toml");
  REQUIRE(c.kafka_source);
  CHECK(c.kafka_source->get("topics")->value<std::string>() == "ct");
  CHECK(c.kafka_source->get("brokers")->source().begin.line == 2);  // positions kept for errors
  const std::string effective = render_effective_config(c, {});
  CHECK(effective.find("[source.kafka]") != std::string::npos);
  CHECK(effective.find("topics = \"ct\"") != std::string::npos);
  CHECK_FALSE(parse_config("[source.sqs]\n", "t.toml").kafka_source);
}

TEST_CASE("every key of the agent's sections is in the shipped conf/trailwarden.toml") {
  const toml::table doc = parse_toml(embedded::find("trailwarden.toml"), "trailwarden.toml");
  const auto documented = [&](std::string_view path, const std::vector<std::string>& keys) {
    const toml::table* t = doc.at_path(path).as_table();
    REQUIRE_MESSAGE(t, path);
    for (const auto& k : keys) CHECK_MESSAGE(t->get(k), (std::string(path) + "." + k));
  };
  documented("general", names(general_keys()));
  documented("metrics", names(metrics_keys()));
  documented("aws", names(aws_keys()));
  documented("source.sqs", names(sqs_keys()));
  documented("limits", names(limits_keys()));
  documented("rules", names(rules_keys()));
  documented("integrity", names(integrity_keys()));
  documented("alerts", names(alerts_keys()));
  documented("replay", names(replay_keys()));
}
