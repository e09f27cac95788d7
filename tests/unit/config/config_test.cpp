#include "agent/config/config.h"
#include "outputs/factory.h"
#include "outputs/output_tables.h"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace trailwarden;

namespace {
std::string error_of(const std::string& toml) {
  try {
    parse_outputs(parse_config(toml, "t.toml"));  // the whole configuration, as commands load it
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the built-in default configuration") {
  Config c = default_config();
  CHECK(c.log_level == "info");
  CHECK(c.rules.packs == std::vector<std::string>{"cis-aws-foundations"});
  CHECK(c.rules.enable == std::vector<std::string>{"cis-4.9"});
  CHECK(c.include_raw_data);
  CHECK(c.replay_workers == 0);  // one per core
  REQUIRE(c.outputs.size() == 1);
  CHECK(parse_output_settings(c.outputs[0]).type == "file");
  CHECK(parse_output_settings(c.outputs[0]).format == AlertFormat::kOcsf);
  CHECK(c.outputs[0].table->get("path")->value<std::string>() == "-");
  CHECK(c.limits.max_depth == 64);
}

TEST_CASE("an empty file means the defaults") {
  Config c = parse_config("", "empty");
  CHECK(c.rules.enable == std::vector<std::string>{"cis-4.9"});
  CHECK(c.limits.max_decompressed_bytes == size_t{1} << 30);
}

TEST_CASE("values are read") {
  Config c = parse_config(R"(
[limits]
max_decompressed_bytes = 2048
[rules]
enable = ["cis-*"]
disable = ["cis-4.1"]
[alerts]
include_raw_data = false
[replay]
workers = 2
[[outputs]]
type = "file"
path = "/tmp/x.ndjson"
)",
                          "t");
  CHECK(c.limits.max_decompressed_bytes == 2048);
  CHECK(c.rules.enable == std::vector<std::string>{"cis-*"});
  CHECK(c.rules.disable == std::vector<std::string>{"cis-4.1"});
  CHECK_FALSE(c.include_raw_data);
  CHECK(c.replay_workers == 2);
  REQUIRE(c.outputs.size() == 1);
  CHECK(parse_output_settings(c.outputs[0]).name == "file-0");
}

TEST_CASE("unknown keys and wrong types are errors with file:line:column") {
  CHECK(error_of("[general]\nlog_levl = \"info\"\n") == "t.toml:2:1: unknown key 'log_levl' in [general]");
  CHECK(error_of("[limits]\nmax_depth = \"deep\"\n").find("t.toml:2:") == 0);
  CHECK(error_of("[limits]\nmax_depth = \"deep\"\n").find("must be an integer") != std::string::npos);
  CHECK(error_of("[limits]\nmax_depth = 1\n").find("at least") != std::string::npos);
  CHECK(error_of("[nosuch]\na = 1\n").find("unknown key 'nosuch'") != std::string::npos);
  CHECK(error_of("[rules]\nenable = \"cis-4.9\"\n").find("array of strings") != std::string::npos);
  CHECK(error_of("[general]\nlog_level = \"loud\"\n").find("unknown log level") != std::string::npos);
  CHECK(error_of("[[outputs]]\ntype = \"carrier-pigeon\"\n").find("unknown output type") != std::string::npos);
  CHECK(error_of("[[outputs]]\ntype = \"file\"\nformat = \"xml\"\n").find("t.toml:3:") == 0);
  CHECK(error_of("[[outputs]]\ntype = \"file\"\nmin_severity = \"urgent\"\n").find("unknown severity") != std::string::npos);
  CHECK(error_of("[[outputs]]\nname = \"x\"\n").find("needs a type") != std::string::npos);
  CHECK(error_of("[general\n").find("t.toml:1:") == 0);
}

TEST_CASE("type-specific output keys are reported with their position") {
  Config c = parse_config("[general]\nlog_level = \"info\"\n[[outputs]]\ntype = \"file\"\npath = 5\n", "t.toml");
  REQUIRE(c.outputs.size() == 1);
  try {
    make_output(parse_output_settings(c.outputs[0]), OutputEnv{});
    FAIL("expected an error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("t.toml:5:8") == 0);
  }
}

TEST_CASE("source.sqs inline route: off by default, opt-in needs accounts") {
  CHECK_FALSE(default_config().sqs.inline_events);
  Config c = parse_config(R"(
[source.sqs]
inline_events = true
inline_accounts = ["111122223333"]
inline_regions = ["us-east-1", "eu-west-1"]
)",
                          "t");
  CHECK(c.sqs.inline_events);
  CHECK(c.sqs.inline_accounts == std::vector<std::string>{"111122223333"});
  CHECK(c.sqs.inline_regions == std::vector<std::string>{"us-east-1", "eu-west-1"});
  CHECK_FALSE(c.sqs.inline_events_via_sns);
  CHECK(parse_config("[source.sqs]\ninline_events_via_sns = true\n", "t").sqs.inline_events_via_sns);
  const std::string no_accounts = error_of("[source.sqs]\n\ninline_events = true\n");
  CHECK(no_accounts.find("t.toml:3:") == 0);
  CHECK(no_accounts.find("needs source.sqs.inline_accounts") != std::string::npos);
  CHECK(error_of("[source.sqs]\ninline_accounts = [\"111122223333\", \"12345\"]\n")
            .find("t.toml:2:") == 0);
  CHECK(error_of("[source.sqs]\ninline_accounts = [\"12345\"]\n").find("12-digit account id") !=
        std::string::npos);
  CHECK(error_of("[source.sqs]\ninline_regions = [\"us-east-1.evil.com\"]\n")
            .find("not an AWS region name") != std::string::npos);
}

TEST_CASE("aws.region must be a region name") {
  CHECK(parse_config("[aws]\nregion = \"af-south-1\"\n", "t").aws.region == "af-south-1");
  CHECK(parse_config("[aws]\nregion = \"\"\n", "t").aws.region.empty());
  for (const char* bad : {"us-east-1.evil.com", "localhost", "US-EAST-1", "us-east-1 "}) {
    CAPTURE(bad);
    const std::string e = error_of(std::string("[aws]\nregion = \"") + bad + "\"\n");
    CHECK(e.find("t.toml:2:") == 0);
    CHECK(e.find("not an AWS region name") != std::string::npos);
  }
}

TEST_CASE("aws endpoint switches: FIPS, dual-stack, ignore configured endpoint URLs") {
  Config d = parse_config("", "t");
  CHECK_FALSE(d.aws.use_fips_endpoint);
  CHECK_FALSE(d.aws.use_dualstack_endpoint);
  CHECK_FALSE(d.aws.ignore_configured_endpoint_urls);
  Config c = parse_config(
      "[aws]\nuse_fips_endpoint = true\nuse_dualstack_endpoint = true\n"
      "ignore_configured_endpoint_urls = true\n",
      "t");
  CHECK(c.aws.use_fips_endpoint);
  CHECK(c.aws.use_dualstack_endpoint);
  CHECK(c.aws.ignore_configured_endpoint_urls);
  CHECK(error_of("[aws]\nuse_fips_endpoint = \"yes\"\n").find("t.toml:2:") == 0);
  // The shipped file documents them at their defaults.
  Config shipped = default_config();
  CHECK_FALSE(shipped.aws.use_fips_endpoint);
  CHECK_FALSE(shipped.aws.ignore_configured_endpoint_urls);
}

TEST_CASE("advisories: inline accounts or regions named while the inline route is off") {
  CHECK(config_advisories(default_config()).empty());
  for (const char* key : {"inline_accounts = [\"111122223333\"]", "inline_regions = [\"us-east-1\"]",
                          "inline_events_via_sns = true"}) {
    CAPTURE(key);
    const auto advice = config_advisories(parse_config(std::string("[source.sqs]\n") + key, "t"));
    REQUIRE(advice.size() == 1);
    CHECK(advice[0].find("source.sqs.inline_events is false") != std::string::npos);
    CHECK(advice[0].find("inline_events = true") != std::string::npos);
  }
  CHECK(config_advisories(parse_config(R"([source.sqs]
inline_events = true
inline_accounts = ["111122223333"]
)",
                                       "t"))
            .empty());
}

TEST_CASE("source.sqs names are validated: buckets, expected bucket owner") {
  CHECK(error_of("[source.sqs]\nallowed_buckets = [\"ok-bucket\", \"evil.com/x\"]\n")
            .find("t.toml:2:") == 0);
  CHECK(error_of("[source.sqs]\nallowed_buckets = [\"a..b\"]\n")
            .find("not a valid S3 bucket name") != std::string::npos);
  CHECK(error_of("[source.sqs]\nexpected_bucket_owner = \"me\"\n").find("12-digit") !=
        std::string::npos);
  CHECK(error_of("[source.sqs]\nallowed_buckets = [\"my.trail.bucket\", \"Legacy_Bucket\"]\n")
            .empty());
}
