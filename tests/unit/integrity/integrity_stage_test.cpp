// IntegrityStage: digests and log files as `run` reads them, with a trail signed in memory
// (test_trail.h), a fake S3 (predecessors), a fake ListPublicKeys and a manual clock.
#include <doctest/doctest.h>

#include "tests/unit/integrity/integrity_stage_fixture.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

using namespace trailwarden::integrity::test_stage;

TEST_CASE("integrity stage: an intact trail read in any order gives no finding") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog, kLog + " "}, true);
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {kLog + "  "});
  // Log files of the first hour before its digest; the second hour's digest before its log.
  CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());
  CHECK(f.read_log(f.trail.logs_of[d1][1], kLog + " ").empty());
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T02:05:00Z");
  CHECK(f.read_digest(d2).empty());
  CHECK(f.read_log(f.trail.logs_of[d2][0], kLog + "  ").empty());
  CHECK(f.tick().empty());
  CHECK(f.stage->counters().digests_valid == 2);
  CHECK(f.stage->counters().log_files_valid == 3);
  CHECK(f.stage->counters().predecessors_read == 0);
  CHECK(f.directory.calls == 1);  // the region's keys once, then from the cache
  // The same units again (SQS redelivery): still nothing, nothing counted twice.
  CHECK(f.read_digest(d2).empty());
  CHECK(f.read_log(f.trail.logs_of[d2][0], kLog + "  ").empty());
  CHECK(f.stage->counters().digests_valid == 2);
  CHECK(f.stage->counters().log_files_valid == 3);
}

TEST_CASE("integrity stage: a modified log file, read before or after its digest") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog, kLog + " "}, true);
  auto before = f.read_log(f.trail.logs_of[d1][0], kLog + "\n");  // not what was signed
  CHECK(before.empty());
  auto on_digest = f.read_digest(d1);
  REQUIRE(rule_ids(on_digest) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(on_digest[0].key == f.trail.logs_of[d1][0]);
  CHECK(on_digest[0].raw.find(aws::sha256_hex(kLog)) != std::string::npos);         // expected
  CHECK(on_digest[0].raw.find(aws::sha256_hex(kLog + "\n")) != std::string::npos);  // read
  auto after = f.read_log(f.trail.logs_of[d1][1], "changed");
  REQUIRE(rule_ids(after) == std::vector<std::string>{"integrity.log_file_modified"});
  // Read again (redelivered): the same finding, the same uid (the outputs' window drops it).
  auto again = f.read_log(f.trail.logs_of[d1][1], "changed");
  REQUIRE(again.size() == 1);
  CHECK(again[0].uid == after[0].uid);
  CHECK(f.stage->counters().log_files_modified == 2);
}

TEST_CASE("integrity stage: a digest signed by another key, or changed, is invalid") {
  Fixture f;
  f.start();
  const std::string d1 =
      f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true, &key2(), key1().fingerprint);
  auto a = f.read_digest(d1);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_invalid"});
  CHECK(a[0].raw.find("signature verification failed") != std::string::npos);
  // Its log files are an untrusted list: read, they give nothing and are not expected.
  CHECK(f.read_log(f.trail.logs_of[d1][0], "anything").empty());
  // No valid digest: no chain, so no clock either.
  f.at("2026-11-20T03:00:00Z");
  CHECK(f.tick().empty());
  CHECK(f.stage->counters().chains == 0);
}

TEST_CASE("integrity stage: changed digest content fails the signature") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  std::string content = inflate(f.trail.objects.at(d1));
  content.replace(content.find("111122223333"), 12, "111122223334");
  auto a = f.read_digest(d1, nullptr, content);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_invalid"});
}

TEST_CASE("integrity stage: a predecessor not seen is read from S3; not there, the chain is broken") {
  Fixture f;
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {kLog + " "});
  const std::string d3 = f.trail.hour(t("2026-11-20T03:00:31Z"), {});
  f.upload();
  f.store.objects.erase(f.trail.bucket + "/" + d2);  // deleted
  f.start();
  f.at("2026-11-20T03:05:00Z");
  // d1 was never notified: read when d2... d2 is gone, so d3's link finds nothing.
  auto a = f.read_digest(d3);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_chain_broken"});
  CHECK(a[0].key == d2);  // about the missing digest ...
  CHECK(a[0].raw.find(d3) != std::string::npos);  // ... named by d3
  CHECK(f.stage->counters().predecessors_read == 1);

  Fixture g;
  const std::string e1 = g.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string e2 = g.trail.hour(t("2026-11-20T02:00:31Z"), {kLog + " "});
  g.upload();
  g.start();
  g.at("2026-11-20T02:05:00Z");
  CHECK(g.read_digest(e2).empty());  // e1 read from S3, valid, linked
  CHECK(g.stage->counters().predecessors_read == 1);
  CHECK(g.stage->counters().digests_valid == 2);
  // e1's log file is now expected: read, it is checked.
  CHECK(g.read_log(g.trail.logs_of[e1][0], kLog).empty());
  CHECK(g.stage->counters().log_files_valid == 1);
}

TEST_CASE("integrity stage: a validly signed link that does not match its predecessor") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  f.trail.set_next_previous_hash(std::string(64, 'a'));
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {});
  CHECK(f.read_digest(d1).empty());
  auto a = f.read_digest(d2);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_chain_broken"});
  CHECK(a[0].raw.find("previousDigestHashValue") != std::string::npos);
  CHECK(a[0].key == d1);  // the digest the link does not match
}

TEST_CASE("integrity stage: a chain that starts again after an earlier digest is a gap") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  const std::string d4 = f.trail.hour(t("2026-11-20T04:00:31Z"), {}, true);
  CHECK(f.read_digest(d1).empty());
  auto a = f.read_digest(d4);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_chain_restarted"});
  CHECK(a[0].raw.find("2026-11-20T01:00:31") != std::string::npos);
}

TEST_CASE("integrity stage: digest delivery stopped, once, until delivered") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T02:30:31Z");  // an hour and the grace after 01:00:31: not yet
  CHECK(f.tick().empty());
  f.at("2026-11-20T02:30:32Z");
  auto a = f.tick();
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
  // Not delivered: made again at the next tick, with the same uid; delivered: gone for good.
  auto b = f.tick();
  REQUIRE(b.size() == 1);
  CHECK(b[0].uid == a[0].uid);
  f.stage->delivered(b);
  CHECK(f.tick().empty());
  f.at("2026-11-20T09:00:00Z");
  CHECK(f.tick().empty());
  // The next digest restarts the clock.
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {});
  CHECK(f.read_digest(d2).empty());
  f.at("2026-11-20T09:30:01Z");  // backlog: no digest arrived for the grace since the last
  CHECK(f.tick().size() == 1);
}

TEST_CASE("integrity stage: CloudTrail's keys unavailable: the digest's unit is retried") {
  Fixture f;
  f.directory.down = true;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  std::string error;
  CHECK(f.read_digest(d1, &error).empty());
  CHECK(error.find("CloudTrail did not answer") != std::string::npos);
  CHECK(f.stage->counters().digests_unchecked == 1);
}

TEST_CASE("integrity stage: a listed file never notified is backfilled; gone, it is unreadable") {
  Fixture f;
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog, kLog + " "}, true);
  f.upload();
  f.store.objects.erase(f.trail.bucket + "/" + f.trail.logs_of[d1][1]);  // deleted
  f.start();
  CHECK(f.read_digest(d1).empty());
  CHECK(f.tick().empty());
  std::vector<WorkUnit> units = f.backfill_next();
  CHECK(units.empty());  // not before backfill_delay
  f.at("2026-11-20T01:20:01Z");
  CHECK(f.tick().empty());
  units = f.backfill_next();
  REQUIRE(units.size() == 2);
  if (units[0].objects.at(0).key != f.trail.logs_of[d1][0]) std::swap(units[0], units[1]);
  CHECK(units[0].objects.at(0).key == f.trail.logs_of[d1][0]);
  CHECK(units[1].objects.at(0).key == f.trail.logs_of[d1][1]);
  // The engine reads the first (the stage sees it) and fails the second (404), twice.
  CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());
  f.backfill->done(units[0].token, true, "");
  CHECK(f.stage->counters().log_files_valid == 1);
  f.backfill->done(units[1].token, false, "cannot fetch: NoSuchKey");
  f.at("2026-11-20T01:20:03Z");
  units = f.backfill_next();
  REQUIRE(units.size() == 1);
  f.backfill->done(units[0].token, false, "cannot fetch: NoSuchKey");
  auto a = f.tick();
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.log_file_unreadable"});
  CHECK(a[0].key == f.trail.logs_of[d1][1]);
  CHECK(a[0].raw.find("NoSuchKey") != std::string::npos);
  CHECK(f.backfill->counters().backfilled == 2);
}

TEST_CASE("integrity stage: files listed by a digest older than the agent's state are not backfilled") {
  Fixture f;
  f.options.coverage_from_ms = t("2026-11-20T01:30:00Z") * 1000;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T03:00:00Z");
  f.tick();
  std::vector<WorkUnit> units = f.backfill_next();
  CHECK(units.empty());
  CHECK(f.stage->counters().log_files_not_checked == 1);
}

TEST_CASE("integrity stage: a digest under a key that is not a digest key") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  f.trail.signatures["AWSLogs/x.json"] = f.trail.signatures.at(d1);
  std::vector<AlertRecord> alerts;
  const std::vector<int64_t> slots;
  const std::string content = inflate(f.trail.objects.at(d1));
  StageObject o;
  o.kind = StageObject::Kind::kDigest;
  o.bucket = f.trail.bucket;
  o.key = "AWSLogs/x.json";
  o.content = content;
  StageUnit unit{alerts, slots, "s3://x", &o};
  CHECK(f.stage->process(unit) == "");
  REQUIRE(rule_ids(alerts) == std::vector<std::string>{"integrity.digest_invalid"});
}

// ---- what an attacker's review found (each fails without its fix) ---------------------------

TEST_CASE("integrity stage: an old digest notified again does not keep a stopped chain quiet") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  CHECK(f.read_digest(d1).empty());
  // Every minute someone sends d1's notification again; no new digest ever comes.
  for (int m = 1; m <= 120; ++m) {
    f.clock.advance(std::chrono::minutes(1));
    CHECK(f.read_digest(d1).empty());
  }
  CHECK(rule_ids(f.tick()) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
}

TEST_CASE("integrity stage: a restart is found whichever digest arrives first, and again") {
  for (bool starting_first : {false, true}) {
    CAPTURE(starting_first);
    Fixture f;
    f.start();
    const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
    const std::string d4 = f.trail.hour(t("2026-11-20T04:00:31Z"), {}, true);
    auto first = f.read_digest(starting_first ? d4 : d1);
    auto second = f.read_digest(starting_first ? d1 : d4);
    CHECK(first.empty());
    REQUIRE(rule_ids(second) == std::vector<std::string>{"integrity.digest_chain_restarted"});
    CHECK(second[0].key == d4);
    // The unit comes again (its delivery failed): the same finding, the same uid.
    auto again = f.read_digest(starting_first ? d1 : d4);
    REQUIRE(again.size() == 1);
    CHECK(again[0].uid == second[0].uid);
  }
}

TEST_CASE("integrity stage: a modified log file is found again when its digest's unit comes again") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  CHECK(f.read_log(f.trail.logs_of[d1][0], "changed").empty());
  auto a = f.read_digest(d1);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.log_file_modified"});
  auto again = f.read_digest(d1);  // its delivery failed: SQS redelivers the digest
  REQUIRE(rule_ids(again) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(again[0].uid == a[0].uid);
  CHECK(f.stage->counters().log_files_modified == 1);
}

TEST_CASE("integrity stage: the original read last does not hide a changed one read before") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  CHECK(f.read_log(f.trail.logs_of[d1][0], "changed").empty());  // the current version
  CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());       // a forged notification: v1
  auto a = f.read_digest(d1);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(a[0].raw.find(aws::sha256_hex(std::string("changed"))) != std::string::npos);
}

TEST_CASE("integrity stage: a backfilled file read and compared, then not delivered, is not unreadable") {
  Fixture f;
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  f.upload();
  f.start();
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T01:20:01Z");
  f.tick();
  for (int attempt = 0; attempt < 2; ++attempt) {
    f.clock.advance(std::chrono::seconds(2));
    const std::vector<WorkUnit> units = f.backfill_next();
    REQUIRE(units.size() == 1);
    CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());  // read and matched ...
    f.backfill->done(units[0].token, false, "the outputs did not take its alerts");  // ... not delivered
  }
  CHECK(f.tick().empty());
  CHECK(f.stage->counters().log_files_valid == 1);
  CHECK(f.stage->counters().log_files_unreadable == 0);
}

TEST_CASE("integrity stage: a predecessor that cannot be read for another reason than 'not there' retries the unit") {
  Fixture f;
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {});
  f.upload();
  f.store.transient_failures[f.trail.bucket + "/" + d1] = 1;
  f.start();
  std::string error;
  CHECK(f.read_digest(d2, &error).empty());
  CHECK(error.find("could not be read") != std::string::npos);
  CHECK(f.read_digest(d2).empty());  // the unit again: read now, linked
  CHECK(f.stage->counters().digests_valid == 2);
}

TEST_CASE("integrity stage: what is older than retention is dropped (bounded memory)") {
  Fixture f;
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());
  CHECK(f.tick().empty());
  // Past retention (6 h): the read is forgotten, so the digest that lists the file now
  // expects it (backfill) instead of finding it read.
  f.at("2026-11-20T07:06:00Z");
  CHECK(f.tick().empty());
  CHECK(f.read_digest(d1).empty());
  CHECK(f.stage->counters().log_files_valid == 0);
  f.at("2026-11-20T07:30:00Z");
  f.tick();
  std::vector<WorkUnit> units = f.backfill_next();
  REQUIRE(units.size() == 1);
  CHECK(units[0].objects.at(0).key == f.trail.logs_of[d1][0]);
}
