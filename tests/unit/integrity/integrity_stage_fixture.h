// The integrity stage's unit-test fixture (integrity_stage_test.cpp, integrity_ledger_test.cpp):
// a trail signed in memory (test_trail.h), a fake S3 (predecessors, backfills), a fake
// ListPublicKeys, a manual clock, and optionally the ledger's journal in a temporary directory.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "agent/aws/time_util.h"
#include "agent/decode/gzip.h"
#include "agent/integrity/integrity_stage.h"
#include "agent/integrity/state_dir_integrity_store.h"
#include "tests/fakes/fake_object_store.h"
#include "tests/fakes/manual_clock.h"
#include "tests/unit/integrity/test_trail.h"

namespace trailwarden::integrity::test_stage {

using namespace trailwarden;

inline const auto t = &test::epoch;
using test::key1;
using test::key2;


// ListPublicKeys: key1 for every region, or no answer.
class Keys : public PublicKeyDirectory {
 public:
  bool down = false;
  int calls = 0;
  RemoteStatus list_public_keys(const std::string&, int64_t, int64_t,
                                std::vector<TrailPublicKey>& out,
                                const std::atomic<bool>*) override {
    ++calls;
    if (down) return {RemoteStatus::Code::kRetry, "CloudTrail did not answer"};
    out.push_back({key1().pkcs1, 1577836800, 1893456000, key1().fingerprint});
    return {};
  }
};

inline std::string inflate(const std::string& gz) {
  Buffer out;
  std::string error;
  REQUIRE(inflate_gzip(gz, size_t{1} << 24, out, error) == InflateResult::kOk);
  return std::string(out.view());
}

inline const std::string kLog = R"({"Records":[{"eventVersion":"1.08","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"us-east-1","eventTime":"2026-11-20T00:10:00Z"}]})";

struct Fixture {
  Keys directory;
  PublicKeyCache keys{directory};
  testing::FakeStore store;
  testing::ManualClock clock{std::chrono::system_clock::time_point{std::chrono::seconds(t("2026-11-20T01:05:00Z"))}};
  test::TestTrail trail{key1()};
  IntegrityOptions options;
  std::unique_ptr<BackfillSource> backfill;
  // With a journal_path, start() opens the ledger's journal there and loads it (a restart: stop(),
  // then start() again).
  std::string journal_path;
  store::JournalFileOptions journal_options;
  std::unique_ptr<StateDirIntegrityStore> journal;
  std::unique_ptr<IntegrityStage> stage;
  // Set before start(): the ledger shared with other agents (tests/fakes/fake_shared_integrity_ledger.h).
  SharedIntegrityLedger* shared = nullptr;

  Fixture() {
    options.digest_grace = std::chrono::minutes(30);
    options.backfill_delay = std::chrono::minutes(15);
    options.coverage_from_ms = t("2026-11-20T00:00:00Z") * 1000;
  }
  void start(bool with_backfill = true) {
    if (with_backfill) {
      BackfillOptions b;
      b.attempts = 2;
      b.retry_after = std::chrono::seconds(1);
      backfill = std::make_unique<BackfillSource>(b, clock);
    }
    if (!journal_path.empty())
      journal = std::make_unique<StateDirIntegrityStore>(journal_path, journal_options);
    stage = std::make_unique<IntegrityStage>(options, keys, store, backfill.get(), clock,
                                             journal.get(), shared);
    std::string error;
    REQUIRE_MESSAGE(stage->load(error), error);
  }
  // The agent stops (or is killed: nothing is flushed at exit beyond what each unit committed).
  void stop() {
    stage.reset();
    journal.reset();
    backfill.reset();
  }
  // Puts the trail's objects in the fake S3 (for predecessors and backfills).
  void upload() {
    for (const auto& [k, v] : trail.objects) store.objects[trail.bucket + "/" + k] = v;
    for (const auto& [k, sig] : trail.signatures) {
      ObjectMetadata m;
      m.user = {{"signature", sig}, {"signature-algorithm", "SHA256withRSA"}};
      store.metadata[trail.bucket + "/" + k] = m;
    }
  }
  // The stage reads the log file `key` (its inflated text `text`).
  std::vector<AlertRecord> read_log(const std::string& key, const std::string& text,
                                    std::string* error = nullptr) {
    std::vector<AlertRecord> alerts;
    const std::vector<int64_t> slots;
    const std::string sha = aws::sha256_hex(text);
    StageObject o;
    o.kind = StageObject::Kind::kLogFile;
    o.bucket = trail.bucket;
    o.key = key;
    o.sha256 = sha;
    const std::string identity = "s3://" + trail.bucket + "/" + key;
    StageUnit unit{alerts, slots, identity, &o};
    const std::string why = stage->process(unit);
    if (error) *error = why;
    else CHECK(why == "");
    return alerts;
  }
  std::vector<AlertRecord> read_digest(const std::string& key, std::string* error = nullptr,
                                       std::string content = {}) {
    std::vector<AlertRecord> alerts;
    const std::vector<int64_t> slots;
    if (content.empty()) content = inflate(trail.objects.at(key));
    ObjectMetadata meta;
    meta.user = {{"signature", trail.signatures.at(key)}, {"signature-algorithm", "SHA256withRSA"}};
    StageObject o;
    o.kind = StageObject::Kind::kDigest;
    o.bucket = trail.bucket;
    o.key = key;
    o.content = content;
    o.metadata = &meta;
    const std::string identity = "s3://" + trail.bucket + "/" + key;
    StageUnit unit{alerts, slots, identity, &o};
    const std::string why = stage->process(unit);
    if (error) *error = why;
    else CHECK(why == "");
    return alerts;
  }
  // What the backfill source hands out now (up to 10 units), as the engine would ask.
  std::vector<WorkUnit> backfill_next() {
    std::vector<WorkUnit> units;
    std::string error;
    std::atomic<bool> stop{false};
    backfill->next(10, stop, units, error);
    return units;
  }
  std::vector<AlertRecord> tick() {
    std::vector<AlertRecord> out;
    stage->tick(clock.wall_now(), out);
    return out;
  }
  void at(const char* iso) {
    clock.advance(std::chrono::seconds(t(iso)) - clock.wall_now().time_since_epoch());
  }
};

inline std::vector<std::string> rule_ids(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> ids;
  for (const AlertRecord& a : alerts) {
    CHECK(a.kind == AlertKind::kIntegrity);
    ids.push_back(a.rule_id);
  }
  return ids;
}


}  // namespace trailwarden::integrity::test_stage
