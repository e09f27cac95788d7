// SqsSource alone (no engine), on a manual clock: heartbeats, acknowledgement, release.
#include "agent/sources/sqs/sqs_source.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "tests/fakes/fake_message_queue.h"
#include "tests/fakes/manual_clock.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using trailwarden::testing::EventLog;
using trailwarden::testing::FakeQueue;
using trailwarden::testing::ManualClock;

namespace {

std::string notification(const std::string& key) {
  return R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"trail-bucket"},"object":{"key":")" +
         key + R"(","size":1}}}]})";
}

SqsSourceConfig config() {
  SqsSourceConfig c;
  c.allowed_buckets = {"trail-bucket"};
  c.wait_time_seconds = 1;
  c.visibility_timeout_seconds = 30;
  c.heartbeat_seconds = 10;
  return c;
}

}  // namespace

TEST_CASE("SqsSource: a unit per message; heartbeat on the clock; done(ok) deletes, done(!ok) keeps") {
  EventLog log;
  FakeQueue queue(log);
  ManualClock clock;
  SqsSource source(config(), queue, clock);
  queue.send(notification("AWSLogs/1/CloudTrail/us-east-1/a.json.gz"));
  queue.send(notification("AWSLogs/1/CloudTrail/us-east-1/b.json.gz"));
  std::atomic<bool> stop{false};
  std::vector<WorkUnit> units;
  std::string error;
  REQUIRE(source.next(10, stop, units, error) == Source::Status::kOk);
  REQUIRE(units.size() == 2);
  CHECK(units[0].payload == WorkUnit::Payload::kObjects);
  CHECK(units[0].objects.at(0).key == "AWSLogs/1/CloudTrail/us-east-1/a.json.gz");
  CHECK(units[0].origin.message_id == "m0");
  CHECK(source.counters().in_flight == 2);

  // The acknowledgement thread waits on the clock; nothing is extended before time passes.
  REQUIRE(clock.await_waiters(1));  // (a bounded spin of yields failed on a loaded machine)
  CHECK(queue.extensions() == 0);
  clock.advance(10s);  // the heartbeat interval: both are extended by the visibility timeout
  REQUIRE(log.await_count("visibility r-m0 30", 1));
  REQUIRE(log.await_count("visibility r-m1 30", 1));

  source.done(units[0].token, true, "");
  source.done(units[1].token, false, "cannot fetch s3://trail-bucket/b: 404");
  REQUIRE(log.await_count("delete r-m0", 1));
  source.close();
  CHECK(queue.deleted() == 1);
  CHECK(source.counters().messages_deleted == 1);
  CHECK(source.counters().messages_failed == 1);
  CHECK(source.counters().in_flight == 0);
}

TEST_CASE("SqsSource: released messages are visible again at once and never deleted") {
  EventLog log;
  FakeQueue queue(log);
  ManualClock clock;
  SqsSource source(config(), queue, clock);
  queue.send(notification("AWSLogs/1/CloudTrail/us-east-1/a.json.gz"));
  std::atomic<bool> stop{false};
  std::vector<WorkUnit> units;
  std::string error;
  REQUIRE(source.next(10, stop, units, error) == Source::Status::kOk);
  REQUIRE(units.size() == 1);
  source.release({units[0].token});
  CHECK(queue.visible() == 1);
  source.done(units[0].token, true, "");  // too late: another agent may own it now
  source.close();
  CHECK(queue.deleted() == 0);
  auto events = log.snapshot();
  CHECK(std::count(events.begin(), events.end(), std::string("visibility r-m0 0")) == 1);
}
