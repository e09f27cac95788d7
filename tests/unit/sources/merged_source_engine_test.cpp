// The engine over a MergedSource of a main source and the BackfillSource: backfilled objects
// are fetched, matched and delivered like notified ones, and every unit is acknowledged (or
// released) to the source that handed it out.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/rules/rule.h"
#include "agent/sources/backfill/backfill_source.h"
#include "agent/sources/merged_source.h"
#include "outputs/delivery/delivery_pipeline.h"
#include "tests/fakes/fake_object_store.h"
#include "tests/fakes/fake_source.h"
#include "tests/fakes/memory_output.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using trailwarden::testing::EventLog;
using trailwarden::testing::FakeStore;
using trailwarden::testing::MemoryOutput;
using trailwarden::testing::ScriptedSource;

namespace {

const char* kBucket = "trail-bucket";

ObjectRef object(const std::string& key) {
  ObjectRef o;
  o.bucket = kBucket;
  o.key = key;
  return o;
}

struct MergedEngineFixture {
  EventLog log;
  FakeStore store;
  ScriptedSource main;
  BackfillOptions backfill_options;
  std::unique_ptr<BackfillSource> backfill;
  std::unique_ptr<MergedSource> merged;
  MemoryOutput* output = nullptr;
  std::unique_ptr<DeliveryPipeline> pipeline;
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> enabled;
  EngineOptions options;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> finished;  // key, ok
  std::vector<std::string> why;

  MergedEngineFixture() {
    for (const auto& r : rules)
      if (r.enabled) enabled.push_back(&r);
    options.workers = 2;
    options.max_in_flight = 16;
    options.fetch.retry_base = 1ms;
    options.fetch.retry_max = 5ms;
    options.shutdown_deadline = 5s;
    options.delivery.dedup = false;  // the objects are copies of one file: same finding uids
    backfill_options.attempts = 1;
  }
  void put(const std::string& key) {
    store.objects[std::string(kBucket) + "/" + key] =
        test::gzip(test::read_data("cloudtrail/awsdocs_config.json"));
  }
  // An object in the store and a main unit naming it, as a notification would.
  void add_main(const std::string& key) {
    put(key);
    WorkUnit u;
    u.payload = WorkUnit::Payload::kObjects;
    u.name = "message " + key;
    u.objects.push_back(object(key));
    u.origin.route = RecordOrigin::Route::kS3Object;
    main.add(std::move(u));
  }
  void make_sources() {
    backfill = std::make_unique<BackfillSource>(backfill_options);
    backfill->on_finished([this](const ObjectRef& o, bool ok, const std::string& w) {
      std::lock_guard<std::mutex> l(mu);
      finished.emplace_back(o.key, ok);
      why.push_back(w);
    });
    merged = std::make_unique<MergedSource>(main, *backfill);
  }
  std::unique_ptr<Engine> make_engine() {
    auto out = std::make_unique<MemoryOutput>(log);
    output = out.get();
    std::vector<DeliveryPipeline::Entry> entries;
    DeliveryPipeline::Entry entry;
    entry.settings.name = "memory";
    entry.settings.buffer = OutputSettings::BufferType::kMemory;
    entry.output = std::move(out);
    entries.push_back(std::move(entry));
    pipeline = std::make_unique<DeliveryPipeline>(std::move(entries), "/tmp");
    auto e = std::make_unique<Engine>(options, *merged, &store,
                                      std::make_shared<const RuleSet>(enabled), *pipeline);
    std::string error;
    REQUIRE(pipeline->start(error));
    return e;
  }
  size_t alerts_naming(const std::string& key) const {
    size_t n = 0;
    for (const std::string& line : output->lines)
      if (line.find(key) != std::string::npos) ++n;
    return n;
  }
  std::vector<std::pair<std::string, bool>> finished_sorted() {
    std::lock_guard<std::mutex> l(mu);
    auto out = finished;
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

TEST_CASE("engine over MergedSource: backfilled objects are read and matched, each unit "
          "acknowledged to its own source") {
  MergedEngineFixture f;
  f.make_sources();
  f.add_main("main-a.json.gz");
  f.add_main("main-b.json.gz");
  f.add_main("main-c.json.gz");
  f.put("back-a.json.gz");
  f.put("back-b.json.gz");
  REQUIRE(f.backfill->add(object("back-a.json.gz"), "listed in digest d1"));
  REQUIRE(f.backfill->add(object("back-b.json.gz"), "listed in digest d1"));
  REQUIRE(f.backfill->add(object("back-missing.json.gz"), "listed in digest d1"));
  auto engine = f.make_engine();
  CHECK(engine->run(f.stop) == 0);  // the main ends (kEnd): drained
  f.pipeline->stop(1s);

  // The main got exactly its three units back, each once, ok; nothing released.
  auto done = f.main.done_calls();
  REQUIRE(done.size() == 3);
  std::vector<AckToken> tokens;
  for (const auto& d : done) {
    tokens.push_back(d.token);
    CHECK(d.ok);
  }
  std::sort(tokens.begin(), tokens.end());
  CHECK(tokens == std::vector<AckToken>{1, 2, 3});
  CHECK(f.main.released().empty());
  CHECK(f.main.closed());

  // The backfill source was told of each of its objects: two read, one given up (attempts 1).
  const std::vector<std::pair<std::string, bool>> want = {
      {"back-a.json.gz", true}, {"back-b.json.gz", true}, {"back-missing.json.gz", false}};
  CHECK(f.finished_sorted() == want);
  for (const std::string& w : f.why)
    if (!w.empty())
      CHECK(w.find("cannot fetch s3://trail-bucket/back-missing.json.gz") != std::string::npos);
  CHECK(f.backfill->counters().backfilled == 3);
  CHECK(f.backfill->counters().failed == 1);
  CHECK(f.backfill->counters().pending == 0);

  // Backfilled objects alert like notified ones (the file holds four Config changes).
  for (const char* k : {"main-a.json.gz", "main-b.json.gz", "main-c.json.gz", "back-a.json.gz",
                        "back-b.json.gz"})
    CHECK_MESSAGE(f.alerts_naming(k) == 4, k);
  CHECK(f.alerts_naming("back-missing.json.gz") == 0);
}

TEST_CASE("engine over MergedSource: at shutdown a backfill unit in flight is released to the "
          "backfill source, not acknowledged") {
  MergedEngineFixture f;
  f.main.endless = true;  // `run`: the main never ends
  f.options.shutdown_deadline = 0ms;
  f.make_sources();
  f.put("back-a.json.gz");
  f.store.block = true;  // every download waits until the engine cancels it
  REQUIRE(f.backfill->add(object("back-a.json.gz"), "listed in digest d1"));
  auto engine = f.make_engine();
  std::thread stopper([&] {
    {
      std::unique_lock<std::mutex> l(f.store.mu);
      f.store.cv.wait_for(l, 20s, [&] { return !f.store.gets.empty(); });
    }
    f.stop = true;
  });
  CHECK(engine->run(f.stop) == 0);
  stopper.join();
  f.pipeline->stop(1s);
  CHECK(f.store.gets.size() == 1);
  CHECK(f.main.released().empty());     // nothing of the main's
  CHECK(f.main.done_calls().empty());
  CHECK(f.finished_sorted().empty());   // neither done nor given up
  CHECK(f.backfill->counters().pending == 1);
  // Back in the queue under its own token: handed out again at once, not counted as a try.
  std::vector<WorkUnit> again;
  std::string error;
  std::atomic<bool> no{false};
  CHECK(f.backfill->next(10, no, again, error) == Source::Status::kOk);
  REQUIRE(again.size() == 1);
  CHECK(again[0].objects[0].key == "back-a.json.gz");
  CHECK(f.backfill->counters().backfilled == 1);
  CHECK(f.backfill->counters().retried == 0);
}
