// Secrets in configuration errors and files: no error message quotes a secret's value, and
// check-config finds every file holding a secret.
#include "agent/config/secret_files.h"

#include <doctest/doctest.h>

#include <stdexcept>

#include "agent/config/config.h"
#include "outputs/output_tables.h"

using namespace trailwarden;

namespace {

std::string config_error(const std::string& toml, const EnvLookup& env = nullptr) {
  try {
    parse_outputs(parse_config(toml, "t.toml", env));  // the whole configuration
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("configuration errors name the key and position, never a secret's value") {
  const std::string hec = "[[outputs]]\ntype = \"splunk_hec\"\nurl = \"https://x:8088\"\n";
  struct Case {
    std::string toml;
    std::string secret;  // must not appear
    std::string where;   // must appear
  };
  const Case cases[] = {
      {hec + "token = \"S3cr3t${Tok\"\n", "S3cr3t", "t.toml:4:9: outputs[0].token: unterminated"},
      {hec + "token = \"S3cr3t${not a name}\"\n", "not a name", "t.toml:4:9: outputs[0].token: "},
      {hec + "token = \"S3cr3t\\qTok\"\n", "\\q", "t.toml:4:17: "},
      {hec + "token = trueS3cr3t\n", "'S'", "t.toml:4:13: "},
      {hec + "token = \"\"\"S3cr3t\nline two\\q\n", "\\q", "in the value of 'token'"},
      {"[[outputs]]\ntype = \"kafka\"\n[outputs.properties]\n\"sasl.password\" = \"S3cr3t\\x\"\n",
       "\\x", "in the value of 'sasl.password'"},
      {hec + "token = \"abcd-efgh\"\nformat = \"${HEC_TOKEN}\"\n", "S3cr3tFromEnv", "t.toml:5:10: "},
  };
  const EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HEC_TOKEN") return "S3cr3tFromEnv";
    return std::nullopt;
  };
  for (const Case& c : cases) {
    CAPTURE(c.toml);
    const std::string e = config_error(c.toml, env);
    REQUIRE(!e.empty());
    CHECK(e.find(c.secret) == std::string::npos);
    CHECK(e.find(c.where) != std::string::npos);
  }
  // Outside a secret's value the parser's message stays whole.
  CHECK(config_error("[aws]\nregion = \"x\\q\"\n").find("'\\q'") != std::string::npos);
}

TEST_CASE("files holding secrets: inline values, token and key files, @file: values") {
  const auto files = files_holding_secrets(R"(
[aws]
region = "us-east-1"
[[outputs]]
type = "splunk_hec"
token = "${HEC_TOKEN}"
[[outputs]]
type = "splunk_hec"
token_file = "/etc/trailwarden/hec.token"
[[outputs]]
type = "syslog"
key_file = "/etc/trailwarden/client.key"
[[outputs]]
type = "kafka"
[outputs.properties]
"sasl.password" = "@file:kafka.pass"
"ssl.key.location" = "/etc/trailwarden/kafka.key"
"sasl.username" = "agent"
[[outputs]]
type = "splunk_hec"
token = "0000-written-out"
)",
                                           "/etc/trailwarden/trailwarden.toml");
  REQUIRE(files.size() == 5);
  CHECK(files[0].path == "/etc/trailwarden/hec.token");
  CHECK(files[0].why == "outputs[1].token_file");
  CHECK(files[1].path == "/etc/trailwarden/client.key");
  CHECK(files[2].path == "/etc/trailwarden/kafka.pass");  // relative to the configuration
  CHECK(files[2].why == "outputs[3].properties.sasl.password");
  CHECK(files[3].path == "/etc/trailwarden/kafka.key");
  CHECK(files[4].path == "/etc/trailwarden/trailwarden.toml");
  CHECK(files[4].why == "inline secret at outputs[4].token");
  CHECK(files_holding_secrets("[[outputs]]\ntoken = \"${A}\"\n", "c.toml").empty());
}

TEST_CASE("secret file warnings: others always, the group unless it is the agent's") {
  const SecretFile f{"/etc/tw/hec.token", "outputs[0].token_file"};
  CHECK(secret_file_warning(f, 0100600, false, "users").empty());
  CHECK(secret_file_warning(f, 0100640, true, "trailwarden").empty());
  CHECK(secret_file_warning(f, 0100640, false, "users") ==
        "/etc/tw/hec.token holds a secret (outputs[0].token_file) and is readable by group users "
        "(mode 0640): chmod g-rwx /etc/tw/hec.token");
  CHECK(secret_file_warning(f, 0100644, true, "trailwarden") ==
        "/etc/tw/hec.token holds a secret (outputs[0].token_file) and is readable by every user "
        "(mode 0644): chmod o-rwx /etc/tw/hec.token");
}
