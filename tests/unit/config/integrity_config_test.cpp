// [integrity]: its keys and durations read, checked with the value's position, printed by the
// effective configuration and read back the same; the rule between its durations; whether
// `run` reads digests (reads_digests) and what check-config says about it (config_notes,
// config_advisories). agent/config/sections.cpp, agent/config/duration.h.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/duration.h"
#include "agent/config/sections.h"

using namespace trailwarden;
using namespace std::chrono_literals;

namespace {

std::string error_of(const std::string& toml) {
  try {
    parse_config(toml, "t.toml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* const kAllKeys = R"([integrity]
enabled = true
digest_grace = "2s"
backfill_delay = "1s"
retention = "90m"
max_entries = 5000
backfill_attempts = 2
backfill_retry_after = "500ms"
backfill_max_pending = 10
)";

ConfigDuration duration_of(std::string_view text) {
  ConfigDuration d{-1};
  CHECK_MESSAGE(parse_duration(text, d), std::string(text));
  return d;
}

bool is_duration(std::string_view text) {
  ConfigDuration d{-7};
  const bool ok = parse_duration(text, d);
  if (!ok) CHECK(d.count() == -7);  // untouched when refused
  return ok;
}

}  // namespace

TEST_CASE("durations: units, bare seconds, the shortest spelling read back the same") {
  CHECK(duration_of("0") == 0ms);
  CHECK(duration_of("45") == 45s);
  CHECK(duration_of("500ms") == 500ms);
  CHECK(duration_of("2s") == 2s);
  CHECK(duration_of("15m") == 15min);
  CHECK(duration_of("1h") == 1h);
  CHECK(duration_of("2d") == 48h);
  CHECK(duration_of("90m") == 90min);
  for (const char* bad : {"", "h", "-1s", "+1s", "1.5h", "1h30m", "1 h", " 1h", "1H", "1w", "1hh",
                          "0x10", "99999999999999999999", "36501d"})
    CHECK_MESSAGE(!is_duration(bad), bad);
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(90s) == "90s");
  CHECK(format_duration(15min) == "15m");
  CHECK(format_duration(90min) == "90m");
  CHECK(format_duration(1h) == "1h");
  CHECK(format_duration(24h) == "1d");
  for (ConfigDuration d : {ConfigDuration{1}, ConfigDuration{999}, ConfigDuration{61'000},
                           ConfigDuration{3'600'000 * 25}})
    CHECK(duration_of(format_duration(d)) == d);
}

TEST_CASE("[integrity]: defaults, in the built-in configuration and without the section") {
  for (const Config& c : {default_config(), parse_config("", "empty.toml")}) {
    const IntegrityConfig& i = c.integrity;
    CHECK_FALSE(i.enabled);
    CHECK(i.digest_grace == 1h);
    CHECK(i.backfill_delay == 15min);
    CHECK(i.retention == 6h);
    CHECK(i.max_entries == 1'000'000);
    CHECK(i.backfill_attempts == 3);
    CHECK(i.backfill_retry_after == 5min);
    CHECK(i.backfill_max_pending == 100'000);
    CHECK_FALSE(reads_digests(c));
    CHECK(config_notes(c).empty());
  }
}

TEST_CASE("[integrity]: every key read, printed and read back the same") {
  const Config c = parse_config(kAllKeys, "t.toml");
  const IntegrityConfig& i = c.integrity;
  CHECK(i.enabled);
  CHECK(i.digest_grace == 2s);
  CHECK(i.backfill_delay == 1s);
  CHECK(i.retention == 90min);
  CHECK(i.max_entries == 5000);
  CHECK(i.backfill_attempts == 2);
  CHECK(i.backfill_retry_after == 500ms);
  CHECK(i.backfill_max_pending == 10);
  const std::string printed = render_effective_config(c, OutputRenderer{});
  const char* const section =
      "\n[integrity]\nenabled = true\ndigest_grace = \"2s\"\nbackfill_delay = \"1s\"\n"
      "retention = \"90m\"\nmax_entries = 5000\nbackfill_attempts = 2\n"
      "backfill_retry_after = \"500ms\"\nbackfill_max_pending = 10\n";
  CHECK_MESSAGE(printed.find(section) != std::string::npos, printed);
  const Config again = parse_config(printed, "effective.toml");
  CHECK(again.integrity.enabled);
  CHECK(again.integrity.digest_grace == i.digest_grace);
  CHECK(again.integrity.backfill_delay == i.backfill_delay);
  CHECK(again.integrity.retention == i.retention);
  CHECK(again.integrity.max_entries == i.max_entries);
  CHECK(again.integrity.backfill_attempts == i.backfill_attempts);
  CHECK(again.integrity.backfill_retry_after == i.backfill_retry_after);
  CHECK(again.integrity.backfill_max_pending == i.backfill_max_pending);
  const std::string reprinted = render_effective_config(again, OutputRenderer{});
  CHECK(reprinted.substr(reprinted.find('\n')) == printed.substr(printed.find('\n')));
  // The defaults print too, in their shortest spelling.
  const std::string defaults = render_effective_config(default_config(), OutputRenderer{});
  CHECK_MESSAGE(defaults.find("\n[integrity]\nenabled = false\ndigest_grace = \"1h\"\n"
                              "backfill_delay = \"15m\"\nretention = \"6h\"\n"
                              "max_entries = 1000000\nbackfill_attempts = 3\n"
                              "backfill_retry_after = \"5m\"\nbackfill_max_pending = 100000\n") !=
                    std::string::npos,
                defaults);
  // An integer is seconds.
  CHECK(parse_config("[integrity]\ndigest_grace = 30\n", "t.toml").integrity.digest_grace == 30s);
}

TEST_CASE("[integrity]: bad values are errors at the value's position") {
  const std::string how =
      " must be a duration: a whole number and a unit (\"500ms\", \"30s\", \"15m\", \"1h\", "
      "\"1d\") or an integer of seconds";
  CHECK(error_of("[integrity]\ndigest_grace = \"1 hour\"\n") ==
        "t.toml:2:16: integrity.digest_grace" + how);
  CHECK(error_of("[integrity]\ndigest_grace = -5\n") == "t.toml:2:16: integrity.digest_grace" + how);
  CHECK(error_of("[integrity]\nbackfill_delay = 1.5\n") ==
        "t.toml:2:18: integrity.backfill_delay" + how);
  CHECK(error_of("[integrity]\nretention = \"-6h\"\n") == "t.toml:2:13: integrity.retention" + how);
  CHECK(error_of("[integrity]\nenabled = \"yes\"\n") ==
        "t.toml:2:11: integrity.enabled must be true or false");
  CHECK(error_of("[integrity]\nmax_entries = 0\n") ==
        "t.toml:2:15: integrity.max_entries must be at least 1");
  CHECK(error_of("[integrity]\nbackfill_attempts = 0\n") ==
        "t.toml:2:21: integrity.backfill_attempts must be at least 1");
  CHECK(error_of("[integrity]\nbackfill_attempts = 101\n") ==
        "t.toml:2:21: integrity.backfill_attempts must be 1 to 100");
  CHECK(error_of("[integrity]\nbackfill_max_pending = 0\n") ==
        "t.toml:2:24: integrity.backfill_max_pending must be at least 1");
  CHECK(error_of("[integrity]\nbackfill_retry_after = \"0s\"\n")
            .find("t.toml:2:24: integrity.backfill_retry_after must be more than 0") == 0);
  CHECK(error_of("[integrity]\ngrace = \"1h\"\n") == "t.toml:2:1: unknown key 'grace' in [integrity]");
  CHECK(error_of("integrity = true\n") == "t.toml:1:13: [integrity] must be a table");
}

TEST_CASE("[integrity]: retention must outlast digest_grace + backfill_delay + 1h") {
  // At the rule's edge: equal is refused, one millisecond more is accepted.
  CHECK(error_of("[integrity]\nretention = \"3603000ms\"\ndigest_grace = \"2s\"\n"
                 "backfill_delay = \"1s\"\n") ==
        "t.toml:2:13: integrity.retention (3603s) must be more than digest_grace + "
        "backfill_delay + 1h (2s + 1s + 1h = 3603s): state is kept at least until a "
        "digest's log files are backfilled and its chain's next digest is late");
  CHECK(parse_config("[integrity]\nretention = \"3603001ms\"\ndigest_grace = \"2s\"\n"
                     "backfill_delay = \"1s\"\n",
                     "t.toml")
            .integrity.retention == 3'603'001ms);
  // The defaults of the others count: a retention of 1h is never enough.
  CHECK(error_of("[integrity]\nretention = \"1h\"\n")
            .find("t.toml:2:13: integrity.retention (1h) must be more than digest_grace + "
                  "backfill_delay + 1h (1h + 15m + 1h = 135m)") == 0);
  // A grace that outgrows the default retention is blamed where it is written.
  CHECK(error_of("[integrity]\ndigest_grace = \"5h\"\n")
            .find("t.toml:2:16: integrity.retention (6h) must be more than") == 0);
}

TEST_CASE("[integrity]: digests are read when it is enabled, and check-config says so") {
  const Config on = parse_config("[integrity]\nenabled = true\n", "t.toml");
  CHECK(reads_digests(on));
  const auto notes = config_notes(on);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] ==
        "source.sqs.include_digest is false, but [integrity] is enabled: digest files named by "
        "notifications are read anyway (the integrity checks need them)");
  CHECK(config_advisories(on).empty());
  // include_digest = true without [integrity]: read, nothing to note.
  const Config digests = parse_config("[source.sqs]\ninclude_digest = true\n", "t.toml");
  CHECK(reads_digests(digests));
  CHECK(config_notes(digests).empty());
  const Config both =
      parse_config("[source.sqs]\ninclude_digest = true\n[integrity]\nenabled = true\n", "t.toml");
  CHECK(reads_digests(both));
  CHECK(config_notes(both).empty());
}

TEST_CASE("[integrity]: key_prefixes that keep digests out are a warning") {
  CHECK(key_prefixes_admit_digests({}));
  for (const char* admits :
       {"AWSLogs/", "AWSLogs/111122223333/", "AWSLogs/111122223333/CloudTrail",
        "AWSLogs/111122223333/CloudTrail-Digest/", "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/",
        "AWSLogs/o-abc123/111122223333/CloudTrail-Dig", "org/AWSLogs/o-abc123/", "org/", "AWS",
        "CloudTrailLogs/AWSLogs/111122223333/"})
    CHECK_MESSAGE(key_prefixes_admit_digests({admits}), admits);
  for (const char* refuses :
       {"AWSLogs/111122223333/CloudTrail/", "AWSLogs/111122223333/CloudTrail/us-east-1/",
        "AWSLogs/111122223333/CloudTrail-Insight/", "x/AWSLogs/o-1/111122223333/CloudTrail/",
        "AWSLogs/111122223333/CloudTrail-DigestX"})
    CHECK_MESSAGE(!key_prefixes_admit_digests({refuses}), refuses);
  // One prefix that admits them is enough.
  CHECK(key_prefixes_admit_digests(
      {"AWSLogs/111122223333/CloudTrail/", "AWSLogs/111122223333/CloudTrail-Digest/"}));

  const auto advice = config_advisories(parse_config(
      "[source.sqs]\nkey_prefixes = [\"AWSLogs/111122223333/CloudTrail/\"]\n"
      "[integrity]\nenabled = true\n",
      "t.toml"));
  REQUIRE(advice.size() == 1);
  CHECK(advice[0].find("[integrity] enabled = true, but source.sqs.key_prefixes let no "
                       "CloudTrail-Digest/ key through") == 0);
  // Off: the same prefixes are nobody's business.
  CHECK(config_advisories(parse_config(
            "[source.sqs]\nkey_prefixes = [\"AWSLogs/111122223333/CloudTrail/\"]\n", "t.toml"))
            .empty());
  // With the Kafka source there are no S3 notifications to check.
  const auto kafka = config_advisories(parse_config(
      "[source.kafka]\nbrokers = \"k:9092\"\ntopics = \"ct\"\ngroup_id = \"g\"\n"
      "[integrity]\nenabled = true\n",
      "t.toml"));
  REQUIRE(kafka.size() == 1);
  CHECK(kafka[0].find("[integrity] enabled = true checks the digest files that SQS") == 0);
}

TEST_CASE("[integrity] store: state or dynamodb, which needs the table of [alarms.dynamodb]") {
  CHECK(parse_config("", "t.toml").integrity.store == "state");
  CHECK(error_of("[integrity]\nstore = \"redis\"\n").find(
            "t.toml:2:9: unknown integrity.store \"redis\"") == 0);
  CHECK(error_of("[integrity]\nstore = \"dynamodb\"\n") ==
        "t.toml:2:9: integrity.store = \"dynamodb\" needs [alarms.dynamodb] table: the table the "
        "agents on one queue share (docs/integrity.md, \"Several agents on one queue\")");
  const Config c = parse_config(
      "[alarms.dynamodb]\ntable = \"tw-ledger\"\n[integrity]\nenabled = true\nstore = \"dynamodb\"\n",
      "t.toml");
  CHECK(c.integrity.store == "dynamodb");
  CHECK(c.alarms.dynamodb.table == "tw-ledger");
}
