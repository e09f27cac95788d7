// The engine on its own, against a scripted source: ordering, acknowledgement exactly once,
// backpressure, shutdown. (`run`'s SQS behaviour: engine_sqs_test.cpp; replay: tests/integration.)
#include "agent/engine/engine.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "agent/aws/sigv4.h"
#include "agent/rules/rule.h"
#include "outputs/delivery/delivery_pipeline.h"
#include "tests/fakes/fake_message_queue.h"
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

struct EngineFixture {
  EventLog log;
  FakeStore store;
  ScriptedSource source;
  MemoryOutput* output = nullptr;
  std::unique_ptr<DeliveryPipeline> pipeline;
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> enabled;
  EngineOptions options;
  Stage* stage = nullptr;  // set_stage() when given
  uint64_t engine_stage_alerts = 0;
  std::atomic<bool> stop{false};
  std::atomic<Engine*> engine{nullptr};  // while run() runs

  EngineFixture() {
    for (const auto& r : rules)
      if (r.enabled) enabled.push_back(&r);
    options.workers = 3;
    options.fetch.retry_base = 1ms;
    options.fetch.retry_max = 5ms;
    options.shutdown_deadline = 5s;
    options.delivery.dedup = false;  // the units name copies of one file: same finding uids
  }
  // An object with the four Config changes of awsdocs_config.json under `key`, and a unit
  // naming it (with the notification's version id and ETag, when given).
  void add_object_unit(const std::string& key, const std::string& version_id = {},
                       const std::string& etag = {}) {
    store.objects[std::string(kBucket) + "/" + key] =
        test::gzip(test::read_data("cloudtrail/awsdocs_config.json"));
    WorkUnit u;
    u.payload = WorkUnit::Payload::kObjects;
    u.name = key;
    ObjectRef o;
    o.bucket = kBucket;
    o.key = key;
    o.version_id = version_id;
    o.etag = etag;
    u.objects.push_back(o);
    u.origin.route = RecordOrigin::Route::kS3Object;
    source.add(std::move(u));
  }
  int run() {
    auto out = std::make_unique<MemoryOutput>(log);
    output = out.get();
    std::vector<DeliveryPipeline::Entry> entries;
    DeliveryPipeline::Entry entry;
    entry.settings.name = "memory";
    entry.settings.buffer = OutputSettings::BufferType::kMemory;
    entry.output = std::move(out);
    entries.push_back(std::move(entry));
    pipeline = std::make_unique<DeliveryPipeline>(std::move(entries), "/tmp");
    Engine e(options, source, &store, std::make_shared<const RuleSet>(enabled), *pipeline);
    if (stage) e.set_stage(*stage);
    std::string error;
    REQUIRE(pipeline->start(error));
    engine = &e;
    const int rc = e.run(stop);
    engine_stage_alerts = e.counters().stage_alerts;
    engine = nullptr;
    pipeline->stop(std::chrono::seconds(1));
    return rc;
  }
  // Lets the held object go once `records` records were matched (the other units'): polls the
  // engine's counter, the only sign of matching before delivery in ordered mode.
  std::thread release_after_records(uint64_t records) {
    return std::thread([this, records] {
      for (int i = 0; i < 20000; ++i) {
        Engine* e = engine.load();
        if (e && e->counters().records >= records) break;
        std::this_thread::sleep_for(1ms);
      }
      store.release_held();
    });
  }
  // Lets the held object go once `n` units were acknowledged.
  std::thread release_after_done(size_t n) {
    return std::thread([this, n] {
      source.await_done(n);
      store.release_held();
    });
  }
  // The key each delivered alert came from, in delivery order.
  std::vector<std::string> delivered_keys() const {
    std::vector<std::string> out;
    for (const std::string& line : output->lines) {
      for (const char* k : {"a.json.gz", "b.json.gz", "c.json.gz"})
        if (line.find(k) != std::string::npos) out.push_back(k);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("ordered: units are delivered and acknowledged in the order the source gave them") {
  EngineFixture f;
  f.options.ordered = true;
  f.add_object_unit("a.json.gz");
  f.add_object_unit("b.json.gz");
  f.add_object_unit("c.json.gz");
  f.store.held.insert("trail-bucket/a.json.gz");  // a is read last
  std::thread releaser = f.release_after_records(20);  // b's and c's ten records each
  CHECK(f.run() == 0);
  releaser.join();
  const std::vector<std::string> want = {"a.json.gz", "a.json.gz", "a.json.gz", "a.json.gz",
                                         "b.json.gz", "b.json.gz", "b.json.gz", "b.json.gz",
                                         "c.json.gz", "c.json.gz", "c.json.gz", "c.json.gz"};
  CHECK(f.delivered_keys() == want);
  auto done = f.source.done_calls();
  REQUIRE(done.size() == 3);
  for (size_t i = 0; i < done.size(); ++i) {
    CHECK(done[i].token == i + 1);
    CHECK(done[i].ok);
  }
  CHECK(f.source.closed());
}

TEST_CASE("unordered: a unit is delivered and acknowledged as soon as it is matched") {
  EngineFixture f;
  f.add_object_unit("a.json.gz");
  f.add_object_unit("b.json.gz");
  f.add_object_unit("c.json.gz");
  f.store.held.insert("trail-bucket/a.json.gz");
  std::thread releaser = f.release_after_done(2);  // b and c
  CHECK(f.run() == 0);
  releaser.join();
  auto done = f.source.done_calls();
  REQUIRE(done.size() == 3);
  CHECK(done.back().token == 1);  // a, read last, is acknowledged last
  CHECK(f.delivered_keys().back() == "a.json.gz");
}

TEST_CASE("a unit whose object cannot be read is done once, not ok, with the reason") {
  EngineFixture f;
  f.add_object_unit("a.json.gz");
  WorkUnit missing;
  missing.payload = WorkUnit::Payload::kObjects;
  missing.name = "missing";
  ObjectRef o;
  o.bucket = kBucket;
  o.key = "never-uploaded.json.gz";
  missing.objects = {o, o};  // two tasks, one acknowledgement
  f.source.add(std::move(missing));
  CHECK(f.run() == 0);
  auto done = f.source.done_calls();
  REQUIRE(done.size() == 2);
  for (const auto& d : done) {
    if (d.token == 1) CHECK(d.ok);
    if (d.token != 2) continue;
    CHECK_FALSE(d.ok);
    CHECK(d.why.find("cannot fetch s3://trail-bucket/never-uploaded.json.gz") != std::string::npos);
  }
}

TEST_CASE("backpressure: never more units handed out and unfinished than max_in_flight") {
  EngineFixture f;
  f.options.max_in_flight = 2;
  f.options.workers = 4;
  for (const char* k : {"a.json.gz", "b.json.gz", "c.json.gz", "d.json.gz", "e.json.gz"})
    f.add_object_unit(k);
  CHECK(f.run() == 0);
  CHECK(f.source.done_calls().size() == 5);
  CHECK(f.source.max_outstanding() <= 2);
  for (size_t asked : f.source.asked()) CHECK(asked <= 2);
}

TEST_CASE("stop: the units still in work at the deadline are released, never acknowledged") {
  EngineFixture f;
  f.options.shutdown_deadline = 100ms;
  f.source.endless = true;
  f.store.block = true;
  f.add_object_unit("a.json.gz");
  std::thread stopper([&] {
    {
      std::unique_lock<std::mutex> l(f.store.mu);
      f.store.cv.wait_for(l, 20s, [&] { return !f.store.gets.empty(); });
    }
    f.stop = true;
  });
  CHECK(f.run() == 0);
  stopper.join();
  CHECK(f.source.released() == std::vector<AckToken>{1});
  CHECK(f.source.done_calls().empty());
  CHECK(f.source.closed());
}

TEST_CASE("bytes in hand that cannot be decoded are a bad record: recorded, then done ok") {
  // A Kafka message is all there is of its unit: keeping it for redelivery would fail the same
  // way for ever and hold the partition's commit point.
  EngineFixture f;
  char dir[] = "/tmp/tw-engine-XXXXXX";
  REQUIRE(mkdtemp(dir));
  f.options.delivery.bad_records_path = std::string(dir) + "/bad-records.ndjson";
  WorkUnit broken;
  broken.payload = WorkUnit::Payload::kBytes;
  broken.name = "kafka://cloudtrail/0@7";
  broken.bytes = "{\"Records\":[{\"eventName\":\"StopConfigurationRecorder\"";  // truncated
  broken.origin.route = RecordOrigin::Route::kKafka;
  f.source.add(std::move(broken));
  WorkUnit good;
  good.payload = WorkUnit::Payload::kBytes;
  good.name = "kafka://cloudtrail/0@8";
  good.bytes = test::read_data("cloudtrail/awsdocs_config.json");
  good.origin.route = RecordOrigin::Route::kKafka;
  f.source.add(std::move(good));
  CHECK(f.run() == 0);
  auto done = f.source.done_calls();
  REQUIRE(done.size() == 2);
  for (const auto& d : done) CHECK_MESSAGE(d.ok, d.why);
  const std::string dead = test::read_file(f.options.delivery.bad_records_path);
  CHECK(dead.find("kafka://cloudtrail/0@7") != std::string::npos);
  CHECK(dead.find("cannot be read as CloudTrail") != std::string::npos);
  CHECK(dead.find("StopConfigurationRecorder") != std::string::npos);  // the excerpt
  CHECK(dead.find("kafka://cloudtrail/0@8") == std::string::npos);
  CHECK(f.output->lines.size() == 4);  // the good message's four Config changes
}

namespace {

// A stage that records what the engine tells it: the event slots of each unit, the ticks, and
// the end of the input (where it adds one alert).
struct RecordingStage final : Stage {
  std::mutex mu;
  std::vector<std::vector<int64_t>> slots;
  size_t alerts_seen = 0;
  std::atomic<int> ticks{0};
  std::atomic<int> finished{0};
  bool wants_event_times() const override { return true; }
  std::string process(StageUnit& u) override {
    std::lock_guard<std::mutex> lock(mu);
    slots.push_back(u.event_slots);
    alerts_seen += u.alerts.size();
    return {};
  }
  void tick(Clock::Wall, std::vector<AlertRecord>&) override { ++ticks; }
  void finish(std::vector<AlertRecord>& out) override {
    ++finished;
    AlertRecord a;
    a.uid = "end-of-input";
    a.rule_id = "stage";
    a.ocsf = R"({"end_of_input":true})";
    out.push_back(a);
  }
};

}  // namespace

TEST_CASE("stage: each unit's event times reach the stage; the end of a finite input is "
          "finish(), whose alerts are delivered last") {
  EngineFixture f;
  f.options.ordered = true;
  RecordingStage stage;
  f.stage = &stage;
  f.add_object_unit("a.json.gz");
  f.add_object_unit("b.json.gz");
  CHECK(f.run() == 0);
  CHECK(stage.finished == 1);
  CHECK(stage.ticks == 0);  // ordered (replay): event time only
  REQUIRE(stage.slots.size() == 2);
  // awsdocs_config.json: ten records, every one's eventTime in 10-second slots, sorted, unique.
  for (const auto& s : stage.slots) {
    REQUIRE_FALSE(s.empty());
    CHECK(std::is_sorted(s.begin(), s.end()));
    CHECK(std::adjacent_find(s.begin(), s.end()) == s.end());
    for (int64_t t : s) CHECK(t % kEventSlotMs == 0);
  }
  CHECK(stage.slots[0] == stage.slots[1]);
  CHECK(stage.alerts_seen == 8);
  REQUIRE(f.output->lines.size() == 9);
  CHECK(f.output->lines.back() == R"({"end_of_input":true})");
  CHECK(f.engine_stage_alerts == 1);
}

TEST_CASE("stage: without a stage that wants them, no event times are collected") {
  EngineFixture f;
  f.add_object_unit("a.json.gz");
  struct Plain final : Stage {
    std::atomic<size_t> slots{0};
    std::string process(StageUnit& u) override {
      slots += u.event_slots.size();
      return {};
    }
  } plain;
  f.stage = &plain;
  CHECK(f.run() == 0);
  CHECK(plain.slots == 0);
}

TEST_CASE("stage: unordered (run) ticks the stage from the receiving loop, delivers what it adds, "
          "and never calls finish()") {
  EngineFixture f;
  f.source.endless = true;
  struct Ticking final : Stage {
    std::mutex mu;
    std::condition_variable cv;
    int ticks = 0;
    std::atomic<int> finished{0};
    std::string process(StageUnit&) override { return {}; }
    void tick(Clock::Wall, std::vector<AlertRecord>& out) override {
      std::lock_guard<std::mutex> lock(mu);
      if (++ticks == 1) {
        AlertRecord a;
        a.uid = "from-tick";
        a.ocsf = R"({"tick":true})";
        out.push_back(a);
      }
      cv.notify_all();
    }
    void finish(std::vector<AlertRecord>&) override { ++finished; }
  } stage;
  f.stage = &stage;
  std::thread stopper([&] {
    // Two ticks: the first one's alert was delivered before the second began.
    std::unique_lock<std::mutex> l(stage.mu);
    stage.cv.wait_for(l, 20s, [&] { return stage.ticks >= 2; });
    f.stop = true;
  });
  CHECK(f.run() == 0);
  stopper.join();
  CHECK(stage.ticks >= 2);
  CHECK(stage.finished == 0);  // an endless source: nothing ends
  REQUIRE(f.output->lines.size() == 1);
  CHECK(f.output->lines[0] == R"({"tick":true})");
  CHECK(f.engine_stage_alerts == 1);
}


namespace {

// A stage that records each unit's identity, refuses the units `refuse` names (as a stage whose
// state cannot be saved does), and counts what delivered() reports.
struct IdentityStage final : Stage {
  std::mutex mu;
  std::vector<std::string> identities;
  std::string refuse;
  std::atomic<size_t> delivered_alerts{0};
  bool want = true;
  bool wants_unit_identity() const override { return want; }
  std::string process(StageUnit& u) override {
    std::lock_guard<std::mutex> lock(mu);
    identities.emplace_back(u.identity);
    if (!refuse.empty() && u.identity.find(refuse) != std::string_view::npos)
      return "the state cannot be saved";
    return {};
  }
  void delivered(const std::vector<AlertRecord>& alerts) override {
    delivered_alerts += alerts.size();
  }
};

}  // namespace

TEST_CASE("stage: each unit's identity is the same when it comes again and differs between "
          "routes; a stage's error fails the unit and delivers none of its alerts") {
  EngineFixture f;
  f.options.workers = 1;
  IdentityStage stage;
  stage.refuse = "refused.json.gz";
  f.stage = &stage;
  for (const char* key : {"a.json.gz", "a.json.gz", "refused.json.gz"})
    f.add_object_unit(key, "v1", "0123abcd");
  const std::string event =
      R"({"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"StopConfigurationRecorder","eventSource":"config.amazonaws.com","eventID":"e1"})";
  for (const std::string& bytes : {event, event, event + " "}) {
    WorkUnit u;
    u.payload = WorkUnit::Payload::kEvent;
    u.name = "message m1";
    u.bytes = bytes;
    u.origin.route = RecordOrigin::Route::kInlineEvent;
    u.origin.event_id = "eb-1";
    f.source.add(std::move(u));
  }
  CHECK(f.run() == 0);
  REQUIRE(stage.identities.size() == 6);
  CHECK(stage.identities[0] == "s3://" + std::string(kBucket) + "/a.json.gz");
  CHECK(stage.identities[1] == stage.identities[0]);  // the same object again
  CHECK(stage.identities[3].rfind("eventbridge:eb-1#", 0) == 0);
  CHECK(stage.identities[4] == stage.identities[3]);  // the same event again
  CHECK(stage.identities[5] != stage.identities[3]);  // same id, other bytes: another unit
  const auto done = f.source.done_calls();
  REQUIRE(done.size() == 6);
  CHECK_FALSE(done[2].ok);  // the refused object: retried by its source
  CHECK(done[2].why.find("the state cannot be saved") != std::string::npos);
  for (size_t i : {0, 1, 3, 4, 5}) CHECK(done[i].ok);
  // Two objects of four alerts and three events of one were delivered, and reported; the
  // refused object's alerts were not.
  CHECK(f.output->lines.size() == 2 * 4 + 3);
  CHECK(stage.delivered_alerts == 2 * 4 + 3);
}

TEST_CASE("stage: a stage that does not count units once gets no identity (no digest of each "
          "event's or message's bytes)") {
  EngineFixture f;
  f.options.workers = 1;
  IdentityStage stage;
  stage.want = false;
  f.stage = &stage;
  f.add_object_unit("a.json.gz", "v1", "0123abcd");
  WorkUnit u;
  u.payload = WorkUnit::Payload::kEvent;
  u.name = "message m1";
  u.bytes =
      R"({"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"StopConfigurationRecorder","eventSource":"config.amazonaws.com","eventID":"e1"})";
  u.origin.route = RecordOrigin::Route::kInlineEvent;
  u.origin.event_id = "eb-1";
  f.source.add(std::move(u));
  CHECK(f.run() == 0);
  CHECK(stage.identities == std::vector<std::string>{"", ""});
}

namespace {

// A stage that checks objects (as the integrity stage does): keeps a copy of every StageObject
// it is given (the views live only as long as process()), and counts units without one.
struct ObjectStage final : Stage {
  struct Seen {
    StageObject::Kind kind;
    std::string bucket, key, sha256, content, signature, etag;
    bool metadata = false;
    int64_t sent_ms = 0;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  size_t without_object = 0;
  bool want = true;
  bool wants_objects() const override { return want; }
  std::string process(StageUnit& u) override {
    std::lock_guard<std::mutex> lock(mu);
    if (!u.object) {
      ++without_object;
      return {};
    }
    const StageObject& o = *u.object;
    Seen s{o.kind, std::string(o.bucket), std::string(o.key), std::string(o.sha256),
           std::string(o.content), {}, {}, o.metadata != nullptr, o.sent_ms};
    if (o.metadata) {
      if (const std::string* sig = o.metadata->find("signature")) s.signature = *sig;
      s.etag = o.metadata->etag;
    }
    seen.push_back(std::move(s));
    return {};
  }
  const Seen* find(const std::string& key) {
    for (const Seen& s : seen)
      if (s.key == key) return &s;
    return nullptr;
  }
};

const char* kDigestKey = "AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz";
const std::string kDigestText =
    R"({"awsAccountId":"1","digestStartTime":"2024-01-01T00:00:00Z","digestEndTime":"2024-01-01T01:00:00Z","digestS3Bucket":"trail-bucket","digestS3Object":"AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz","digestSignatureAlgorithm":"SHA256withRSA","previousDigestSignature":null,"logFiles":[]})";

WorkUnit object_unit(const std::string& key, const std::string& alternate_key = {},
                     int64_t sent_ms = 0) {
  WorkUnit u;
  u.payload = WorkUnit::Payload::kObjects;
  u.name = key;
  ObjectRef o;
  o.bucket = kBucket;
  o.key = key;
  o.alternate_key = alternate_key;
  u.objects.push_back(o);
  u.origin.route = RecordOrigin::Route::kS3Object;
  u.sent_ms = sent_ms;
  return u;
}

}  // namespace

TEST_CASE("stage: a stage that wants objects is given each S3 object as read: kind, bucket and "
          "key, the hash of its inflated bytes, a digest's text and its metadata") {
  EngineFixture f;
  ObjectStage stage;
  f.stage = &stage;
  const std::string log = test::read_data("cloudtrail/awsdocs_config.json");
  f.store.objects[std::string(kBucket) + "/a.json.gz"] = test::gzip(log);
  f.store.metadata[std::string(kBucket) + "/a.json.gz"].etag = "etag-a";
  f.source.add(object_unit("a.json.gz", {}, 1'700'000'000'000));
  f.store.objects[std::string(kBucket) + "/" + kDigestKey] = test::gzip(kDigestText);
  ObjectMetadata digest_meta;
  digest_meta.user = {{"signature", "0a1b2c"}, {"signature-algorithm", "SHA256withRSA"}};
  f.store.metadata[std::string(kBucket) + "/" + kDigestKey] = digest_meta;
  f.source.add(object_unit(kDigestKey));
  const std::string other = R"({"not":"a log file"})";
  f.store.objects[std::string(kBucket) + "/other.json"] = other;
  f.source.add(object_unit("other.json"));
  // An EventBridge key found only URL-decoded: the object is the key read.
  f.store.objects[std::string(kBucket) + "/b c.json.gz"] = test::gzip(log);
  f.source.add(object_unit("b+c.json.gz", "b c.json.gz"));
  // An inline event: no object.
  WorkUnit event;
  event.payload = WorkUnit::Payload::kEvent;
  event.name = "message m1";
  event.bytes =
      R"({"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"StopConfigurationRecorder","eventSource":"config.amazonaws.com","eventID":"e1"})";
  event.origin.route = RecordOrigin::Route::kInlineEvent;
  f.source.add(std::move(event));
  CHECK(f.run() == 0);

  REQUIRE(stage.seen.size() == 4);
  CHECK(stage.without_object == 1);
  const auto* a = stage.find("a.json.gz");
  REQUIRE(a);
  CHECK(a->kind == StageObject::Kind::kLogFile);
  CHECK(a->bucket == kBucket);
  CHECK(a->sha256 == aws::sha256_hex(log));
  CHECK(a->content.empty());
  CHECK(a->metadata);
  CHECK(a->etag == "etag-a");
  CHECK(a->sent_ms == 1'700'000'000'000);
  const auto* d = stage.find(kDigestKey);
  REQUIRE(d);
  CHECK(d->kind == StageObject::Kind::kDigest);
  CHECK(d->content == kDigestText);
  CHECK(d->sha256 == aws::sha256_hex(kDigestText));
  CHECK(d->signature == "0a1b2c");
  const auto* o = stage.find("other.json");
  REQUIRE(o);
  CHECK(o->kind == StageObject::Kind::kOther);
  CHECK(o->sha256 == aws::sha256_hex(other));
  const auto* b = stage.find("b c.json.gz");
  REQUIRE(b);
  CHECK(b->kind == StageObject::Kind::kLogFile);
  CHECK(b->sha256 == aws::sha256_hex(log));
  // The alerts still go out: two log files of four and the event's one.
  CHECK(f.output->lines.size() == 2 * 4 + 1);
}

TEST_CASE("stage: a stage that does not want objects gets none (nothing hashed or kept)") {
  EngineFixture f;
  ObjectStage stage;
  stage.want = false;
  f.stage = &stage;
  f.add_object_unit("a.json.gz");
  f.store.objects[std::string(kBucket) + "/" + kDigestKey] = test::gzip(kDigestText);
  f.source.add(object_unit(kDigestKey));
  CHECK(f.run() == 0);
  CHECK(stage.seen.empty());
  CHECK(stage.without_object == 2);
  CHECK(f.output->lines.size() == 4);
}

TEST_CASE("stage: an object that cannot be read never reaches the stage; its unit fails") {
  EngineFixture f;
  ObjectStage stage;
  f.stage = &stage;
  f.source.add(object_unit("missing.json.gz"));
  f.store.objects[std::string(kBucket) + "/broken.json.gz"] = test::gzip(R"({"Records":[{"a":1},)");
  f.source.add(object_unit("broken.json.gz"));
  CHECK(f.run() == 0);
  CHECK(stage.seen.empty());
  CHECK(stage.without_object == 0);
  const auto done = f.source.done_calls();
  REQUIRE(done.size() == 2);
  CHECK_FALSE(done[0].ok);
  CHECK_FALSE(done[1].ok);
}
