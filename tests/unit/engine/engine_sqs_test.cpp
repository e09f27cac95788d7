// `run`'s pipeline — the engine over an SqsSource — and its acknowledgement logic against
// in-process fakes of the queue and the store. (The real SQS and S3 clients are tested against
// the fauxqs emulator in tests/integration.)
#include "agent/engine/engine.h"
#include "agent/sources/sqs/sqs_source.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <condition_variable>
#include <fmt/format.h>
#include <future>
#include <map>
#include <mutex>
#include <simdjson.h>
#include <thread>

#include "agent/rules/rule.h"
#include "outputs/delivery/disk_queue.h"
#include "tests/fakes/fake_message_queue.h"
#include "tests/fakes/fake_object_store.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/memory_output.h"
#include "tests/unit/aws/fakes.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using trailwarden::testing::EventLog;
using trailwarden::testing::FakeQueue;
using trailwarden::testing::FakeStore;
using trailwarden::testing::ManualClock;
using trailwarden::testing::MemoryOutput;
using namespace std::chrono_literals;

namespace {

std::string s3_notification(const std::string& bucket, const std::string& key) {
  return R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":")" +
         bucket + R"("},"object":{"key":")" + key + R"(","size":1}}}]})";
}

struct Fixture {
  EventLog log;
  FakeQueue queue{log};
  FakeStore store;
  MemoryOutput* output = nullptr;  // owned by the pipeline
  std::unique_ptr<DeliveryPipeline> pipeline;
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> enabled;
  SqsSourceConfig sqs;
  SqsSourceTiming sqs_timing;
  EngineOptions options;
  std::atomic<bool> stop{false};
  const Clock* clock = &system_clock();  // the source's and the engine's
  std::unique_ptr<SqsSource> source;
  std::unique_ptr<Engine> daemon;
  std::thread thread;
  int exit_status = -1;
  std::string buffer_dir;    // non-empty: the output has a disk buffer in this state directory
  bool output_down = false;  // the output fails every send (its alerts stay buffered)
  size_t buffer_max_bytes = 0;  // 0: the default

  Fixture() {
    for (const auto& r : rules)
      if (r.enabled) enabled.push_back(&r);  // cis-4.9
    sqs.allowed_buckets = {"trail-bucket"};
    sqs.wait_time_seconds = 1;
    options.workers = 2;
    options.fetch.retry_base = 1ms;
    options.fetch.retry_max = 5ms;
    sqs_timing.retry_base = 1ms;
    sqs_timing.retry_max = 5ms;
    options.shutdown_deadline = 5s;
    store.objects["trail-bucket/AWSLogs/1/CloudTrail/us-east-1/a.json.gz"] =
        test::gzip(test::read_data("cloudtrail/awsdocs_config.json"));
  }
  void start() {
    auto out = std::make_unique<MemoryOutput>(log);
    output = out.get();
    output->down = output_down;
    std::vector<DeliveryPipeline::Entry> entries;
    DeliveryPipeline::Entry e;
    e.settings.name = "memory";
    e.settings.buffer = buffer_dir.empty() ? OutputSettings::BufferType::kMemory
                                           : OutputSettings::BufferType::kDisk;
    e.settings.retry_initial = 1ms;
    e.settings.retry_max = 5ms;
    if (buffer_max_bytes) e.settings.buffer_max_bytes = buffer_max_bytes;
    e.output = std::move(out);
    entries.push_back(std::move(e));
    pipeline = std::make_unique<DeliveryPipeline>(std::move(entries),
                                                buffer_dir.empty() ? "/tmp" : buffer_dir);
    // As `run` does: what the buffers hold goes into the window before anything is delivered.
    source = std::make_unique<SqsSource>(sqs, queue, *clock, sqs_timing);
    daemon = std::make_unique<Engine>(options, *source, &store,
                                      std::make_shared<const RuleSet>(enabled), *pipeline, *clock);
    std::string error;
    REQUIRE(pipeline->start(error, [this](const std::vector<std::string>& uids, std::string& why) {
      return daemon->remember_buffered(uids, why);
    }));
    thread = std::thread([this] { exit_status = daemon->run(stop); });
  }
  int finish() {
    stop = true;
    thread.join();
    pipeline->stop(std::chrono::seconds(1));
    return exit_status;
  }
  ~Fixture() {
    if (thread.joinable()) finish();
  }
};

const char* kKey = "AWSLogs/1/CloudTrail/us-east-1/a.json.gz";

std::string eventbridge_object_created(const std::string& bucket, const std::string& key,
                                      const std::string& extra = "") {
  return R"({"version":"0","id":"eb-1","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"bucket":{"name":")" +
         bucket + R"("},"object":{"key":")" + key + R"(","size":1)" + extra + R"(}}})";
}

}  // namespace

TEST_CASE("a notification's alerts are written and flushed before the message is deleted") {
  Fixture f;
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.size() == 4);  // the four Config changes in the file
  auto events = f.log.snapshot();
  auto last_write = std::find(events.rbegin(), events.rend(), std::string("write")).base();
  auto flush_after = std::find(last_write, events.end(), std::string("flush"));
  auto del = std::find(events.begin(), events.end(), std::string("delete r-m0"));
  REQUIRE(flush_after != events.end());
  REQUIRE(del != events.end());
  CHECK(flush_after < del);
  CHECK(f.daemon->delivery_counters().alerts_sent == 4);
  CHECK(f.daemon->counters().records == 10);
}

TEST_CASE("alerts whose eventTime does not parse are counted (trailwarden_alert_time_unparsed_total)") {
  Fixture f;
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  text.insert(text.find('[') + 1,
              R"({"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder",)"
              R"("eventTime":"yesterday","eventID":"t1"},)");
  f.store.objects[std::string("trail-bucket/") + kKey] = test::gzip(text);
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.size() == 5);
  CHECK(f.daemon->counters().alerts_time_unparsed == 1);
  CHECK(f.output->lines[0].find(R"("original_time":"yesterday")") != std::string::npos);
}

TEST_CASE("unknown shapes are never deleted; test events and refused buckets are") {
  Fixture f;
  f.start();
  f.queue.send(R"({"what":"is this"})");
  f.queue.send(R"({"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"})");
  f.queue.send(s3_notification("forged-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.finish() == 0);
  CHECK(f.queue.in_flight() == 1);  // the unknown one: left for the redrive policy
  CHECK(f.store.gets.empty());      // the forged bucket was never fetched
  CHECK(f.source->counters().messages_unknown == 1);
  CHECK(f.source->counters().notifications_refused == 1);
  CHECK(f.output->lines.empty());
}

TEST_CASE("a missing object keeps the message for redelivery") {
  Fixture f;
  f.options.workers = 1;  // tasks run in order: the good message finishes after the bad one
  f.start();
  f.queue.send(s3_notification("trail-bucket", "AWSLogs/1/CloudTrail/us-east-1/missing.json.gz"));
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.source->counters().messages_failed == 1);
  CHECK(f.queue.deleted() == 1);
  CHECK(f.queue.in_flight() == 1);  // the missing object's message: not deleted
}

TEST_CASE("transient fetch errors are retried") {
  Fixture f;
  f.store.transient_failures[std::string("trail-bucket/") + kKey] = 2;
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.daemon->fetch_counters().fetch_retries == 2);
  CHECK(f.output->lines.size() == 4);
}

TEST_CASE("a redelivered notification does not alert twice") {
  Fixture f;
  char dir[] = "/tmp/tw-daemon-XXXXXX";
  REQUIRE(mkdtemp(dir));
  f.options.delivery.dedup_path = std::string(dir) + "/dedup.log";
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.size() == 4);
  CHECK(f.daemon->delivery_counters().alerts_suppressed == 4);
  // and across a restart, from the state file
  Fixture g;
  g.options.delivery.dedup_path = f.options.delivery.dedup_path;
  g.start();
  g.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(g.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(g.finish() == 0);
  CHECK(g.output->lines.empty());
}

TEST_CASE("alerts a killed run left in the disk buffer do not alert again when their message "
          "comes back") {
  char dir[] = "/tmp/tw-daemon-XXXXXX";
  REQUIRE(mkdtemp(dir));
  {
    // The first run buffers the object's four alerts (the destination is down) and the message
    // is deleted, but its window is lost: as a kill -9 between the buffer append and the
    // window's sync leaves things (the message then also comes back: sent again below).
    Fixture f;
    f.buffer_dir = dir;
    f.output_down = true;
    f.start();
    f.queue.send(s3_notification("trail-bucket", kKey));
    REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
    CHECK(f.finish() == 0);
    CHECK(f.daemon->delivery_counters().alerts_sent == 4);
    CHECK(f.output->lines.empty());
  }
  Fixture g;
  g.buffer_dir = dir;
  g.options.delivery.dedup_path = std::string(dir) + "/dedup.log";
  g.options.workers = 1;
  g.start();
  g.queue.send(s3_notification("trail-bucket", kKey));  // the same message, redelivered
  REQUIRE(g.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  REQUIRE(g.log.await_count("write", 4));  // the buffered ones
  CHECK(g.finish() == 0);
  CHECK(g.output->lines.size() == 4);  // once
  CHECK(g.daemon->delivery_counters().alerts_suppressed == 4);
  CHECK(g.daemon->delivery_counters().alerts_sent == 0);
  // and the window now holds them durably: a third run suppresses them from the file
  Fixture h;
  h.options.delivery.dedup_path = g.options.delivery.dedup_path;
  h.start();
  h.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(h.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(h.finish() == 0);
  CHECK(h.output->lines.empty());
}

TEST_CASE("slow objects: visibility is extended while in work, released on shutdown") {
  // On a manual clock: the heartbeat interval and the shutdown deadline pass when the test
  // says so, not in real time.
  ManualClock clock;
  Fixture f;
  f.clock = &clock;
  f.sqs.visibility_timeout_seconds = 3;
  f.sqs.heartbeat_seconds = 1;
  f.options.shutdown_deadline = 1s;
  f.store.block = true;
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  {
    std::unique_lock<std::mutex> l(f.store.mu);
    f.store.cv.wait_for(l, 20s, [&] { return !f.store.gets.empty(); });  // in work
  }
  CHECK(f.queue.extensions() == 0);  // no time has passed
  // Time passes in steps of 10 ms until the heartbeat comes: it must come before the message's
  // visibility timeout (3 s) runs out, or another agent would take it while it is in work.
  // (Steps, not one jump: the heartbeat thread may be between two waits when time moves.)
  const auto moved_from = clock.now();
  while (f.queue.extensions() == 0 && clock.now() - moved_from < 3s) {
    clock.advance(10ms);
    f.queue.await([](FakeQueue& q) { return q.extensions() >= 1; }, 2ms);
  }
  REQUIRE(f.queue.extensions() >= 1);  // heartbeat
  CHECK(clock.now() - moved_from >= 1s);  // not before the heartbeat interval
  CHECK(f.queue.deleted() == 0);
  // Stop while the fetch is still blocked: after the deadline the message is released.
  f.stop = true;
  std::atomic<bool> released{false};  // the message was visible again while the fetch was stuck
  std::atomic<bool> finished{false};
  std::thread releaser([&] {
    // Moves time until the engine has given up on the fetch, then lets the fetch end, and keeps
    // time moving until the engine has stopped: every wait of the shutdown (the deadline, the
    // source's last acknowledgements) is on this clock, and a clock that stood still would hold
    // it for ever.
    bool fetch_ended = false;
    for (int i = 0; !finished; ++i) {
      clock.advance(100ms);
      std::this_thread::sleep_for(1ms);
      if (!fetch_ended && (f.queue.visible() == 1 || i >= 10000)) {
        released = f.queue.visible() == 1;
        f.store.release();
        fetch_ended = true;
      }
    }
    if (!fetch_ended) f.store.release();
  });
  CHECK(f.finish() == 0);
  finished = true;
  releaser.join();
  CHECK(released);
  CHECK(f.queue.deleted() == 0);
  CHECK(f.queue.visible() == 1);  // visible again at once for another agent
  auto events = f.log.snapshot();
  CHECK(std::find(events.begin(), events.end(), std::string("visibility r-m0 0")) != events.end());
}

namespace {

// Stops the fixture's daemon and pipeline on another thread. True if that took less than
// `limit`; if not, the output comes back (so that a stuck submit ends and the test too).
bool finish_within(Fixture& f, std::chrono::milliseconds limit) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::thread t([&] {
    f.finish();
    done.set_value();
  });
  const bool in_time = finished.wait_for(limit) == std::future_status::ready;
  if (!in_time) f.output->down = false;
  t.join();
  return in_time;
}

}  // namespace

// Issue 9 §5 (review finding 1): a worker stuck in DeliveryPipeline::submit must not hold the
// shutdown past its deadline (systemd would SIGKILL the agent at TimeoutStopSec).
TEST_CASE(
    "stop ends at the shutdown deadline while a memory buffer waits for an output that is down") {
  Fixture f;
  f.options.shutdown_deadline = 1s;
  f.output_down = true;  // memory buffer: submit waits for a delivery that never comes
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.log.await_count("down", 1));  // the alerts are in the buffer: the worker waits
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(finish_within(f, 4s));  // deadline 1 s + margin
  INFO("stopped after "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  CHECK(f.queue.deleted() == 0);  // not acknowledged: delivered again later
  CHECK(f.queue.visible() == 1);  // released at the deadline
  CHECK(f.daemon->delivery_counters().alerts_sent == 0);
}

TEST_CASE("stop ends at the shutdown deadline while a full disk buffer blocks a submit") {
  char dir[] = "/tmp/tw-daemon-XXXXXX";
  REQUIRE(mkdtemp(dir));
  constexpr size_t kMax = 128 * 1024;
  {
    // A previous run left the buffer all but full (one big alert nobody could deliver).
    DiskQueue::Options o;
    o.max_bytes = kMax;
    o.name = "memory";
    DiskQueue q(std::string(dir) + "/buffers/memory", o);
    std::string error;
    REQUIRE(q.open(error));
    AlertRecord a;
    a.uid = "left-over";
    a.rule_id = "cis-4.9";
    a.ocsf = "\"" + std::string(kMax - 1024, 'x') + "\"";
    std::string record;
    a.encode(record);
    REQUIRE(q.append({record}, error) == DiskQueue::AppendResult::kOk);
  }
  Fixture f;
  f.buffer_dir = dir;
  f.buffer_max_bytes = kMax;
  f.output_down = true;
  f.options.shutdown_deadline = 1s;
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  {
    std::unique_lock<std::mutex> l(f.store.mu);
    REQUIRE(f.store.cv.wait_for(l, 20s, [&] { return !f.store.gets.empty(); }));
  }
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(finish_within(f, 4s));  // deadline 1 s + margin
  INFO("stopped after "
       << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
  CHECK(f.queue.deleted() == 0);
  CHECK(f.queue.visible() == 1);
  CHECK(f.daemon->delivery_counters().alerts_sent == 0);
  std::filesystem::remove_all(dir);
}

namespace {

// An EventBridge "AWS API Call via CloudTrail" event for StopConfigurationRecorder (a CIS 4.9
// trigger) with the given envelope and record fields.
std::string inline_event(const std::string& event_id, const std::string& source = "aws.config",
                         const std::string& account = "222222222222",
                         const std::string& record_account = "222222222222",
                         const std::string& user = "arn:aws:iam::222222222222:user/JohnDoe") {
  return R"({"version":"0","id":"eb-)" + event_id +
         R"(","detail-type":"AWS API Call via CloudTrail","source":")" + source +
         R"(","account":")" + account +
         R"(","time":"2014-12-11T18:35:13Z","region":"us-west-2","resources":[],"detail":{"eventVersion":"1.02","userIdentity":{"type":"IAMUser","arn":")" +
         user +
         R"("},"eventTime":"2014-12-11T18:35:13Z","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"us-west-2","eventID":")" +
         event_id + R"(","eventType":"AwsApiCall","recipientAccountId":")" + record_account + R"("}})";
}

void accept_inline(SqsSourceConfig& o) {
  o.inline_events = true;
  o.inline_accounts = {"222222222222"};
}

// The eventID of StopConfigurationRecorder in tests/data/cloudtrail/awsdocs_config.json.
const char* kRealEventId = "6225a85d-1e49-41e9-bf43-3cfc5549e560";

}  // namespace

TEST_CASE("a download still running at the shutdown deadline is cancelled, the message released") {
  Fixture f;
  f.options.shutdown_deadline = 1s;
  f.store.block = true;  // S3 never finishes this object (a trickle); nobody releases it
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  {
    std::unique_lock<std::mutex> l(f.store.mu);
    REQUIRE(f.store.cv.wait_for(l, 20s, [&] { return !f.store.gets.empty(); }));
  }
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(f.finish() == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
  CHECK(f.queue.deleted() == 0);
  CHECK(f.queue.visible() == 1);
}

TEST_CASE("EventBridge CloudTrail events are matched without any fetch, when accepted") {
  Fixture f;
  accept_inline(f.sqs);
  f.start();
  f.queue.send(inline_event("ev-inline"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets.empty());
  REQUIRE(f.output->lines.size() == 1);
  const std::string& a = f.output->lines[0];
  CHECK(a.find("ev-inline") != std::string::npos);
  CHECK(a.find(R"("unmapped":{"trailwarden":{"route":"eventbridge","verified":false,)") !=
        std::string::npos);
  CHECK(a.find(R"("eventbridge_event_id":"eb-ev-inline")") != std::string::npos);
  CHECK(a.find("[unverified: EventBridge event, not read from S3]") != std::string::npos);
  CHECK(a.find(R"("log_name")") == std::string::npos);
  CHECK(f.source->counters().inline_events_refused == 0);
}

TEST_CASE("inline events are refused unless the inline route is turned on") {
  Fixture f;  // default options: inline_events off
  f.start();
  f.queue.send(inline_event("ev-off"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.empty());
  CHECK(f.source->counters().inline_events_refused == 1);
  CHECK(f.daemon->counters().records == 0);
}

TEST_CASE("the first refusal of an inline route that is off is an ERROR saying how to turn it on") {
  aws::test::LogCapture logs;
  Fixture f;  // default options: inline_events off (as after an upgrade)
  f.options.workers = 1;
  f.start();
  for (int i = 0; i < 3; ++i) f.queue.send(inline_event("ev-upgrade-" + std::to_string(i)));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 3; }));
  CHECK(f.finish() == 0);
  const std::string text = logs.text();
  size_t errors = 0, warnings = 0;
  for (size_t at = 0; (at = text.find("inline EventBridge event refused", at)) != std::string::npos;
       ++at) {
    const size_t line = text.rfind('\n', at) + 1;
    const std::string_view head(text.data() + line, at - line);
    errors += head.find("[error]") != std::string_view::npos;
    warnings += head.find("[warning]") != std::string_view::npos;
  }
  CHECK(errors == 1);
  CHECK(warnings == 2);
  CHECK(text.find("set [source.sqs] inline_events = true and inline_accounts") != std::string::npos);
  CHECK(f.source->counters().inline_events_refused == 3);
}

TEST_CASE("forged inline events are refused: custom source, other account, contradicting record") {
  Fixture f;
  accept_inline(f.sqs);
  f.start();
  f.queue.send(inline_event("ev-custom", "attacker.custom"));
  f.queue.send(inline_event("ev-account", "aws.config", "999999999999", "999999999999"));
  f.queue.send(inline_event("ev-mismatch", "aws.config", "222222222222", "999999999999"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 3; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.empty());
  CHECK(f.source->counters().inline_events_refused == 3);
  CHECK(f.daemon->delivery_counters().alerts_sent == 0);
}

TEST_CASE("a forged inline event reusing a real eventID never hides the record read from S3") {
  Fixture f;
  accept_inline(f.sqs);
  f.options.workers = 1;
  f.start();
  // The attacker's own StopConfigurationRecorder call, retold first with an invented user ...
  f.queue.send(inline_event(kRealEventId, "aws.config", "222222222222", "222222222222",
                            "arn:aws:iam::222222222222:user/someone-else"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  // ... then the genuine record arrives from S3.
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.finish() == 0);
  CHECK(f.daemon->delivery_counters().alerts_suppressed == 0);
  REQUIRE(f.output->lines.size() == 5);  // the forgery (unverified) and all four S3 alerts
  size_t genuine = 0, forged = 0;
  for (const auto& a : f.output->lines) {
    if (a.find(kRealEventId) == std::string::npos) continue;
    if (a.find(R"("route":"s3","verified":true)") != std::string::npos) {
      ++genuine;
      CHECK(a.find("user/JohnDoe") != std::string::npos);
      CHECK(a.find(std::string(R"("log_name":"s3://trail-bucket/)") + kKey + "\"") !=
            std::string::npos);
    } else if (a.find(R"("route":"eventbridge","verified":false)") != std::string::npos) {
      ++forged;
      CHECK(a.find("user/someone-else") != std::string::npos);
    }
  }
  CHECK(genuine == 1);
  CHECK(forged == 1);
}

TEST_CASE("inline events relayed by SNS are refused unless inline_events_via_sns is on") {
  // Anyone allowed to sns:Publish to a topic subscribed to the queue could write this envelope.
  std::string quoted = "\"";
  for (char c : inline_event("ev-sns")) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  const std::string wrapped =
      R"({"Type":"Notification","MessageId":"1","TopicArn":"arn:aws:sns:us-west-2:222222222222:t","Message":)" +
      quoted + "\"}";
  {
    Fixture f;
    accept_inline(f.sqs);
    f.start();
    f.queue.send(wrapped);
    REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
    CHECK(f.finish() == 0);
    CHECK(f.output->lines.empty());
    CHECK(f.source->counters().inline_events_refused == 1);
  }
  {
    Fixture f;
    accept_inline(f.sqs);
    f.sqs.inline_events_via_sns = true;
    f.start();
    f.queue.send(wrapped);
    REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
    CHECK(f.finish() == 0);
    REQUIRE(f.output->lines.size() == 1);
    CHECK(f.output->lines[0].find(R"("notification":"sns/eventbridge/cloudtrail")") !=
          std::string::npos);
    CHECK(f.source->counters().inline_events_refused == 0);
  }
}

TEST_CASE("the event-age gauge follows records read from S3 only, and never the future") {
  Fixture f;
  accept_inline(f.sqs);
  f.options.workers = 1;
  // An object whose newest record claims 2099 (a clock far ahead), next to one from 2024.
  const char* future_key = "AWSLogs/1/CloudTrail/us-east-1/future.json.gz";
  f.store.objects[std::string("trail-bucket/") + future_key] = test::gzip(
      R"({"Records":[{"eventTime":"2099-01-01T00:00:00Z","eventName":"X","eventSource":"a"},)"
      R"({"eventTime":"2024-05-06T07:08:09Z","eventName":"Y","eventSource":"a"}]})");
  f.start();
  // An accepted inline event (its eventTime 2014-12-11T18:35:13Z) does not move the gauge.
  std::string from_2099 = inline_event("ev-2099");
  from_2099.replace(from_2099.find("\"eventTime\":\"2014"), 16, "\"eventTime\":\"2099");
  f.queue.send(from_2099);
  f.queue.send(inline_event("ev-2014"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.output->lines.size() == 2);  // both accepted and matched
  CHECK(f.daemon->counters().newest_event_ms == 0);
  // Records read from S3 do; a record from the future does not.
  f.queue.send(s3_notification("trail-bucket", future_key));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 3; }));
  CHECK(f.daemon->counters().newest_event_ms == 1714979289000);  // 2024-05-06T07:08:09Z
  f.queue.send(s3_notification("trail-bucket", kKey));  // 2014: older, the gauge keeps 2024
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 4; }));
  CHECK(f.finish() == 0);
  CHECK(f.daemon->counters().newest_event_ms == 1714979289000);
}

TEST_CASE("redelivered inline events are still suppressed among themselves") {
  Fixture f;
  accept_inline(f.sqs);
  f.start();
  f.queue.send(inline_event("ev-twice"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  f.queue.send(inline_event("ev-twice"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.size() == 1);
  CHECK(f.daemon->delivery_counters().alerts_suppressed == 1);
}

TEST_CASE("S3's own API calls via EventBridge (source aws.s3) are matched, not dropped") {
  Fixture f;
  for (const auto& r : f.rules)
    if (r.id == "cis-4.8") f.enabled.push_back(&r);  // S3 bucket policy changes
  f.sqs.inline_events = true;
  f.sqs.inline_accounts = {"111122223333"};
  f.start();
  simdjson::dom::parser p;
  const std::string sample = test::read_data("notifications/eventbridge_s3_api_call.json");
  f.queue.send(simdjson::minify(p.parse(sample)["body"]));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  REQUIRE(f.output->lines.size() == 1);
  CHECK(f.output->lines[0].find(R"("uid":"cis-4.8")") != std::string::npos);
  CHECK(f.output->lines[0].find("PutBucketAcl") != std::string::npos);
}

TEST_CASE("digest objects are skipped unless configured") {
  Fixture f;
  f.start();
  f.queue.send(s3_notification("trail-bucket", "AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets.empty());
  CHECK(f.source->counters().objects_skipped == 1);
}

TEST_CASE("a bad record is dead-lettered; the object's good alerts go out and the message is deleted") {
  Fixture f;
  char dir[] = "/tmp/tw-daemon-XXXXXX";
  REQUIRE(mkdtemp(dir));
  f.options.delivery.bad_records_path = std::string(dir) + "/bad-records.ndjson";
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  // An invalid escape in a record the cis-4.9 rule would look at: unparseable, so bad.
  text.insert(text.find('[') + 1,
              R"({"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder",)"
              R"("userAgent":"\q"},)");
  f.store.objects[std::string("trail-bucket/") + kKey] = test::gzip(text);
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.output->lines.size() == 4);
  CHECK(f.daemon->delivery_counters().records_failed == 1);
  CHECK(f.source->counters().messages_failed == 0);
  const std::string dead = test::read_file(f.options.delivery.bad_records_path);
  CHECK(dead.find(R"("object":"s3://trail-bucket/AWSLogs/1/CloudTrail/us-east-1/a.json.gz")") !=
        std::string::npos);
  CHECK(dead.find(R"("record_index":0)") != std::string::npos);
  CHECK(dead.find(R"(\\q)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("bad records that cannot be recorded keep the message for redelivery") {
  Fixture f;
  f.options.workers = 1;  // tasks run in order: the good message finishes after the bad one
  f.options.limits.max_depth = 8;
  f.options.delivery.bad_records_path = "/proc/no-such-dir/bad-records.ndjson";  // cannot be created
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  text.insert(text.find('[') + 1, R"({"eventName":"Deep","x":[[[[[[[[[[]]]]]]]]]]},)");
  f.store.objects["trail-bucket/AWSLogs/1/CloudTrail/us-east-1/deep.json.gz"] = test::gzip(text);
  f.start();
  f.queue.send(s3_notification("trail-bucket", "AWSLogs/1/CloudTrail/us-east-1/deep.json.gz"));
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.daemon->delivery_counters().records_failed == 1);
  CHECK(f.source->counters().messages_failed == 1);
  CHECK(f.queue.in_flight() == 1);  // the deep record's message: not deleted
}

// ---- EventBridge "Object Created" keys: read as given, else their URL-decoded reading ----

TEST_CASE("an EventBridge key not found as given is read under its URL-decoded reading") {
  Fixture f;
  f.store.missing_is_denied = true;  // the documented policy has no s3:ListBucket: 403, not 404
  const std::string decoded = "AWSLogs/1/CloudTrail/us-east-1/a b+c.json.gz";
  f.store.objects["trail-bucket/" + decoded] = f.store.objects[std::string("trail-bucket/") + kKey];
  f.start();
  f.queue.send(
      eventbridge_object_created("trail-bucket", "AWSLogs/1/CloudTrail/us-east-1/a+b%2Bc.json.gz"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets ==
        std::vector<std::string>{"trail-bucket/AWSLogs/1/CloudTrail/us-east-1/a+b%2Bc.json.gz",
                                 "trail-bucket/" + decoded});
  CHECK(f.daemon->fetch_counters().key_fallbacks == 1);
  CHECK(f.source->counters().messages_failed == 0);
  REQUIRE(f.output->lines.size() == 4);
  CHECK(f.output->lines[0].find("a b+c.json.gz") != std::string::npos);  // the key read
}

TEST_CASE("the URL-decoded reading is read only as the notified object, at no version") {
  Fixture f;
  f.store.missing_is_denied = true;  // or a KMS denial: the store cannot tell the daemon which
  const std::string decoded = "AWSLogs/1/CloudTrail/us-east-1/a b.json.gz";
  f.store.objects["trail-bucket/" + decoded] = f.store.objects[std::string("trail-bucket/") + kKey];
  f.start();
  f.queue.send(eventbridge_object_created("trail-bucket", "AWSLogs/1/CloudTrail/us-east-1/a+b.json.gz",
                                          R"(,"etag":"e1","version-id":"v1")"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  REQUIRE(f.store.refs.size() == 2);
  CHECK(f.store.refs[0].version_id == "v1");
  CHECK_FALSE(f.store.refs[0].verify_identity);
  CHECK(f.store.refs[1].key == decoded);
  CHECK(f.store.refs[1].version_id.empty());  // the notified version is the other key's
  CHECK(f.store.refs[1].verify_identity);      // If-Match e1 (S3Client), else the size
  CHECK(f.store.refs[1].etag == "e1");
}

TEST_CASE("an EventBridge key found as given is read as given, once") {
  Fixture f;
  const std::string raw = "AWSLogs/1/CloudTrail/us-east-1/a+b.json.gz";
  f.store.objects["trail-bucket/" + raw] = f.store.objects[std::string("trail-bucket/") + kKey];
  f.store.objects["trail-bucket/AWSLogs/1/CloudTrail/us-east-1/a b.json.gz"] = "not this one";
  f.start();
  f.queue.send(eventbridge_object_created("trail-bucket", raw));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets == std::vector<std::string>{"trail-bucket/" + raw});
  CHECK(f.daemon->fetch_counters().key_fallbacks == 0);
}

TEST_CASE("the other reading of an EventBridge key never leaves key_prefixes or the log objects") {
  Fixture f;
  f.options.workers = 1;  // tasks run in order: the good message finishes after the bad one
  f.sqs.key_prefixes = {"AWSLogs/1/"};
  f.store.missing_is_denied = true;
  // Readable only as a digest file under its decoded key, which is not to be read.
  f.store.objects["trail-bucket/AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz"] = "{}";
  f.start();
  f.queue.send(eventbridge_object_created("trail-bucket",
                                          "AWSLogs/1/CloudTrail%2DDigest/us-east-1/d.json.gz"));
  // Outside key_prefixes in both readings: skipped without any read.
  f.queue.send(eventbridge_object_created("trail-bucket", "AWSLogs%2F2%2Fa.json.gz"));
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 2; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets ==
        std::vector<std::string>{"trail-bucket/AWSLogs/1/CloudTrail%2DDigest/us-east-1/d.json.gz",
                                 std::string("trail-bucket/") + kKey});
  CHECK(f.daemon->fetch_counters().key_fallbacks == 0);
  CHECK(f.source->counters().messages_failed == 1);
  CHECK(f.source->counters().objects_skipped == 1);
}

TEST_CASE("an EventBridge key within key_prefixes only when decoded is read decoded") {
  Fixture f;
  f.sqs.key_prefixes = {"AWSLogs/1/"};
  f.start();
  f.queue.send(eventbridge_object_created("trail-bucket",
                                          "AWSLogs%2F1%2FCloudTrail%2Fus-east-1%2Fa.json.gz"));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets == std::vector<std::string>{std::string("trail-bucket/") + kKey});
  CHECK(f.output->lines.size() == 4);
}


TEST_CASE("an S3 object is read as a CloudTrail log file only: records in other shapes are not "
          "matched there") {
  // The other input shapes (NDJSON, lookup-events, EventBridge events) are for replay and
  // Kafka; an object in the trail's bucket is what CloudTrail writes, and JSON of another shape
  // there is not a log object (as before those shapes were read anywhere).
  Fixture f;
  std::string records = test::read_data("cloudtrail/awsdocs_config.json");
  simdjson::dom::parser parser;
  std::string ndjson;
  for (simdjson::dom::element r : parser.parse(records)["Records"].get_array())
    ndjson += simdjson::minify(r) + "\n";
  f.store.objects[std::string("trail-bucket/") + kKey] = test::gzip(ndjson);
  f.start();
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.store.gets.size() == 1);
  CHECK(f.output->lines.empty());
  CHECK(f.daemon->counters().records == 0);
}

TEST_CASE("a broken log file in run: one WARN line names it and says what becomes of the message, no ERROR") {
  aws::test::LogCapture logs;
  Fixture f;
  f.options.workers = 1;  // tasks run in order: the good message finishes after the broken one
  const std::string good = test::gzip(test::read_data("cloudtrail/awsdocs_config.json"));
  const std::string broken_key = "AWSLogs/1/CloudTrail/us-east-1/broken.json.gz";
  f.store.objects["trail-bucket/" + broken_key] = good.substr(0, good.size() / 2);  // truncated
  f.start();
  f.queue.send(s3_notification("trail-bucket", broken_key));
  f.queue.send(s3_notification("trail-bucket", kKey));
  REQUIRE(f.queue.await([](FakeQueue& q) { return q.deleted() == 1; }));
  CHECK(f.finish() == 0);
  CHECK(f.source->counters().messages_failed == 1);
  const std::string text = logs.text();
  size_t lines = 0, warnings = 0;
  for (size_t at = 0; (at = text.find("broken.json.gz", at)) != std::string::npos;) {
    const size_t begin = text.rfind('\n', at) + 1;  // npos + 1 == 0: the first line
    const size_t end = text.find('\n', at);
    const std::string_view line(text.data() + begin, end - begin);
    if (line.find("[debug]") == std::string_view::npos && line.find("[trace]") == std::string_view::npos) {
      ++lines;
      if (line.find("[warning]") != std::string_view::npos &&
          line.find("is not deleted") != std::string_view::npos)
        ++warnings;
    }
    at = end;
  }
  CAPTURE(text);
  CHECK(lines == 1);
  CHECK(warnings == 1);
  CHECK(text.find("[error]") == std::string::npos);
}
