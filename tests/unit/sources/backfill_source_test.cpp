// BackfillSource (agent/sources/backfill/backfill_source.h): the queue of log files a digest
// lists that no notification brought. Time is a ManualClock: retries come when it is moved.
#include "agent/sources/backfill/backfill_source.h"

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "agent/metrics/metrics.h"
#include "agent/sources/merged_source.h"
#include "tests/fakes/manual_clock.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using trailwarden::testing::ManualClock;

namespace {

ObjectRef object(const std::string& key, const std::string& bucket = "trail-bucket") {
  ObjectRef o;
  o.bucket = bucket;
  o.key = key;
  return o;
}

struct Finish {
  std::string name;
  bool ok;
  std::string why;
};

struct BackfillFixture {
  ManualClock clock;
  BackfillOptions options;
  std::unique_ptr<BackfillSource> source;
  std::vector<Finish> finished;
  std::atomic<bool> stop{false};

  BackfillFixture() {
    options.attempts = 3;
    options.retry_after = 5min;
    options.max_pending = 100;
  }
  BackfillSource& make() {
    source = std::make_unique<BackfillSource>(options, clock);
    source->on_finished([this](const ObjectRef& o, bool ok, const std::string& why) {
      finished.push_back({object_name(o), ok, why});
    });
    return *source;
  }
  std::vector<WorkUnit> next(size_t max) {
    std::vector<WorkUnit> out;
    std::string error;
    CHECK(source->next(max, stop, out, error) == Source::Status::kOk);
    CHECK(error.empty());
    return out;
  }
  // The unit naming `key`, after one next() that must hand out exactly it.
  WorkUnit one(const std::string& key) {
    std::vector<WorkUnit> units = next(10);
    REQUIRE(units.size() == 1);
    REQUIRE(units[0].objects.size() == 1);
    CHECK(units[0].objects[0].key == key);
    return units[0];
  }
};

}  // namespace

TEST_CASE("BackfillSource: an added object is one unit read like a notified object") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  ObjectRef o = object("AWSLogs/1/CloudTrail/us-east-1/2026/12/05/a.json.gz");
  o.version_id = "v1";  // kept as given
  CHECK(s.add(o, "listed in digest d1"));
  CHECK(s.counters().pending == 1);
  CHECK(s.counters().backfilled == 0);  // counted when handed out

  std::vector<WorkUnit> units = f.next(10);
  REQUIRE(units.size() == 1);
  const WorkUnit& u = units[0];
  CHECK(u.payload == WorkUnit::Payload::kObjects);
  CHECK(u.name == "backfill s3://trail-bucket/AWSLogs/1/CloudTrail/us-east-1/2026/12/05/a.json.gz");
  REQUIRE(u.objects.size() == 1);
  CHECK(u.objects[0].bucket == "trail-bucket");
  CHECK(u.objects[0].key == o.key);
  CHECK(u.objects[0].version_id == "v1");
  CHECK(u.origin.route == RecordOrigin::Route::kS3Object);
  CHECK(u.origin.notification == "backfill");
  CHECK(u.origin.bucket == "trail-bucket");
  CHECK(u.origin.key == o.key);
  CHECK(u.sent_ms == 0);
  CHECK(u.token != 0);
  CHECK((u.token & MergedSource::kSideBit) == 0);
  CHECK(s.counters().backfilled == 1);
  CHECK(s.counters().pending == 1);  // in flight
  CHECK(f.next(10).empty());          // handed out once

  s.done(u.token, true, "");
  REQUIRE(f.finished.size() == 1);
  CHECK(f.finished[0].name == object_name(o));
  CHECK(f.finished[0].ok);
  CHECK(f.finished[0].why.empty());
  CHECK(s.counters().pending == 0);
  CHECK(s.counters().retried == 0);
  CHECK(s.counters().failed == 0);
}

TEST_CASE("BackfillSource: the same object is not queued twice while queued or in flight") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  CHECK(s.add(object("a.json.gz"), "listed in d1"));
  CHECK_FALSE(s.add(object("a.json.gz"), "listed in d2"));  // queued
  CHECK(s.add(object("a.json.gz", "other-bucket"), "listed in d3"));  // another object
  std::vector<WorkUnit> units = f.next(10);
  REQUIRE(units.size() == 2);
  CHECK_FALSE(s.add(object("a.json.gz"), "listed in d2"));  // in flight
  CHECK(s.counters().dropped == 0);  // duplicates are not drops
  CHECK(s.counters().backfilled == 2);
  CHECK(s.counters().pending == 2);
  for (const auto& u : units) s.done(u.token, true, "");
  CHECK(s.add(object("a.json.gz"), "listed in d4"));  // finished: a new request is taken
  CHECK(s.counters().pending == 1);
}

TEST_CASE("BackfillSource: add beyond max_pending is refused and counted, and room comes back") {
  BackfillFixture f;
  f.options.max_pending = 2;
  BackfillSource& s = f.make();
  aws::test::LogCapture log;
  CHECK(s.add(object("a.json.gz"), "r"));
  CHECK(s.add(object("b.json.gz"), "r"));
  CHECK_FALSE(s.add(object("c.json.gz"), "listed in d9"));
  CHECK_FALSE(s.add(object("d.json.gz"), "listed in d9"));
  CHECK(s.counters().dropped == 2);
  CHECK(s.counters().pending == 2);
  // One WARN while it stays full, naming the first file refused.
  CHECK(log.text().find("c.json.gz (listed in d9) and the files listed after it are not "
                        "backfilled") != std::string::npos);
  CHECK(log.text().find("d.json.gz") == std::string::npos);
  // In flight counts too.
  std::vector<WorkUnit> units = f.next(1);
  REQUIRE(units.size() == 1);
  CHECK_FALSE(s.add(object("c.json.gz"), "r"));
  CHECK(s.counters().dropped == 3);
  s.done(units[0].token, true, "");
  CHECK(s.add(object("c.json.gz"), "r"));
  CHECK(s.counters().pending == 2);
}

TEST_CASE("BackfillSource: an object without a bucket or a key is refused and counted") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  aws::test::LogCapture log;
  CHECK_FALSE(s.add(object("", "trail-bucket"), "listed in d1"));
  CHECK_FALSE(s.add(object("a.json.gz", ""), "listed in d1"));
  CHECK(s.counters().dropped == 2);
  CHECK(s.counters().pending == 0);
  CHECK(f.next(10).empty());
  CHECK(log.text().find("names no bucket or no key") != std::string::npos);
}

TEST_CASE("BackfillSource: next hands out due objects only, at most max, oldest first") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  CHECK(s.add(object("a.json.gz"), "r"));
  f.clock.advance(1s);
  CHECK(s.add(object("b.json.gz"), "r"));
  f.clock.advance(1s);
  CHECK(s.add(object("c.json.gz"), "r"));
  CHECK(f.next(0).empty());
  std::vector<WorkUnit> first = f.next(2);
  REQUIRE(first.size() == 2);
  CHECK(first[0].objects[0].key == "a.json.gz");
  CHECK(first[1].objects[0].key == "b.json.gz");
  CHECK(first[0].token != first[1].token);
  // a fails: due again after retry_after; c is due now and comes first.
  s.done(first[0].token, false, "cannot fetch s3://trail-bucket/a.json.gz: 503");
  WorkUnit c = f.one("c.json.gz");
  CHECK(f.next(10).empty());
  f.clock.advance(5min - 1ms);
  CHECK(f.next(10).empty());  // not yet due
  f.clock.advance(1ms);
  WorkUnit again = f.one("a.json.gz");
  CHECK(again.token != first[0].token);  // a fresh token per hand-out
  CHECK(s.counters().backfilled == 3);
  CHECK(s.counters().retried == 1);
  CHECK(s.counters().pending == 3);
}

TEST_CASE("BackfillSource: a failed try is retried, then ok finishes it once") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  aws::test::LogCapture log;
  CHECK(s.add(object("a.json.gz"), "listed in digest d1"));
  WorkUnit u = f.one("a.json.gz");
  s.done(u.token, false, "cannot fetch s3://trail-bucket/a.json.gz: 403 AccessDenied");
  CHECK(f.finished.empty());
  CHECK(s.counters().pending == 1);
  CHECK(log.text().find("[warning] backfill of s3://trail-bucket/a.json.gz failed (try 1 of 3): "
                        "cannot fetch s3://trail-bucket/a.json.gz: 403 AccessDenied; trying "
                        "again in 300 s") != std::string::npos);
  f.clock.advance(5min);
  WorkUnit u2 = f.one("a.json.gz");
  s.done(u.token, true, "");  // the first hand-out's token: not in flight any more
  CHECK(f.finished.empty());
  s.done(u2.token, true, "");
  REQUIRE(f.finished.size() == 1);
  CHECK(f.finished[0].ok);
  CHECK(s.counters().retried == 1);
  CHECK(s.counters().failed == 0);
  CHECK(s.counters().pending == 0);
  CHECK(log.text().find("[info] backfilled s3://trail-bucket/a.json.gz (listed in digest d1): "
                        "read and matched at try 2 of 3") != std::string::npos);
  s.done(u2.token, false, "late");  // a second done() is ignored
  CHECK(f.finished.size() == 1);
  f.clock.advance(1h);
  CHECK(f.next(10).empty());
}

TEST_CASE("BackfillSource: given up after `attempts` failed tries, with the last reason") {
  BackfillFixture f;
  f.options.attempts = 2;
  BackfillSource& s = f.make();
  aws::test::LogCapture log;
  CHECK(s.add(object("a.json.gz"), "listed in digest d1"));
  s.done(f.one("a.json.gz").token, false, "404 NoSuchKey");
  CHECK(f.finished.empty());
  f.clock.advance(5min);
  WorkUnit last = f.one("a.json.gz");
  s.done(last.token, false, "not gzip");
  REQUIRE(f.finished.size() == 1);
  CHECK(f.finished[0].name == "s3://trail-bucket/a.json.gz");
  CHECK_FALSE(f.finished[0].ok);
  CHECK(f.finished[0].why == "not gzip");
  CHECK(s.counters().failed == 1);
  CHECK(s.counters().retried == 1);
  CHECK(s.counters().backfilled == 1);
  CHECK(s.counters().pending == 0);
  CHECK(log.text().find("[error] backfill of s3://trail-bucket/a.json.gz given up after 2 tries: "
                        "not gzip; its records are not matched (listed in digest d1)") !=
        std::string::npos);
  f.clock.advance(1h);
  CHECK(f.next(10).empty());  // forgotten
  s.done(last.token, true, "");  // ignored
  CHECK(f.finished.size() == 1);
  CHECK(s.add(object("a.json.gz"), "listed again"));  // a new request is taken
}

TEST_CASE("BackfillSource: attempts under 1 means one try") {
  BackfillFixture f;
  f.options.attempts = 0;
  BackfillSource& s = f.make();
  CHECK(s.add(object("a.json.gz"), "r"));
  s.done(f.one("a.json.gz").token, false, "404");
  REQUIRE(f.finished.size() == 1);
  CHECK_FALSE(f.finished[0].ok);
}

TEST_CASE("BackfillSource: release gives units back at once, in their place, not as a try") {
  BackfillFixture f;
  f.options.attempts = 2;
  BackfillSource& s = f.make();
  CHECK(s.add(object("a.json.gz"), "r"));
  f.clock.advance(1s);
  CHECK(s.add(object("b.json.gz"), "r"));
  WorkUnit a = f.next(1).at(0);
  CHECK(a.objects[0].key == "a.json.gz");
  s.release({a.token, 424242});  // an unknown token is ignored
  CHECK(s.counters().pending == 2);
  // Due as before: before b.
  WorkUnit a2 = f.next(1).at(0);
  CHECK(a2.objects[0].key == "a.json.gz");
  CHECK(a2.token != a.token);
  s.done(a.token, true, "");  // a done() after the release: ignored
  CHECK(f.finished.empty());
  s.release({a2.token});
  WorkUnit a3 = f.next(1).at(0);
  CHECK(a3.objects[0].key == "a.json.gz");
  // Two releases and one failure: one failed try of two, so it is tried again.
  s.done(a3.token, false, "503");
  CHECK(f.finished.empty());
  CHECK(s.counters().backfilled == 1);  // a hand-out after a release counts nothing
  CHECK(s.counters().retried == 0);
  f.clock.advance(5min);
  std::vector<WorkUnit> units = f.next(10);
  REQUIRE(units.size() == 2);  // b, then a's retry
  CHECK(units[0].objects[0].key == "b.json.gz");
  CHECK(units[1].objects[0].key == "a.json.gz");
  CHECK(s.counters().retried == 1);
}

TEST_CASE("BackfillSource: done() for an unknown token is ignored") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  s.done(12345, true, "");
  s.done(0, false, "x");
  CHECK(s.add(object("a.json.gz"), "r"));
  WorkUnit u = f.one("a.json.gz");
  s.done(u.token + 1, false, "x");
  CHECK(f.finished.empty());
  CHECK(s.counters().pending == 1);
  s.done(u.token, true, "");
  CHECK(f.finished.size() == 1);
}

TEST_CASE("BackfillSource: on_finished may add() (called without the source's lock)") {
  BackfillFixture f;
  BackfillSource s(f.options, f.clock);
  std::vector<std::string> added;
  s.on_finished([&](const ObjectRef& o, bool, const std::string&) {
    if (o.key == "a.json.gz") added.push_back(s.add(object("b.json.gz"), "after a") ? "b" : "-");
  });
  CHECK(s.add(object("a.json.gz"), "r"));
  std::vector<WorkUnit> units;
  std::string error;
  CHECK(s.next(10, f.stop, units, error) == Source::Status::kOk);
  REQUIRE(units.size() == 1);
  // On a thread with a bound: a callback run under the lock would deadlock here.
  auto finished = std::async(std::launch::async, [&] { s.done(units[0].token, true, ""); });
  REQUIRE(finished.wait_for(20s) == std::future_status::ready);
  CHECK(added == std::vector<std::string>{"b"});
  CHECK(s.counters().pending == 1);
}

TEST_CASE("BackfillSource: never waits, never ends, never fails") {
  BackfillFixture f;
  BackfillSource& s = f.make();
  f.stop = true;
  std::vector<WorkUnit> out;
  std::string error;
  CHECK(s.next(10, f.stop, out, error) == Source::Status::kOk);
  CHECK(out.empty());
  CHECK(s.add(object("a.json.gz"), "r"));
  CHECK(s.next(10, f.stop, out, error) == Source::Status::kOk);
  CHECK(out.size() == 1);
  s.close();
  s.close();
}

TEST_CASE("BackfillSource: metrics") {
  BackfillFixture f;
  f.options.attempts = 1;
  f.options.max_pending = 2;
  BackfillSource& s = f.make();
  MetricsRegistry registry;
  register_backfill_metrics(registry, s.counters());
  CHECK(s.add(object("a.json.gz"), "r"));
  CHECK(s.add(object("b.json.gz"), "r"));
  CHECK_FALSE(s.add(object("c.json.gz"), "r"));
  std::vector<WorkUnit> units = f.next(1);
  s.done(units.at(0).token, false, "404");
  f.next(1);
  const std::string text = registry.render();
  CHECK(text.find("\ntrailwarden_integrity_backfilled_total 2\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_integrity_backfill_retries_total 0\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_integrity_backfill_failed_total 1\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_integrity_backfill_dropped_total 1\n") != std::string::npos);
  CHECK(text.find("\ntrailwarden_integrity_backfill_pending 1\n") != std::string::npos);
  CHECK(text.find("# TYPE trailwarden_integrity_backfill_pending gauge") != std::string::npos);
}
