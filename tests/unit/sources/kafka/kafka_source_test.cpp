// The Kafka source against librdkafka's mock cluster (in process): what is committed, and what a
// new member of the group consumes again — the at-least-once guarantee — plus rebalances,
// backpressure and messages over the size limit.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/record_dead_letter.h"
#include "agent/sources/kafka/kafka_source.h"
#include "tests/unit/sources/kafka/mock_cluster.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::kafka;
using trailwarden::testing::KafkaMockCluster;

namespace {

KafkaSourceConfig config_for(const KafkaMockCluster& mc, const std::string& topic,
                             const std::string& group) {
  KafkaSourceConfig c;
  c.brokers = mc.bootstraps();
  c.topics = {topic};
  c.group_id = group;
  c.commit_interval = std::chrono::milliseconds(50);
  // Quick group joins and leaves on the mock cluster.
  c.properties.push_back({"session.timeout.ms", "6000", false});
  c.properties.push_back({"heartbeat.interval.ms", "200", false});
  c.properties.push_back({"topic.metadata.refresh.interval.ms", "1000", false});
  c.properties.push_back({"fetch.wait.max.ms", "50", false});
  return c;
}

// Where a unit is, read back from its name "kafka://topic/partition@offset".
int32_t partition_of(const WorkUnit& u) {
  const size_t slash = u.name.rfind('/');
  return static_cast<int32_t>(std::stol(u.name.substr(slash + 1)));
}
int64_t offset_of(const WorkUnit& u) { return std::stoll(u.name.substr(u.name.rfind('@') + 1)); }

std::unique_ptr<KafkaSource> started(KafkaSourceConfig c, KafkaSource::Options o = {}) {
  o.wait = std::chrono::milliseconds(100);
  auto s = std::make_unique<KafkaSource>(std::move(c), std::move(o));
  std::string error;
  REQUIRE_MESSAGE(s->start(error), error);
  return s;
}

// Units from `s` until `want` arrived or `seconds` passed.
std::vector<WorkUnit> take(KafkaSource& s, size_t want, int seconds = 60) {
  std::vector<WorkUnit> out;
  std::atomic<bool> stop{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    std::string error;
    REQUIRE(s.next(want - out.size(), stop, out, error) == Source::Status::kOk);
  }
  return out;
}

// The first non-empty answer of next(max), waiting up to `seconds`.
std::vector<WorkUnit> take_any(KafkaSource& s, size_t max, int seconds = 10) {
  std::atomic<bool> stop{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<WorkUnit> out;
    std::string error;
    REQUIRE(s.next(max, stop, out, error) == Source::Status::kOk);
    if (!out.empty()) return out;
  }
  return {};
}

// close() with a watchdog: a close that does not return within `limit` aborts the test binary
// with a message instead of hanging CI (a hung close cannot be abandoned safely: the thread
// inside librdkafka still uses the source). Returns how long close() took.
std::chrono::milliseconds close_bounded(KafkaSource& s,
                                        std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto start = std::chrono::steady_clock::now();
  std::promise<void> done;
  std::future<void> closed = done.get_future();
  std::thread closer([&s, &done] {
    s.close();
    done.set_value();
  });
  if (closed.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "kafka source test: close() did not return within %lld s; aborting\n",
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  closer.join();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                start);
}

std::string value(int i) { return fmt::format(R"({{"eventID":"e-{}","eventName":"X"}})", i); }

}  // namespace

TEST_CASE("kafka source: every message done -> committed offsets are the partitions' ends") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 2);
  for (int i = 0; i < 20; ++i) mc.produce("ct", i % 2, value(i));
  mc.flush();
  auto s = started(config_for(mc, "ct", "g-all"));
  auto units = take(*s, 20);
  REQUIRE(units.size() == 20);
  std::set<std::string> payloads;
  for (const WorkUnit& u : units) {
    payloads.insert(u.bytes);
    CHECK(u.payload == WorkUnit::Payload::kBytes);  // the engine decodes the value as it is
    CHECK(u.name == fmt::format("kafka://ct/{}@{}", partition_of(u), offset_of(u)));
    CHECK(u.origin.route == RecordOrigin::Route::kKafka);  // unverified trust domain
    CHECK(u.origin.notification == "kafka");
    CHECK(u.origin.topic == "ct");
    CHECK(u.origin.partition == partition_of(u));
    CHECK(u.origin.offset == offset_of(u));
    CHECK(u.origin.message_id == u.name);
    CHECK(u.sent_ms > 1700000000000);  // the producer's create time
  }
  CHECK(payloads.size() == 20);
  CHECK(s->in_flight() == 20);
  for (const WorkUnit& u : units) s->done(u.token, true, {});
  CHECK(s->in_flight() == 0);
  close_bounded(*s);
  CHECK(s->stats().done_ok == 20);
  CHECK(mc.committed("g-all", "ct", 2) == std::vector<int64_t>{10, 10});
}

TEST_CASE("kafka source: done out of order commits only the contiguous prefix; a new member "
          "consumes the rest again (at least once)") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 2);
  for (int i = 0; i < 12; ++i) mc.produce("ct", i / 6, value(i));  // 0-5 -> p0, 6-11 -> p1
  mc.flush();
  {
    auto s = started(config_for(mc, "ct", "g-order"));
    auto units = take(*s, 12);
    REQUIRE(units.size() == 12);
    std::map<int32_t, std::vector<const WorkUnit*>> by_partition;
    for (const WorkUnit& u : units) by_partition[partition_of(u)].push_back(&u);
    for (auto& [p, in_partition] : by_partition) {
      REQUIRE(in_partition.size() == 6);
      std::sort(in_partition.begin(), in_partition.end(),
                [](const WorkUnit* x, const WorkUnit* y) { return offset_of(*x) < offset_of(*y); });
      for (int o : {5, 0, 3, 1, 4}) s->done(in_partition[static_cast<size_t>(o)]->token, true, {});
    }
    // Partition 0: offset 2 is released unfinished at shutdown (its late done() is ignored).
    // Partition 1: offset 2 failed.
    s->release({by_partition[0][2]->token});
    s->done(by_partition[0][2]->token, true, {});
    s->done(by_partition[1][2]->token, false, "the outputs did not take its alerts");
    s->done(by_partition[1][2]->token, true, {});  // a second done() of a unit is ignored
    close_bounded(*s);
    CHECK(s->stats().done_ok == 10);
    CHECK(s->stats().done_failed == 1);
    CHECK(s->stats().done_ignored == 2);
  }
  CHECK(mc.committed("g-order", "ct", 2) == std::vector<int64_t>{2, 2});
  // The same group again: offset 2 and everything after it in each partition, nothing before.
  auto again = started(config_for(mc, "ct", "g-order"));
  auto units = take(*again, 8, 60);  // a join after a leave can take a while under load
  REQUIRE(units.size() == 8);
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (const WorkUnit& u : units) {
    offsets[partition_of(u)].push_back(offset_of(u));
    CHECK(u.bytes == value(partition_of(u) * 6 + static_cast<int>(offset_of(u))));
  }
  CHECK(offsets[0] == std::vector<int64_t>{2, 3, 4, 5});
  CHECK(offsets[1] == std::vector<int64_t>{2, 3, 4, 5});
  for (const WorkUnit& u : units) again->done(u.token, true, {});
  close_bounded(*again);
  CHECK(mc.committed("g-order", "ct", 2) == std::vector<int64_t>{6, 6});
}

TEST_CASE("kafka source: backpressure pauses partitions at max_in_flight and keeps polling") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 2);
  for (int i = 0; i < 30; ++i) mc.produce("ct", i % 2, value(i));
  mc.flush();
  auto c = config_for(mc, "ct", "g-bp");
  c.max_in_flight = 10;
  auto s = started(c);
  auto first = take(*s, 1);  // the group joined
  // Asks for everything for a second, gets at most max_in_flight.
  for (WorkUnit& u : take(*s, 29, 1)) first.push_back(std::move(u));
  CHECK(first.size() >= 10);
  CHECK(first.size() <= 11);  // the message polled while the pause is requested
  CHECK(s->stats().pauses > 0);
  size_t total = first.size();
  std::set<std::string> seen;
  for (const WorkUnit& u : first) seen.insert(u.bytes);
  // Doing the units resumes consumption; the rest arrives in bounded portions.
  std::vector<WorkUnit> batch = std::move(first);
  while (total < 30) {
    for (const WorkUnit& u : batch) s->done(u.token, true, {});
    // Every unit handed out is done (a message fetched while the pause took effect may be
    // waiting to be handed out: in flight, not handed out).
    CHECK(s->handed_out() == 0);
    batch = take_any(*s, 30 - total);
    REQUIRE(!batch.empty());
    CHECK(batch.size() <= 11);
    total += batch.size();
    for (const WorkUnit& u : batch) seen.insert(u.bytes);
  }
  for (const WorkUnit& u : batch) s->done(u.token, true, {});
  CHECK(seen.size() == 30);
  close_bounded(*s);
  CHECK(mc.committed("g-bp", "ct", 2) == std::vector<int64_t>{15, 15});
}

// At least once, exactly as promised: a commit the group refuses while it rebalances (members
// joining and leaving) must not lose a message; it may make one be consumed again. So: every
// message is done by someone, and once both have closed, a last member of the group consumes
// whatever was not committed (duplicates, never loss) and the group's offsets reach every
// partition's end.
TEST_CASE("kafka source: a rebalance between two members loses nothing") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 4);
  constexpr int kCount = 200;
  for (int i = 0; i < kCount / 2; ++i) mc.produce("ct", i % 4, value(i));
  mc.flush();
  auto a = started(config_for(mc, "ct", "g-two"));
  std::map<std::string, int> done_by;  // payload -> how often done
  std::atomic<bool> stop{false};
  // A takes some, then B joins: A's partitions are revoked and shared while units are in work.
  auto early = take(*a, 20);
  REQUIRE(early.size() == 20);
  auto b = started(config_for(mc, "ct", "g-two"));
  for (int i = kCount / 2; i < kCount; ++i) mc.produce("ct", i % 4, value(i));
  mc.flush();
  for (const WorkUnit& u : early) {
    a->done(u.token, true, {});  // possibly after the revocation: then ignored, consumed again
    ++done_by[u.bytes];
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (done_by.size() < static_cast<size_t>(kCount) && std::chrono::steady_clock::now() < deadline) {
    for (KafkaSource* s : {a.get(), b.get()}) {
      std::vector<WorkUnit> got;
      std::string error;
      REQUIRE(s->next(50, stop, got, error) == Source::Status::kOk);
      for (const WorkUnit& u : got) {
        s->done(u.token, true, {});
        ++done_by[u.bytes];
      }
    }
  }
  CHECK(done_by.size() == static_cast<size_t>(kCount));  // every message done by someone
  CHECK(a->stats().rebalances + b->stats().rebalances >= 3);
  close_bounded(*a);
  close_bounded(*b);
  // What the group has not committed is consumed again by its next member: only messages
  // already done (duplicates), and once those are done the offsets are at the ends.
  const std::vector<int64_t> ends{kCount / 4, kCount / 4, kCount / 4, kCount / 4};
  std::vector<int64_t> committed = mc.committed("g-two", "ct", 4);
  size_t again = 0;
  if (committed != ends) {
    auto last = started(config_for(mc, "ct", "g-two"));
    size_t behind = 0;
    for (size_t p = 0; p < 4; ++p) behind += static_cast<size_t>(ends[p] - std::max<int64_t>(committed[p], 0));
    for (const WorkUnit& u : take(*last, behind, 60)) {
      CHECK(done_by.count(u.bytes) == 1);  // never a message nobody had
      last->done(u.token, true, {});
      ++again;
    }
    CHECK(again == behind);
    close_bounded(*last);
    committed = mc.committed("g-two", "ct", 4);
  }
  MESSAGE("consumed again after the members closed: " << again);
  CHECK(committed == ends);
}

TEST_CASE("kafka source: hostile bytes pass through; a message over max_message_bytes is a "
          "counted, recorded skip") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 1);
  const std::string hostile("\x00\xff{\"Records\":[\x01\n", 17);
  mc.produce("ct", 0, hostile);
  mc.produce("ct", 0, std::string(5000, 'A'));
  mc.produce("ct", 0, "");
  mc.produce("ct", 0, value(3));
  mc.flush();
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("tw-kafka-{}", ::getpid());
  std::filesystem::create_directories(dir);
  RecordDeadLetterFile dead((dir / "bad-records.ndjson").string(), 1 << 20);
  auto c = config_for(mc, "ct", "g-big");
  c.max_message_bytes = 4096;
  KafkaSource::Options o;
  o.dead_letters = &dead;
  auto s = started(c, o);
  auto units = take(*s, 3);
  REQUIRE(units.size() == 3);
  CHECK(units[0].bytes == hostile);
  CHECK(units[1].bytes.empty());
  CHECK(offset_of(units[1]) == 2);
  CHECK(units[2].bytes == value(3));
  CHECK(s->stats().oversized == 1);
  for (const WorkUnit& u : units) s->done(u.token, true, {});
  close_bounded(*s);
  CHECK(mc.committed("g-big", "ct", 1) == std::vector<int64_t>{4});  // the skip is committed
  const std::string record = trailwarden::test::read_file(dead.path());
  CHECK(record.find(R"("object":"kafka://ct/0@1")") != std::string::npos);
  CHECK(record.find("over source.kafka.max_message_bytes (4096)") != std::string::npos);
  CHECK(record.find(R"("record_bytes":5000)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kafka source: a message that cannot be recorded is kept, not dropped") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 1);
  mc.produce("ct", 0, std::string(5000, 'A'));
  mc.produce("ct", 0, value(1));
  mc.flush();
  RecordDeadLetterFile dead("/dev/null/bad-records.ndjson", 1 << 20);  // not a directory
  auto c = config_for(mc, "ct", "g-unrecorded");
  c.max_message_bytes = 4096;
  KafkaSource::Options o;
  o.dead_letters = &dead;
  auto s = started(c, o);
  auto units = take(*s, 1);
  REQUIRE(units.size() == 1);
  s->done(units[0].token, true, {});
  close_bounded(*s);
  CHECK(s->stats().oversized == 1);
  CHECK(s->stats().done_failed == 1);
  CHECK(mc.committed("g-unrecorded", "ct", 1) == std::vector<int64_t>{-1001});  // nothing
}

TEST_CASE("kafka source: brokers down -> it waits and resumes; not authorized -> fatal") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 1);
  mc.produce("ct", 0, value(0));
  mc.flush();
  auto s = started(config_for(mc, "ct", "g-down"));
  auto units = take(*s, 1);
  REQUIRE(units.size() == 1);
  s->done(units[0].token, true, {});
  REQUIRE(rd_kafka_mock_broker_set_down(mc.handle(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  std::atomic<bool> stop{false};
  std::vector<WorkUnit> none;
  std::string error;
  CHECK(s->next(10, stop, none, error) == Source::Status::kOk);
  CHECK(none.empty());
  CHECK_FALSE(s->fatal());
  REQUIRE(rd_kafka_mock_broker_set_up(mc.handle(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  mc.produce("ct", 0, value(1));
  mc.flush();
  units = take(*s, 1);
  REQUIRE(units.size() == 1);
  CHECK(units[0].bytes == value(1));
  s->done(units[0].token, true, {});
  CHECK_FALSE(s->fatal());
  close_bounded(*s);

  // The group's coordinator refuses us: nothing will work until an operator acts.
  rd_kafka_resp_err_t denied = RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
  rd_kafka_mock_push_request_errors_array(mc.handle(), 11 /*JoinGroup*/, 1, &denied);
  auto other = started(config_for(mc, "ct", "g-denied"));
  std::string why;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!other->fatal(&why) && std::chrono::steady_clock::now() < deadline)
    other->next(1, stop, none, error);
  CHECK(other->fatal(&why));
  CHECK(why.find("GROUP_AUTHORIZATION_FAILED") != std::string::npos);
  error.clear();
  CHECK(other->next(10, stop, none, error) == Source::Status::kFatal);
  CHECK(error == why);
  CHECK(none.empty());
  close_bounded(*other);
}

TEST_CASE("kafka source: close() is bounded when the coordinator is gone; what was not "
          "committed is consumed again") {
  KafkaMockCluster mc;
  mc.create_topic("ct", 1);
  for (int i = 0; i < 3; ++i) mc.produce("ct", 0, value(i));
  mc.flush();
  KafkaSource::Options o;
  o.close_timeout = std::chrono::milliseconds(2000);
  o.commit_timeout = std::chrono::milliseconds(500);
  {
    auto s = started(config_for(mc, "ct", "g-gone"), o);
    auto units = take(*s, 3);
    REQUIRE(units.size() == 3);
    REQUIRE(rd_kafka_mock_broker_set_down(mc.handle(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    for (const WorkUnit& u : units) s->done(u.token, true, {});
    const auto took = close_bounded(*s);
    // close_timeout and the commit's wait, then librdkafka's own teardown of a consumer whose
    // brokers are gone (about 5 s measured with 2.0.2), with slack for a loaded machine.
    CHECK(took < std::chrono::milliseconds(2000 + 500 + 5000 + 2500));
  }
  REQUIRE(rd_kafka_mock_broker_set_up(mc.handle(), 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  // Nothing was committed: a new member consumes all three again (at least once).
  CHECK(mc.committed("g-gone", "ct", 1) == std::vector<int64_t>{-1001});
}
