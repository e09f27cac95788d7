// The integrity ledger kept across restarts: its journal entries (integrity_journal_format.h),
// the journal (state_dir_integrity_store.h), and the stage stopped and started again on it.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "agent/integrity/integrity_journal_format.h"
#include "agent/integrity/state_dir_integrity_store.h"
#include "tests/unit/integrity/integrity_stage_fixture.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::integrity;
using namespace trailwarden::integrity::test_stage;

namespace {

journal::Entry full_entry() {
  journal::Entry e;
  e.saved_ms = 1'700'000'000'123;
  e.coverage_from_ms = 1'699'999'000'000;
  SeenLog s;
  s.at_ms = 5;
  s.reads = {{"aa", "s3://b/k1"}, {"bb", "s3://b/k1#2"}};
  e.seen.emplace_back("s3://b/k1", s);
  ExpectedLog x;
  x.bucket = "b";
  x.key = "k2";
  x.sha256 = "cc";
  x.digest_key = "d";
  x.chain = "b|chain";
  x.account = "111122223333";
  x.region = "us-east-1";
  x.fingerprint = "ff";
  x.digest_start = 10;
  x.digest_end = 20;
  x.listed_ms = 30;
  x.state = ExpectedLog::State::kQueued;
  x.mismatches = {{"dd", "u"}};
  e.expected.emplace_back("s3://b/k2", x);
  Chain c;
  c.bucket = "b";
  c.account = "111122223333";
  c.region = "us-east-1";
  c.backfill = true;
  c.last_end = 3600;
  c.last_key = "d2";
  c.alerted_stopped_end = 3600;
  c.last_arrival_ms = 99;
  c.digests[0] = {"d1", "s1", "g1", -3600, 0, true};
  c.digests[3600] = {"d2", "s2", "g2", 0, 3600, false};
  e.chains.emplace_back("b|chain", c);
  AlertRecord a;
  a.uid = "uid-1";
  a.rule_id = "integrity.digest_delivery_stopped";
  a.kind = AlertKind::kIntegrity;
  a.ocsf = "{}";
  a.raw = "{\"evidence\":1}";
  e.findings.push_back(a);
  e.delivered = {"uid-0"};
  return e;
}

}  // namespace

TEST_CASE("integrity journal: an entry encodes and decodes to the same") {
  const journal::Entry e = full_entry();
  const std::string bytes = journal::encode(e);
  journal::Entry back;
  std::string error;
  REQUIRE(journal::decode(bytes, back, error) == journal::DecodeResult::kOk);
  CHECK(journal::encode(back) == bytes);
  REQUIRE(back.chains.size() == 1);
  CHECK(back.chains[0].second.digests.at(3600).key == "d2");
  CHECK(back.chains[0].second.digests.at(0).starting);
  CHECK(back.expected[0].second.state == ExpectedLog::State::kQueued);
  CHECK(back.findings.at(0).uid == "uid-1");
}

TEST_CASE("integrity journal: cut short, damaged or newer entries are refused, never crash") {
  const std::string bytes = journal::encode(full_entry());
  std::string error;
  journal::Entry e;
  // Every prefix is cut short.
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(journal::decode(bytes.substr(0, n), e, error) == journal::DecodeResult::kMalformed);
  // Bytes after it.
  CHECK(journal::decode(bytes + "x", e, error) == journal::DecodeResult::kMalformed);
  // Another kind, a newer version.
  std::string other = bytes;
  other[0] = 'S';
  CHECK(journal::decode(other, e, error) == journal::DecodeResult::kNewer);
  // A finding of a later AlertRecord encoding: a newer agent's, refused rather than dropped.
  {
    journal::Entry f;
    AlertRecord a;
    a.uid = "u";
    f.findings.push_back(a);
    std::string enc = journal::encode(f);
    std::string rec;
    a.encode(rec);
    const size_t at = enc.find(rec);
    REQUIRE(at != std::string::npos);
    enc[at] = static_cast<char>(AlertRecord::kEncodingVersion + 1);
    CHECK(journal::decode(enc, e, error) == journal::DecodeResult::kNewer);
  }
  std::string newer = bytes;
  newer[1] = 2;
  CHECK(journal::decode(newer, e, error) == journal::DecodeResult::kNewer);
  // A log file in a state that does not exist.
  journal::Entry bad = full_entry();
  bad.expected[0].second.state = static_cast<ExpectedLog::State>(7);
  CHECK(journal::decode(journal::encode(bad), e, error) == journal::DecodeResult::kMalformed);
  CHECK(error.find("state 7") != std::string::npos);
  // More reads than the ledger keeps.
  bad = full_entry();
  bad.seen[0].second.reads.assign(kMaxReads + 1, {"aa", "u"});
  CHECK(journal::decode(journal::encode(bad), e, error) == journal::DecodeResult::kMalformed);
  // A forged count does not make it allocate or loop beyond the input.
  std::string forged;
  forged.push_back('C');
  forged.push_back(1);
  forged.append(16, '\0');
  forged.append("\xff\xff\xff\x7f", 4);
  CHECK(journal::decode(forged, e, error) == journal::DecodeResult::kMalformed);
}

TEST_CASE("integrity journal: applying entries in order: the later item wins, delivered leaves") {
  IntegrityLedger ledger;
  journal::Entry e = full_entry();
  journal::apply(e, ledger);
  CHECK(ledger.outbox.count("uid-1") == 1);
  // The file read (seen) is then listed: moved to expected.
  journal::Entry listed;
  ExpectedLog x;
  x.bucket = "b";
  x.key = "k1";
  listed.expected.emplace_back("s3://b/k1", x);
  listed.delivered = {"uid-1"};
  journal::apply(listed, ledger);
  CHECK(ledger.seen.count("s3://b/k1") == 0);
  CHECK(ledger.expected.count("s3://b/k1") == 1);
  CHECK(ledger.outbox.empty());
  CHECK(ledger.coverage_from_ms == e.coverage_from_ms);  // 0: unchanged
}

TEST_CASE("integrity state: commits, delivery marks and a compaction read back the same") {
  test::TempDir dir("tw-integrity");
  const std::string path = dir.file("integrity.journal");
  IntegrityLedger expected_ledger;
  {
    store::JournalFileOptions o;
    o.compact_bytes = 1;  // every commit passes it: compactions are exercised too
    StateDirIntegrityStore st(path, o);
    IntegrityLedger ledger;
    std::string error;
    REQUIRE_MESSAGE(st.open(ledger, error), error);
    CHECK(ledger.chains.empty());
    const journal::Entry e = full_entry();
    REQUIRE(st.commit(e, true, error));
    journal::apply(e, expected_ledger);
    st.delivered({"uid-1"}, 7);
    expected_ledger.outbox.erase("uid-1");
    CHECK(st.wants_compaction());
    REQUIRE(st.compact(expected_ledger, error));
    journal::Entry more;
    more.saved_ms = 1'800'000'000'000;
    SeenLog s;
    s.at_ms = 77;
    s.reads = {{"ee", "u2"}};
    more.seen.emplace_back("s3://b/k3", s);
    REQUIRE(st.commit(more, true, error));
    journal::apply(more, expected_ledger);
  }
  StateDirIntegrityStore again(path);
  IntegrityLedger back;
  std::string error;
  REQUIRE_MESSAGE(again.open(back, error), error);
  CHECK(again.damaged_records() == 0);
  CHECK(back.coverage_from_ms == expected_ledger.coverage_from_ms);
  CHECK(back.saved_ms == 1'800'000'000'000);
  CHECK(back.seen.size() == 2);
  CHECK(back.seen.at("s3://b/k3").reads.at(0).first == "ee");
  CHECK(back.expected.at("s3://b/k2").mismatches.size() == 1);
  CHECK(back.chains.at("b|chain").digests.size() == 2);
  CHECK(back.outbox.empty());
}

TEST_CASE("integrity state: a second agent on the same state directory is refused") {
  test::TempDir dir("tw-integrity");
  StateDirIntegrityStore first(dir.file("integrity.journal"));
  IntegrityLedger ledger;
  std::string error;
  REQUIRE(first.open(ledger, error));
  StateDirIntegrityStore second(dir.file("integrity.journal"));
  CHECK_FALSE(second.open(ledger, error));
  CHECK(error.find("another agent") != std::string::npos);
}

TEST_CASE("integrity state: a flipped byte costs the record it is in, the rest is read") {
  test::TempDir dir("tw-integrity");
  const std::string path = dir.file("integrity.journal");
  std::string error;
  {
    StateDirIntegrityStore st(path);
    IntegrityLedger ledger;
    REQUIRE(st.open(ledger, error));
    for (int i = 0; i < 3; ++i) {
      journal::Entry e;
      e.saved_ms = 1000 + i;
      SeenLog s;
      s.at_ms = i;
      s.reads = {{"aa", "u"}};
      e.seen.emplace_back("s3://b/k" + std::to_string(i), s);
      REQUIRE(st.commit(e, true, error));
    }
  }
  std::string data = test::read_file(path);
  const size_t at = data.find("s3://b/k1");
  REQUIRE(at != std::string::npos);
  data[at + 6] ^= 0x20;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  StateDirIntegrityStore again(path);
  IntegrityLedger back;
  REQUIRE_MESSAGE(again.open(back, error), error);
  CHECK(again.damaged_records() == 1);
  CHECK(back.seen.count("s3://b/k0") == 1);
  CHECK(back.seen.count("s3://b/k1") == 0);
  CHECK(back.seen.count("s3://b/k2") == 1);
}

// ---- the stage across a restart --------------------------------------------------------------

TEST_CASE("integrity stage restart: a chain's clock is kept, and the grace given again") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  CHECK(f.read_digest(d1).empty());
  f.stop();  // no finish(): as after a kill -9
  f.at("2026-11-20T02:20:00Z");
  f.start();
  CHECK(f.stage->counters().chains.load() == 1);
  // Past the chain's deadline (02:30:31) but within the grace after the restart: digests may
  // wait in the queue.
  f.at("2026-11-20T02:49:59Z");
  CHECK(f.tick().empty());
  f.at("2026-11-20T02:50:01Z");
  auto a = f.tick();
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.digest_delivery_stopped"});
  CHECK(a[0].key == d1);
  // Not delivered, then a restart: sent again (the same uid); delivered, then a restart: not.
  f.stop();
  f.start();
  auto b = f.tick();
  REQUIRE(b.size() == 1);
  CHECK(b[0].uid == a[0].uid);
  f.stage->delivered(b);
  f.stop();
  f.at("2026-11-20T05:00:00Z");
  f.start();
  CHECK(f.tick().empty());
  f.at("2026-11-20T09:00:00Z");
  CHECK(f.tick().empty());  // reported once for this last digest, also across restarts
}

TEST_CASE("integrity stage restart: a log file read before it, listed after it, is compared") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.start();
  const std::string d1 =
      f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog, kLog + " "}, true);
  f.upload();
  CHECK(f.read_log(f.trail.logs_of[d1][0], kLog).empty());
  CHECK(f.read_log(f.trail.logs_of[d1][1], kLog + "  ").empty());  // not what the digest lists
  f.stop();
  f.start();
  auto a = f.read_digest(d1);
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.log_file_modified"});
  CHECK(a[0].key == f.trail.logs_of[d1][1]);
  CHECK(f.stage->counters().log_files_valid == 1);
  // Nothing to backfill: both were read before the restart.
  f.at("2026-11-20T01:30:00Z");
  CHECK(f.tick().empty());
  CHECK(f.backfill->counters().pending.load() == 0);
}

TEST_CASE("integrity stage restart: listed log files not read yet are backfilled after it") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.options.coverage_from_ms = 0;  // the agent's state begins at its first start (00:30)
  f.at("2026-11-20T00:30:00Z");
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {}, true);
  const std::string d2 = f.trail.hour(t("2026-11-20T02:00:31Z"), {kLog});
  const std::string d3 = f.trail.hour(t("2026-11-20T03:00:31Z"), {kLog + " "});
  f.upload();
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T02:05:00Z");
  CHECK(f.read_digest(d2).empty());  // lists a log file not read yet
  f.stop();
  // Restarted after the first start: the coverage is the first start's, so a digest of an hour
  // before the restart still has its log files backfilled.
  f.at("2026-11-20T03:10:00Z");
  f.start();
  CHECK(f.read_digest(d3).empty());
  f.at("2026-11-20T03:30:00Z");
  CHECK(f.tick().empty());
  std::vector<WorkUnit> units = f.backfill_next();
  REQUIRE(units.size() == 2);
  std::set<std::string> keys;
  for (const WorkUnit& u : units) keys.insert(u.objects.at(0).key);
  CHECK(keys == std::set<std::string>{f.trail.logs_of[d2][0], f.trail.logs_of[d3][0]});
  CHECK(f.stage->counters().log_files_not_checked == 0);
}

TEST_CASE("integrity stage: a unit whose changes cannot be saved fails, and is not acknowledged") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.journal_options.max_journal_bytes = 200;  // room for little more than the file header
  f.start();
  // and no rewrite can make room (a directory where the fresh copy goes)
  std::filesystem::create_directory(f.journal_path + ".tmp");
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  std::string error;
  f.read_log(f.trail.logs_of[d1][0], kLog, &error);
  CHECK(error.find("the integrity ledger could not be saved") != std::string::npos);
  CHECK(error.find("integrity.journal") != std::string::npos);
  // Tried again with the next unit (the changes are kept until saved).
  f.read_digest(d1, &error);
  CHECK(error.find("could not be saved") != std::string::npos);
}

TEST_CASE("integrity stage: a journal at its size limit is rewritten, and a failed rewrite is tried again") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.journal_options.max_journal_bytes = 8 << 10;  // a few dozen appends
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string log = f.trail.logs_of[d1][0];
  // The same log file read again and again: the journal grows, the ledger does not.
  for (int i = 0; i < 100; ++i) {
    std::string error;
    f.read_log(log, kLog, &error);
    REQUIRE_MESSAGE(error == "", "read ", i, ": ", error);
    f.clock.advance(std::chrono::milliseconds(1));
  }
  CHECK(f.journal->compactions() > 1);
  CHECK(f.journal->file_bytes() <= (8u << 10));
  // Rewrites fail (a directory where the fresh copy goes): units fail once the journal is full.
  std::filesystem::create_directory(f.journal_path + ".tmp");
  std::string error;
  for (int i = 0; i < 100 && error.empty(); ++i) {
    f.read_log(log, kLog, &error);
    f.clock.advance(std::chrono::milliseconds(1));
  }
  CHECK(error.find("rewriting it failed too") != std::string::npos);
  // The cause goes away: within the retry interval units still fail, then the agent recovers.
  std::filesystem::remove(f.journal_path + ".tmp");
  f.read_log(log, kLog, &error);
  CHECK(error != "");
  f.clock.advance(std::chrono::seconds(11));
  f.read_log(log, kLog, &error);
  CHECK(error == "");
  // What was saved is what the ledger holds: a restart knows the read.
  f.stop();
  f.start();
  CHECK(rule_ids(f.read_digest(d1)).empty());
  CHECK(f.stage->counters().log_files_valid == 1);
}

TEST_CASE("integrity stage: a backfilled file of another content whose units all failed is still reported modified") {
  Fixture f;
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  f.upload();
  f.start();
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T01:20:01Z");
  CHECK(f.tick().empty());
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::vector<WorkUnit> units = f.backfill_next();
    REQUIRE(units.size() == 1);
    // Read (another content than listed: the finding goes with the unit) and then not delivered.
    auto a = f.read_log(f.trail.logs_of[d1][0], kLog + " ");
    CHECK(rule_ids(a) == std::vector<std::string>{"integrity.log_file_modified"});
    f.backfill->done(units[0].token, false, "the outputs did not take its alerts");
    f.clock.advance(std::chrono::seconds(2));
  }
  // Given up: the finding goes out from the stage, until delivered.
  auto a = f.tick();
  REQUIRE(rule_ids(a) == std::vector<std::string>{"integrity.log_file_modified"});
  f.stage->delivered(a);
  CHECK(f.tick().empty());
}

TEST_CASE("integrity stage restart: a listed file in a bucket no longer allowed is not fetched") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  f.upload();
  f.start();
  CHECK(f.read_digest(d1).empty());
  f.stop();
  f.options.allowed_buckets = {"another-bucket"};
  f.start();
  f.at("2026-11-20T01:30:00Z");
  CHECK(f.tick().empty());
  std::vector<WorkUnit> units = f.backfill_next();
  CHECK(units.empty());
  CHECK(f.stage->counters().log_files_not_checked == 1);
}

TEST_CASE("integrity stage restart: a ledger over max_entries keeps the newest") {
  test::TempDir dir("tw-integrity");
  Fixture f;
  f.journal_path = dir.file("integrity.journal");
  f.start();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"),
                                      {kLog, kLog + " ", kLog + "  ", kLog + "   "}, true);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(f.read_log(f.trail.logs_of[d1][i], kLog + std::string(i, ' ')).empty());
    f.clock.advance(std::chrono::seconds(1));
  }
  f.stop();
  f.options.max_entries = 2;
  f.start();
  CHECK(f.read_digest(d1).empty());
  CHECK(f.stage->counters().log_files_valid == 2);  // the two read last; the others forgotten
}

TEST_CASE("integrity ledger: a backfill killed before its unit was done is backfilled again") {
  Fixture f;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tw-backfill-kill-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  f.journal_path = (dir / "integrity.journal").string();
  const std::string d1 = f.trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string log = f.trail.logs_of[d1][0];
  f.upload();
  f.start();
  CHECK(f.read_digest(d1).empty());
  f.at("2026-11-20T01:20:01Z");
  CHECK(f.tick().empty());
  REQUIRE(f.backfill_next().size() == 1);
  CHECK(f.read_log(log, kLog).empty());  // read, compared, saved; its alerts not delivered
  CHECK(f.tick().empty());
  f.stop();  // kill -9: the backfill queue is gone, the unit never done
  f.start();
  f.at("2026-11-20T01:20:05Z");
  CHECK(f.tick().empty());
  std::vector<WorkUnit> again = f.backfill_next();
  REQUIRE(again.size() == 1);  // its alerts are delivered this time
  CHECK(again[0].objects.at(0).key == log);
  CHECK(f.read_log(log, kLog).empty());
  f.backfill->done(again[0].token, true, "");
  CHECK(f.tick().empty());
  CHECK(f.stage->counters().log_files_unreadable == 0);
  std::filesystem::remove_all(dir);
}
