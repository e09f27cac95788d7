// IntegrityStage with a shared ledger: two stages (two agents on one queue) over one in-memory
// SharedIntegrityLedger (tests/fakes/fake_shared_integrity_ledger.h), each with its own clock,
// S3 view and backfill queue, reading different parts of one trail.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>

#include "tests/fakes/fake_shared_integrity_ledger.h"
#include "tests/unit/integrity/integrity_stage_fixture.h"

using namespace trailwarden;
using namespace trailwarden::integrity;
using namespace trailwarden::integrity::test_stage;

namespace {

struct Agents {
  testing::FakeSharedIntegrityLedger shared;
  Fixture a, b;

  Agents() {
    a.shared = &shared;
    b.shared = &shared;
  }
  void start() {
    a.start();
    b.start();
  }
  // One hour of the trail, signed the same for both agents (the signature is deterministic).
  std::string hour(const char* end, const std::vector<std::string>& logs, bool start = false) {
    const std::string k = a.trail.hour(t(end), logs, start);
    CHECK(b.trail.hour(t(end), logs, start) == k);
    CHECK(a.trail.objects == b.trail.objects);
    return k;
  }
  void upload() {
    a.upload();
    b.upload();
  }
  void at(const char* iso) {
    a.at(iso);
    b.at(iso);
  }
};

}  // namespace

TEST_CASE("shared ledger: a log file read by one agent, listed by a digest another reads") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog, kLog + " "}, true);
  // Agent A reads both log files (one of them not as signed); agent B reads the digest.
  CHECK(g.a.read_log(g.a.trail.logs_of[d1][0], kLog).empty());
  CHECK(g.a.read_log(g.a.trail.logs_of[d1][1], kLog + "\n").empty());
  auto found = g.b.read_digest(d1);
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(found[0].key == g.a.trail.logs_of[d1][1]);
  CHECK(g.b.stage->counters().log_files_valid == 1);
  CHECK(g.b.stage->counters().shared_reads_used == 2);
  // Nothing is backfilled by either agent, and nothing more is found.
  g.at("2026-11-20T01:30:00Z");
  CHECK(g.a.tick().empty());
  CHECK(g.b.tick().empty());
  CHECK(g.a.backfill_next().empty());
  CHECK(g.b.backfill_next().empty());
}

TEST_CASE("shared ledger: a file read by another agent after the digest is compared, not backfilled") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  CHECK(g.b.read_digest(d1).empty());
  // A's notification comes late (before the backfill delay).
  g.at("2026-11-20T01:10:00Z");
  CHECK(g.a.read_log(g.a.trail.logs_of[d1][0], kLog).empty());
  g.at("2026-11-20T01:20:01Z");
  CHECK(g.b.tick().empty());
  CHECK(g.b.backfill_next().empty());
  CHECK(g.b.stage->counters().log_files_valid == 1);
  CHECK(g.shared.calls["claim_backfill"] == 0);
}

TEST_CASE("shared ledger: a file listed to two agents is backfilled by one") {
  Agents g;
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  g.upload();
  g.start();
  // The digest's unit was read by both (A died before its ack; SQS gave it to B).
  CHECK(g.a.read_digest(d1).empty());
  CHECK(g.b.read_digest(d1).empty());
  g.at("2026-11-20T01:20:01Z");
  CHECK(g.a.tick().empty());
  CHECK(g.b.tick().empty());
  std::vector<WorkUnit> ua = g.a.backfill_next(), ub = g.b.backfill_next();
  REQUIRE(ua.size() + ub.size() == 1);
  CHECK(g.b.stage->counters().backfill_claims_lost == 1);
  // A backfills it; B looks again when A's claim ends and finds A's read.
  CHECK(g.a.read_log(g.a.trail.logs_of[d1][0], kLog).empty());
  g.a.backfill->done(ua.at(0).token, true, "");
  g.at("2026-11-20T01:51:02Z");
  CHECK(g.a.tick().empty());
  CHECK(g.b.tick().empty());
  CHECK(g.b.backfill_next().empty());
  CHECK(g.a.stage->counters().log_files_valid == 1);
  CHECK(g.b.stage->counters().log_files_valid == 1);
  CHECK(g.a.backfill->counters().backfilled + g.b.backfill->counters().backfilled == 1);
}

TEST_CASE("shared ledger: an expired claim is taken over (the claiming agent died)") {
  Agents g;
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  g.upload();
  g.start();
  CHECK(g.a.read_digest(d1).empty());
  CHECK(g.b.read_digest(d1).empty());
  g.at("2026-11-20T01:20:01Z");
  CHECK(g.a.tick().empty());
  REQUIRE(g.a.backfill_next().size() == 1);
  g.a.stop();  // killed before it read the file
  CHECK(g.b.tick().empty());
  CHECK(g.b.backfill_next().empty());
  g.at("2026-11-20T01:51:02Z");  // A's lease (30 min) is over
  CHECK(g.b.tick().empty());
  CHECK(g.b.backfill_next().size() == 1);
}

TEST_CASE("shared ledger: the predecessor another agent read is linked without S3") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
  const std::string d2 = g.hour("2026-11-20T02:00:31Z", {});
  CHECK(g.a.read_digest(d1).empty());
  g.at("2026-11-20T02:05:00Z");
  CHECK(g.b.read_digest(d2).empty());
  CHECK(g.b.stage->counters().predecessors_read == 0);
  CHECK(g.b.store.gets.empty());
}

TEST_CASE("shared ledger: a link that does not match the predecessor another agent read") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
  const std::string d2 = g.hour("2026-11-20T02:00:31Z", {});
  CHECK(g.a.read_digest(d1).empty());
  // What A saw of d1 is not what d2 names.
  g.shared.digests.begin()->second.begin()->second.sha256 = std::string(64, 'a');
  g.at("2026-11-20T02:05:00Z");
  auto found = g.b.read_digest(d2);
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.digest_chain_broken"});
  CHECK(found[0].key == d1);
}

TEST_CASE("shared ledger: a gap between digests read by different agents, either order") {
  for (bool older_first : {true, false}) {
    CAPTURE(older_first);
    Agents g;
    g.start();
    const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
    const std::string d4 = g.hour("2026-11-20T04:00:31Z", {}, true);
    g.at("2026-11-20T04:05:00Z");
    std::vector<AlertRecord> found;
    if (older_first) {
      CHECK(g.a.read_digest(d1).empty());
      found = g.b.read_digest(d4);
    } else {
      CHECK(g.b.read_digest(d4).empty());
      found = g.a.read_digest(d1);
    }
    REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.digest_chain_restarted"});
    CHECK(found[0].key == d4);
  }
}

TEST_CASE("shared ledger: each chain is clocked by every agent and reported stopped by one") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
  const std::string d2 = g.hour("2026-11-20T02:00:31Z", {});
  const std::string d3 = g.hour("2026-11-20T03:00:31Z", {});
  CHECK(g.a.read_digest(d1).empty());
  // B reads the next digests: A's clock follows them through the shared heads.
  g.at("2026-11-20T02:05:00Z");
  CHECK(g.b.read_digest(d2).empty());
  g.at("2026-11-20T03:05:00Z");
  CHECK(g.b.read_digest(d3).empty());
  g.at("2026-11-20T03:31:00Z");  // d1's deadline (02:30:31) is past, d3's is not
  CHECK(g.a.tick().empty());
  CHECK(g.b.tick().empty());
  // d3's deadline passes: both agents see it, one reports.
  g.at("2026-11-20T04:32:00Z");
  auto fa = g.a.tick();
  auto fb = g.b.tick();
  REQUIRE(fa.size() + fb.size() == 1);
  const AlertRecord& r = fa.empty() ? fb[0] : fa[0];
  CHECK(r.rule_id == "integrity.digest_delivery_stopped");
  CHECK(r.key == d3);
  // Neither reports it again.
  g.at("2026-11-20T04:40:00Z");
  (fa.empty() ? g.b : g.a).stage->delivered({r});
  CHECK(g.a.tick().empty());
  CHECK(g.b.tick().empty());
  CHECK(g.a.stage->counters().findings + g.b.stage->counters().findings == 1);
}

TEST_CASE("shared ledger: an agent that joins later clocks the chains it never read") {
  Agents g;
  g.a.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
  CHECK(g.a.read_digest(d1).empty());
  g.a.stop();  // A is gone for good
  g.at("2026-11-20T02:31:00Z");  // past d1's deadline
  g.b.start();
  // B learns the chain now and gives it the grace, as after a restart (its digests may wait in
  // the queue); then reports it.
  CHECK(g.b.tick().empty());
  g.at("2026-11-20T03:01:01Z");
  auto found = g.b.tick();
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
  CHECK(found[0].key == d1);
}

TEST_CASE("shared ledger: the table not answering fails the unit; a tick tries again") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  g.shared.down = true;
  std::string error;
  g.a.read_log(g.a.trail.logs_of[d1][0], kLog, &error);
  CHECK(error.find("the shared integrity ledger: table t: add_read: no answer") != std::string::npos);
  g.b.read_digest(d1, &error);
  CHECK(error.find("add_digest: no answer") != std::string::npos);
  CHECK(g.a.stage->counters().shared_failures == 1);
  // It answers again: the units come again and pass.
  g.shared.down = false;
  CHECK(g.a.read_log(g.a.trail.logs_of[d1][0], kLog).empty());
  CHECK(g.b.read_digest(d1).empty());
  CHECK(g.b.stage->counters().log_files_valid == 1);
}

TEST_CASE("shared ledger: no chain is reported stopped while its digests' units fail on the table") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
  const std::string d2 = g.hour("2026-11-20T02:00:31Z", {});
  CHECK(g.b.read_digest(d1).empty());
  g.at("2026-11-20T02:05:00Z");
  g.shared.down = true;
  std::string error;
  g.b.read_digest(d2, &error);  // fails: comes again from SQS
  CHECK(!error.empty());
  g.at("2026-11-20T02:31:00Z");  // d1's deadline is past
  CHECK(g.b.tick().empty());
  g.shared.down = false;
  g.at("2026-11-20T02:33:00Z");  // the table answers; d2's unit has not come back yet
  CHECK(g.b.tick().empty());
  CHECK(g.b.read_digest(d2).empty());
  g.at("2026-11-20T03:10:00Z");
  CHECK(g.b.tick().empty());  // d2's deadline is 03:30:31
}

TEST_CASE("shared ledger: other failures of the table do not keep a stopped chain quiet") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  const std::string d2 = g.hour("2026-11-20T02:00:31Z", {kLog + " "});
  CHECK(g.b.read_digest(d1).empty());
  // Log files whose reads cannot be added (a throttled table, a flood of notifications).
  g.shared.failing = {"add_read"};
  g.at("2026-11-20T02:25:00Z");
  std::string error;
  g.a.read_log(g.a.trail.logs_of[d2][0], kLog + " ", &error);
  g.b.read_log(g.a.trail.logs_of[d2][0], kLog + " ", &error);
  CHECK(!error.empty());
  g.at("2026-11-20T02:31:00Z");
  auto found = g.b.tick();
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
}

TEST_CASE("shared ledger: a claim that failed is claimed again, also after a restart") {
  for (bool restart : {false, true}) {
    CAPTURE(restart);
    Agents g;
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("tw-shared-claim-" + std::to_string(::getpid()) + (restart ? "-r" : ""));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    g.b.journal_path = (dir / "integrity.journal").string();
    g.start();
    const std::string d1 = g.hour("2026-11-20T01:00:31Z", {}, true);
    CHECK(g.b.read_digest(d1).empty());
    g.shared.failing = {"claim_stopped"};
    g.at("2026-11-20T02:31:00Z");
    CHECK(g.b.tick().empty());  // made, not claimed: not sent
    CHECK(g.shared.calls["claim_stopped"] == 1);
    g.at("2026-11-20T02:31:05Z");
    CHECK(g.b.tick().empty());  // no call for 10 s after a failure
    CHECK(g.shared.calls["claim_stopped"] == 1);
    g.shared.failing.clear();
    if (restart) {
      g.b.stop();
      g.b.start();  // the chain gets the grace again
      g.at("2026-11-20T03:01:06Z");
    } else {
      g.at("2026-11-20T03:01:01Z");  // the grace after the failure
    }
    auto found = g.b.tick();
    REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
    CHECK(g.a.tick().empty());
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("shared ledger: a log file changed after its digest, read by another agent") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  const std::string log = g.a.trail.logs_of[d1][0];
  CHECK(g.a.read_log(log, kLog).empty());
  CHECK(g.a.read_digest(d1).empty());
  CHECK(g.a.stage->counters().log_files_valid == 1);
  // The object is overwritten; its notification reaches B, which never read the digest.
  g.at("2026-11-20T01:30:00Z");
  auto found = g.b.read_log(log, kLog + "\n");
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(found[0].key == log);
  CHECK(found[0].raw.find(d1) != std::string::npos);  // the digest that lists it, as evidence
  // The same finding as the digest's agent would make (the uid).
  auto again = g.a.read_log(log, kLog + "\n");
  REQUIRE(again.size() == 1);
  CHECK(again[0].uid == found[0].uid);
}

TEST_CASE("shared ledger: another content read by another agent before the digest") {
  Agents g;
  g.start();
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  const std::string log = g.a.trail.logs_of[d1][0];
  CHECK(g.b.read_log(log, kLog + "\n").empty());  // a forged version, read by B
  CHECK(g.a.read_log(log, kLog).empty());         // the original, read by A
  auto found = g.a.read_digest(d1);
  REQUIRE(rule_ids(found) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(g.a.stage->counters().log_files_valid == 1);
}

TEST_CASE("shared ledger: an agent that starts later backfills from the agents' coverage") {
  for (bool shared_coverage : {true, false}) {
    CAPTURE(shared_coverage);
    Agents g;
    g.a.options.coverage_from_ms = 0;
    g.b.options.coverage_from_ms = 0;
    g.at("2026-11-20T00:00:10Z");
    if (shared_coverage) g.a.start();  // the first agent started then
    const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
    g.upload();
    g.at("2026-11-20T01:04:00Z");
    g.b.start();  // a new agent (autoscaling): its own state begins now
    CHECK(g.b.read_digest(d1).empty());
    g.at("2026-11-20T01:20:01Z");
    CHECK(g.b.tick().empty());
    // Listed by a digest whose hour began before B started, and read by nobody: backfilled
    // when the agents' coverage says their reads are all in the table; else not checked.
    CHECK(g.b.backfill_next().size() == (shared_coverage ? 1u : 0u));
    CHECK(g.b.stage->counters().log_files_not_checked == (shared_coverage ? 0u : 1u));
  }
}

TEST_CASE("shared ledger: a backfill's read is shared once its unit is done, not before") {
  Agents g;
  const std::string d1 = g.hour("2026-11-20T01:00:31Z", {kLog}, true);
  const std::string log = g.a.trail.logs_of[d1][0];
  const std::string name = "s3://" + g.a.trail.bucket + "/" + log;
  g.upload();
  g.start();
  CHECK(g.a.read_digest(d1).empty());
  g.at("2026-11-20T01:20:01Z");
  CHECK(g.a.tick().empty());
  std::vector<WorkUnit> units = g.a.backfill_next();
  REQUIRE(units.size() == 1);
  CHECK(g.a.read_log(log, kLog).empty());
  // Read and compared, its alerts not delivered yet: nobody may take it as read.
  CHECK(g.shared.reads_by_name.count(name) == 0);
  CHECK(g.a.tick().empty());
  CHECK(g.shared.reads_by_name.count(name) == 0);
  g.a.backfill->done(units[0].token, true, "");
  CHECK(g.a.tick().empty());
  CHECK(g.shared.reads_by_name.count(name) == 1);
  CHECK(g.a.stage->counters().log_files_valid == 1);
}
