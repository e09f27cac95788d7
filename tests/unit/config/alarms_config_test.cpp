// [alarms] and [alarms.dynamodb]: read from their key tables, checked with the value's position,
// printed by the effective configuration and read back the same (agent/config/sections.cpp).
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/sections.h"

using namespace trailwarden;

namespace {

std::string error_of(const std::string& toml) {
  try {
    parse_config(toml, "t.toml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* const kAllKeys = R"([alarms]
enable = ["cis-4.3", "cis-4.1*"]
disable = ["cis-4.1-v1.2"]
store = "dynamodb"

[alarms.dynamodb]
table = "trailwarden-alarms"
region = "eu-west-1"
endpoint = "http://127.0.0.1:8000"
)";

}  // namespace

TEST_CASE("[alarms]: defaults, in the built-in configuration and without the section") {
  for (const Config& c : {default_config(), parse_config("", "empty.toml")}) {
    CHECK(c.alarms.enable.empty());
    CHECK(c.alarms.disable.empty());
    CHECK(c.alarms.store == "state");
    CHECK(c.alarms.dynamodb.table.empty());
    CHECK(c.alarms.dynamodb.region.empty());
    CHECK(c.alarms.dynamodb.endpoint.empty());
  }
}

TEST_CASE("[alarms]: every key read, printed and read back the same") {
  const Config c = parse_config(kAllKeys, "t.toml");
  CHECK(c.alarms.enable == std::vector<std::string>{"cis-4.3", "cis-4.1*"});
  CHECK(c.alarms.disable == std::vector<std::string>{"cis-4.1-v1.2"});
  CHECK(c.alarms.store == "dynamodb");
  CHECK(c.alarms.dynamodb.table == "trailwarden-alarms");
  CHECK(c.alarms.dynamodb.region == "eu-west-1");
  CHECK(c.alarms.dynamodb.endpoint == "http://127.0.0.1:8000");
  const std::string printed = render_effective_config(c, OutputRenderer{});
  for (const char* text :
       {"\n[alarms]\nenable = [\"cis-4.3\", \"cis-4.1*\"]\ndisable = [\"cis-4.1-v1.2\"]\n"
        "store = \"dynamodb\"\n",
        "\n[alarms.dynamodb]\ntable = \"trailwarden-alarms\"\nregion = \"eu-west-1\"\n"
        "endpoint = \"http://127.0.0.1:8000\"\n"})
    CHECK_MESSAGE(printed.find(text) != std::string::npos, text, "\n---\n", printed);
  const Config again = parse_config(printed, "effective.toml");
  CHECK(again.alarms.enable == c.alarms.enable);
  CHECK(again.alarms.disable == c.alarms.disable);
  CHECK(again.alarms.store == c.alarms.store);
  CHECK(again.alarms.dynamodb.table == c.alarms.dynamodb.table);
  CHECK(again.alarms.dynamodb.region == c.alarms.dynamodb.region);
  CHECK(again.alarms.dynamodb.endpoint == c.alarms.dynamodb.endpoint);
  const std::string reprinted = render_effective_config(again, OutputRenderer{});
  CHECK(reprinted.substr(reprinted.find('\n')) == printed.substr(printed.find('\n')));
  // The defaults print too, and read back as the defaults.
  const std::string defaults = render_effective_config(default_config(), OutputRenderer{});
  CHECK(defaults.find("\n[alarms]\nenable = []\ndisable = []\nstore = \"state\"\n") !=
        std::string::npos);
  CHECK(parse_config(defaults, "effective.toml").alarms.store == "state");
}

TEST_CASE("[alarms]: bad values are errors at the value's position") {
  CHECK(error_of("[alarms]\nstore = \"s3\"\n") ==
        "t.toml:2:9: unknown alarms.store \"s3\" (\"state\": the state directory, or "
        "\"dynamodb\": a table several agents share)");
  CHECK(error_of("[alarms]\nstore = \"\"\n").find("t.toml:2:9: unknown alarms.store \"\"") == 0);
  CHECK(error_of("[alarms]\nstore = \"dynamodb\"\n") ==
        "t.toml:2:9: alarms.store = \"dynamodb\" needs [alarms.dynamodb] table: the table that "
        "holds the alarms' state (docs/alarms.md, \"The DynamoDB store\")");
  CHECK(error_of("[alarms]\nenable = \"cis-4.9\"\n") ==
        "t.toml:2:10: alarms.enable must be an array of strings");
  CHECK(error_of("[alarms]\nenabled = [\"cis-4.9\"]\n") ==
        "t.toml:2:1: unknown key 'enabled' in [alarms]");
  CHECK(error_of("[alarms]\ndynamodb = \"t\"\n") == "t.toml:2:12: [alarms.dynamodb] must be a table");
  CHECK(error_of("[alarms.dynamodb]\ntable = \"a b\"\n") ==
        "t.toml:2:9: alarms.dynamodb.table must be a DynamoDB table name: 3 to 255 letters, "
        "digits, '_', '-' and '.'");
  CHECK(error_of("[alarms.dynamodb]\ntable = \"ab\"\n").find("t.toml:2:9: alarms.dynamodb.table") == 0);
  CHECK(error_of("[alarms.dynamodb]\nregion = \"Ireland\"\n") ==
        "t.toml:2:10: alarms.dynamodb.region must be an AWS region name like \"us-east-1\"");
  CHECK(error_of("[alarms.dynamodb]\nendpoint = \"dynamodb.local:8000\"\n")
            .find("t.toml:2:12: alarms.dynamodb.endpoint must be an endpoint URL") == 0);
  CHECK(error_of("[alarms.dynamodb]\nttl = 3\n") == "t.toml:2:1: unknown key 'ttl' in [alarms.dynamodb]");
  CHECK(error_of("alarms = 1\n") == "t.toml:1:10: [alarms] must be a table");
}

TEST_CASE("[alarms]: advisories for a DynamoDB store that is not used") {
  CHECK(config_advisories(default_config()).empty());
  // store = "dynamodb" with its table: used, nothing to say.
  CHECK(config_advisories(parse_config(kAllKeys, "t.toml")).empty());
  const auto unused = config_advisories(
      parse_config("[alarms.dynamodb]\ntable = \"trailwarden-alarms\"\n", "t.toml"));
  REQUIRE(unused.size() == 1);
  CHECK(unused[0].find("[alarms.dynamodb] is set but alarms.store is \"state\"") == 0);
}
