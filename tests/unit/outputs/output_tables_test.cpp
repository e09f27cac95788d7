// The [[outputs]] tables of a loaded configuration: config/ keeps them as written (it knows no
// output's keys); each output parses its own table from there, with the positions of the
// configuration file in its errors; the effective configuration prints what the outputs
// resolved.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "agent/config/config.h"
#include "outputs/factory.h"
#include "outputs/file/file_config.h"
#include "outputs/kafka/kafka_config.h"
#include "outputs/output_tables.h"
#include "outputs/splunk_hec/splunk_hec_config.h"
#include "outputs/syslog/syslog_config.h"

using namespace trailwarden;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Config load(const std::string& toml, const EnvLookup& env = env_of({})) {
  return parse_config(toml, "t.toml", env);
}

// What `f` throws, or "" when it does not.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config keeps an [[outputs]] table as written; its common keys are the outputs' to check") {
  const std::string doc = "[[outputs]]\ntype = \"file\"\nformat = \"xml\"\n";
  Config c = load(doc);  // config/ knows no output key, so this is not its error
  REQUIRE(c.outputs.size() == 1);
  CHECK(c.outputs[0].index == 0);
  CHECK(c.outputs[0].origin == "t.toml:1:1");
  CHECK(c.outputs[0].table->get("format")->value<std::string>() == "xml");
  CHECK(error_of([&] { parse_outputs(c); }) ==
        "t.toml:3:10: unknown format 'xml' (ocsf, cloudtrail, ecs, cef)");
  CHECK(error_of([&] { parse_outputs(load("[[outputs]]\nname = \"x\"\n")); })
            .find("t.toml:1:1: [[outputs]] needs a type") == 0);
  // Still the configuration's own errors: [[outputs]] must be tables.
  CHECK(error_of([&] { load("outputs = 5\n"); }) ==
        "t.toml:1:11: 'outputs' must be written as [[outputs]] tables");
}

TEST_CASE("parse_outputs: every table in order, default names by position") {
  Config c = load(
      "[[outputs]]\ntype = \"file\"\n[[outputs]]\ntype = \"syslog\"\nname = \"siem\"\n"
      "[[outputs]]\ntype = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"alerts\"\n");
  const std::vector<OutputSettings> outputs = parse_outputs(c);
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[0].name == "file-0");
  CHECK(outputs[1].name == "siem");
  CHECK(outputs[2].name == "kafka-2");
  CHECK(outputs[2].origin == "t.toml:6:1");
  CHECK(outputs[2].table == c.outputs[2].table);  // shared with the document, not copied
}

TEST_CASE("parse_outputs does not quote a secret of the configuration") {
  Config c = load("[[outputs]]\ntype = \"file\"\nformat = \"${FORMAT_TOKEN}\"\n",
                  env_of({{"FORMAT_TOKEN", "s3cr3t-value"}}));
  const std::string e = error_of([&] { parse_outputs(c); });
  CHECK(e.find("t.toml:3:10: unknown format") == 0);
  CHECK(e.find("s3cr3t-value") == std::string::npos);
  CHECK(e.find("[redacted]") != std::string::npos);
}

TEST_CASE("a Kafka table parsed from a loaded configuration: errors at their position") {
  const std::string kafka =
      "[general]\nlog_level = \"info\"\n[[outputs]]\ntype = \"kafka\"\n"
      "brokers = \"127.0.0.1:9092\"\ntopic = \"alerts\"\n";
  const auto kafka_error = [](const std::string& doc) {
    return error_of([&] {
      parse_kafka_config(parse_output_settings(load(doc).outputs.at(0)), "us-east-1",
                         process_secret_sources());
    });
  };
  CHECK(kafka_error(kafka) == "");
  CHECK(kafka_error(kafka + "acks_please = 1\n") == "t.toml:7:1: unknown key 'acks_please' in [outputs]");
  // A value's own position (the table is shared with the document, not a copy without them).
  CHECK(kafka_error(kafka + "compression = \"brotli\"\n").find("t.toml:7:15: ") == 0);
  CHECK(kafka_error(kafka + "[outputs.properties]\n\"acks\" = \"1\"\n").find("t.toml:8:10: ") == 0);
  // The same through make_output, as check-config calls it.
  OutputEnv env;
  env.validate_only = true;
  CHECK(error_of([&] {
          make_output(parse_outputs(load(kafka + "acks_please = 1\n")).at(0), env);
        }).find("t.toml:7:1: unknown key 'acks_please'") == 0);
}

TEST_CASE("syslog and file tables parsed from a loaded configuration: errors at their position") {
  Config c = load("[[outputs]]\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\nfacilty = \"local0\"\n");
  CHECK(error_of([&] { parse_syslog_options(parse_outputs(c).at(0)); }) ==
        "t.toml:4:1: unknown key 'facilty' in [outputs]");
  OutputEnv env;
  env.validate_only = true;
  CHECK(error_of([&] {
          make_output(parse_outputs(load("[[outputs]]\ntype = \"file\"\npath = 5\n")).at(0), env);
        }).find("t.toml:3:8: ") == 0);
  CHECK(error_of([&] {
          parse_file_config(parse_outputs(load("[[outputs]]\ntype = \"file\"\npth = \"x\"\n")).at(0));
        }) == "t.toml:3:1: unknown key 'pth' in [outputs]");
  CHECK(parse_file_config(parse_outputs(load("[[outputs]]\ntype = \"file\"\n")).at(0)).path == "-");
  CHECK(parse_file_config(parse_outputs(load("[[outputs]]\ntype = \"file\"\npath = \"/tmp/a\"\n")).at(0))
            .path == "/tmp/a");
}

TEST_CASE("the effective configuration: config alone prints the tables as written, outputs resolve them") {
  Config c = load(
      "[[outputs]]\ntype = \"kafka\"\nbrokers = \"127.0.0.1:9092\"\ntopic = \"alerts\"\n"
      "[outputs.properties]\n\"sasl.password\" = \"inline-password\"\n");
  const std::string raw = render_effective_config(c, OutputRenderer{});
  const std::string raw_outputs = raw.substr(raw.find("[[outputs]]"));
  CHECK(raw_outputs.starts_with("[[outputs]]  # t.toml:1:1\n"));
  CHECK(raw_outputs.find("type = \"kafka\"\n") != std::string::npos);
  CHECK(raw_outputs.find("brokers = \"127.0.0.1:9092\"\n") != std::string::npos);
  CHECK(raw_outputs.find("name = ") == std::string::npos);  // nothing resolved
  CHECK(raw_outputs.find("buffer = ") == std::string::npos);
  CHECK(raw_outputs.find("[outputs.properties]\n\"sasl.password\" = \"<redacted>\"\n") !=
        std::string::npos);

  const std::string full = render_effective_config(c);
  CHECK(full.find("[[outputs]]  # t.toml:1:1\nname = \"kafka-0\"\ntype = \"kafka\"\nformat = \"ocsf\"\n") !=
        std::string::npos);
  CHECK(full.find("buffer = \"disk\"\n") != std::string::npos);
  CHECK(full.find("alerts = [\"record\", \"alarm\", \"integrity\"]\n") != std::string::npos);
  CHECK(full.find("retry_max_ms = 60000\nbrokers = \"127.0.0.1:9092\"\n") !=
        std::string::npos);  // the common keys once, then the output's own
  CHECK(full.find("type = ", full.find("retry_max_ms")) == std::string::npos);
  CHECK(full.find("[outputs.properties]\n\"sasl.password\" = \"<redacted>\"\n") != std::string::npos);
  CHECK(full.find("inline-password") == std::string::npos);
  // Both agree on everything before the outputs.
  CHECK(full.substr(0, full.find("[[outputs]]")) == raw.substr(0, raw.find("[[outputs]]")));
}

TEST_CASE("splunk_hec table parsed from a loaded configuration: its values, errors at their position") {
  const std::string hec =
      "[[outputs]]\ntype = \"splunk_hec\"\nname = \"siem\"\n"
      "url = \"https://splunk.example:8088/services/collector/event\"\ntoken = \"t0k3n\"\n";
  const SplunkHecConfig parsed =
      parse_splunk_hec_config(parse_outputs(load(hec + "index = \"aws\"\nack_poll_ms = 250\n")).at(0), {});
  CHECK(parsed.options.host == "splunk.example:8088");
  CHECK(parsed.options.event_path == "/services/collector/event");
  CHECK(parsed.options.token == "t0k3n");
  CHECK(parsed.options.index == "aws");
  CHECK(parsed.options.ack_poll == std::chrono::milliseconds(250));
  CHECK(parsed.ca_file.empty());
  auto hec_error = [&](const std::string& text) {
    return error_of([&] { parse_splunk_hec_config(parse_outputs(load(text)).at(0), {}); });
  };
  CHECK(hec_error(hec + "indx = \"aws\"\n") == "t.toml:6:1: unknown key 'indx' in [outputs]");
  CHECK(hec_error("[[outputs]]\ntype = \"splunk_hec\"\nname = \"siem\"\n"
                  "url = \"http://splunk.example:8088\"\ntoken = \"t0k3n\"\n")
            .find("t.toml:4:1: url: plain http would send the HEC token in clear text") == 0);
  CHECK(hec_error(hec + "token_env = \"X\"\n").find("t.toml:6:1: set exactly one of token") == 0);
  // The same through make_output, as check-config calls it.
  OutputEnv env;
  env.validate_only = true;
  CHECK(error_of([&] { make_output(parse_outputs(load(hec + "gzip = 1\n")).at(0), env); })
            .find("t.toml:6:") == 0);
}

TEST_CASE("alerts = [...] routes record alerts, alarm transitions or both to an output") {
  Config c = load(
      "[[outputs]]\ntype = \"file\"\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"alarm\"]\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"record\"]\n");
  const std::vector<OutputSettings> outputs = parse_outputs(c);
  REQUIRE(outputs.size() == 3);
  AlertRecord record, transition;
  record.severity_id = transition.severity_id = 3;
  transition.kind = AlertKind::kAlarm;
  CHECK(routed(outputs[0], record));
  CHECK(routed(outputs[0], transition));
  CHECK_FALSE(routed(outputs[1], record));
  CHECK(routed(outputs[1], transition));
  CHECK(routed(outputs[2], record));
  CHECK_FALSE(routed(outputs[2], transition));
  // With the other routing keys: every condition must hold.
  Config d = load("[[outputs]]\ntype = \"file\"\nalerts = [\"alarm\"]\nrules = [\"cis-4.9\"]\n");
  const OutputSettings only = parse_outputs(d).at(0);
  transition.rule_id = "cis-4.9";
  CHECK(routed(only, transition));
  transition.rule_id = "cis-4.3";
  CHECK_FALSE(routed(only, transition));
  // Errors at their position; an empty list would route nothing.
  CHECK(error_of([] { (void)parse_outputs(load("[[outputs]]\ntype = \"file\"\nalerts = [\"alarms\"]\n")); })
            .find("t.toml:3:10: unknown alert kind 'alarms'") != std::string::npos);
  CHECK(error_of([] { (void)parse_outputs(load("[[outputs]]\ntype = \"file\"\nalerts = []\n")); })
            .find("alerts is empty") != std::string::npos);
}

TEST_CASE("alerts = [...]: integrity findings by default, and only to outputs that list them") {
  Config c = load(
      "[[outputs]]\ntype = \"file\"\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"record\"]\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"record\", \"alarm\"]\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"integrity\"]\n"
      "[[outputs]]\ntype = \"file\"\nalerts = [\"integrity\"]\nrules = [\"integrity.log_*\"]\n");
  const std::vector<OutputSettings> outputs = parse_outputs(c);
  REQUIRE(outputs.size() == 5);
  AlertRecord record, finding;
  record.severity_id = 3;
  finding.severity_id = 5;
  finding.kind = AlertKind::kIntegrity;
  finding.rule_id = "integrity.log_file_modified";
  finding.tags = {"integrity", "cloudtrail"};
  CHECK(outputs[0].integrity_alerts);
  CHECK(routed(outputs[0], finding));
  CHECK_FALSE(routed(outputs[1], finding));
  CHECK(routed(outputs[1], record));
  CHECK_FALSE(routed(outputs[2], finding));
  CHECK(routed(outputs[3], finding));
  CHECK_FALSE(routed(outputs[3], record));
  CHECK(routed(outputs[4], finding));
  finding.rule_id = "integrity.digest_invalid";
  CHECK_FALSE(routed(outputs[4], finding));
  // A kind this build does not know goes nowhere.
  AlertRecord future = record;
  future.kind = static_cast<AlertKind>(7);
  CHECK_FALSE(routed(outputs[0], future));
  // The error names the kinds there are.
  CHECK(error_of([] { (void)parse_outputs(load("[[outputs]]\ntype = \"file\"\nalerts = [\"digest\"]\n")); })
            .find("unknown alert kind 'digest' in alerts (\"record\", \"alarm\", \"integrity\")") !=
        std::string::npos);
}
