// load_rules (agent/cli/cli_util.h): the configuration's [alarms] selectors and the command
// line's --enable-alarm / --disable-alarm, applied after the rule selectors, as every command
// loads its rules.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "agent/cli/cli_util.h"

using namespace trailwarden;

namespace {

const rules::Rule& find(const std::vector<rules::Rule>& rules, const std::string& id) {
  auto it = std::find_if(rules.begin(), rules.end(), [&](const rules::Rule& r) { return r.id == id; });
  REQUIRE(it != rules.end());
  return *it;
}

std::string error_of(const Config& c, const std::vector<std::string>& files = {}) {
  try {
    std::vector<std::string> warnings;
    cli::load_rules(c, files, {}, {}, {}, {}, &warnings);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

// A rule file in a fresh directory, removed at the end of the test.
struct TempRuleFile {
  std::filesystem::path dir;
  std::string path;
  explicit TempRuleFile(const std::string& content) {
    dir = std::filesystem::temp_directory_path() /
          ("tw-load-rules-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    path = (dir / "rules.toml").string();
    std::ofstream(path) << content;
  }
  ~TempRuleFile() { std::filesystem::remove_all(dir); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

}  // namespace

TEST_CASE("load_rules: pack alarms are off until [alarms] enable names them") {
  std::vector<std::string> warnings;
  const auto plain = cli::load_rules(default_config(), {}, {}, {}, {}, {}, &warnings);
  for (const auto& r : plain) CHECK_FALSE(r.counts_for_alarm());
  CHECK(warnings.empty());

  const Config c = parse_config("[alarms]\nenable = [\"cis-4.9\"]\n", "t.toml");
  const auto on = cli::load_rules(c, {}, {}, {}, {}, {}, &warnings);
  CHECK(find(on, "cis-4.9").counts_for_alarm());
  CHECK(find(on, "cis-4.9").alerts_per_record());  // the pack says alert = "both"
  CHECK(find(on, "cis-4.9").alerts_per_transition());
  CHECK(warnings.empty());
}

TEST_CASE("load_rules: [alarms] selectors come after the rule selectors, then the command line's") {
  const Config c = parse_config(
      "[rules]\nenable = [\"cis-4.1*\"]\n[alarms]\nenable = [\"cis-4.1*\"]\n"
      "disable = [\"cis-4.1-v1.2\"]\n",
      "t.toml");
  std::vector<std::string> warnings;
  // --disable cis-4.10 --enable-alarm cis-4.10 --disable-alarm cis-4.11
  auto rules = cli::load_rules(c, {}, {}, {"cis-4.10"}, {"cis-4.10"}, {"cis-4.11"}, &warnings);
  CHECK(find(rules, "cis-4.1").counts_for_alarm());
  CHECK_FALSE(find(rules, "cis-4.1-v1.2").alarm_enabled);
  CHECK(find(rules, "cis-4.10").alarm_enabled);      // the rule is disabled on the command line:
  CHECK_FALSE(find(rules, "cis-4.10").counts_for_alarm());  // its alarm cannot run
  CHECK_FALSE(find(rules, "cis-4.11").alarm_enabled);
  CHECK(find(rules, "cis-4.12").counts_for_alarm());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "the alarm of rule 'cis-4.10' is switched on, but the rule is disabled: the alarm does "
        "not run (enable the rule too: [rules] enable or --enable)");
  // --enable-alarm on the command line adds to [alarms] enable.
  rules = cli::load_rules(default_config(), {}, {}, {}, {"cis-4.9"}, {}, &warnings);
  CHECK(find(rules, "cis-4.9").counts_for_alarm());
}

TEST_CASE("load_rules: an alarm selector matching no rule with an alarm is an error naming it") {
  CHECK(error_of(parse_config("[alarms]\nenable = [\"cis-4.99\"]\n", "t.toml")) ==
        "alarm selector 'cis-4.99' matches no rule with an alarm (see 'trailwarden rules list', "
        "column ALARM)");
  CHECK(error_of(parse_config("[alarms]\ndisable = [\"cis4.9\"]\n", "t.toml"))
            .find("alarm selector 'cis4.9' matches no rule") == 0);
  TempRuleFile plain("[[rules]]\nid = \"mine\"\ntitle = \"t\"\npattern = \"StopLogging\"\n");
  CHECK(error_of(parse_config("[alarms]\nenable = [\"mine\"]\n", "t.toml"), {plain.path})
            .find("alarm selector 'mine' matches no rule with an alarm") == 0);
}

TEST_CASE("load_rules: a rule file's alarm runs by default and may not reuse a running alarm's name") {
  TempRuleFile file(
      "[[rules]]\nid = \"mine\"\ntitle = \"t\"\n"
      "pattern = '{ ($.eventSource = config.amazonaws.com) && ($.eventName = StopConfigurationRecorder) }'\n"
      "[rules.alarm]\nname = \"aws_config_changes_alarm\"\nstatistic = \"Sum\"\nperiod = 300\n"
      "evaluation_periods = 1\nthreshold = 1\ncomparison_operator = \"GreaterThanOrEqualToThreshold\"\n");
  std::vector<std::string> warnings;
  const auto rules = cli::load_rules(default_config(), {file.path}, {}, {}, {}, {}, &warnings);
  CHECK(find(rules, "mine").counts_for_alarm());
  CHECK_FALSE(find(rules, "mine").alerts_per_record());  // a rule file's default: alert = "alarm"
  CHECK(error_of(parse_config("[alarms]\nenable = [\"cis-4.9\"]\n", "t.toml"), {file.path}) ==
        file.path + ":1:1: rule 'mine': alarm name 'aws_config_changes_alarm' is already the "
                    "alarm of rule 'cis-4.9' (" + find(rules, "cis-4.9").origin +
            "); an alarm's name identifies its state and notifications, so two running alarms "
            "need two names");
}
