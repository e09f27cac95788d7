// MergedSource (agent/sources/merged_source.h): a main source and the backfill side source as
// one Source — turns, token routing, status, release and close.
#include "agent/sources/merged_source.h"

#include <doctest/doctest.h>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "agent/sources/backfill/backfill_source.h"
#include "tests/fakes/manual_clock.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using trailwarden::testing::ManualClock;

namespace {

// A source that hands out what it is given (never waiting), answers `status`, and records
// every call.
class ProbeSource final : public Source {
 public:
  struct Done {
    AckToken token;
    bool ok;
    std::string why;
  };
  void add(const std::string& name, AckToken token) {
    WorkUnit u;
    u.payload = WorkUnit::Payload::kObjects;
    u.name = name;
    u.token = token;
    units.push_back(std::move(u));
  }
  Status next(size_t max, const std::atomic<bool>&, std::vector<WorkUnit>& out,
              std::string& error) override {
    asked.push_back(max);
    for (size_t n = 0; n < max && !units.empty(); ++n) {
      out.push_back(units.front());
      units.pop_front();
    }
    if (status == Status::kFatal) error = "queue gone";
    return status;
  }
  void done(AckToken token, bool ok, const std::string& why) override {
    std::lock_guard<std::mutex> l(mu);
    dones.push_back({token, ok, why});
  }
  void release(const std::vector<AckToken>& unfinished) override {
    released.push_back(unfinished);
  }
  void close() override { ++closed; }

  std::deque<WorkUnit> units;
  Status status = Status::kOk;
  std::vector<size_t> asked;
  std::mutex mu;
  std::vector<Done> dones;
  std::vector<std::vector<AckToken>> released;
  int closed = 0;
};

ObjectRef object(const std::string& key) {
  ObjectRef o;
  o.bucket = "trail-bucket";
  o.key = key;
  return o;
}

std::vector<std::string> names(const std::vector<WorkUnit>& units) {
  std::vector<std::string> out;
  for (const auto& u : units) out.push_back(u.name);
  return out;
}

struct MergedFixture {
  ManualClock clock;
  ProbeSource main;
  BackfillSource backfill{BackfillOptions{}, clock};
  MergedSource merged{main, backfill};
  std::atomic<bool> stop{false};
  std::string error;
  std::vector<std::pair<std::string, bool>> finished;

  MergedFixture() {
    backfill.on_finished([this](const ObjectRef& o, bool ok, const std::string&) {
      finished.emplace_back(o.key, ok);
    });
  }
  Source::Status next(size_t max, std::vector<WorkUnit>& out) {
    return merged.next(max, stop, out, error);
  }
};

}  // namespace

TEST_CASE("MergedSource: the side first, returned without asking the main (no wait on it)") {
  MergedFixture f;
  f.main.add("m1", 1);
  REQUIRE(f.backfill.add(object("b1.json.gz"), "listed in d1"));
  std::vector<WorkUnit> out;
  CHECK(f.next(5, out) == Source::Status::kOk);
  CHECK(names(out) == std::vector<std::string>{"backfill s3://trail-bucket/b1.json.gz"});
  CHECK(f.main.asked.empty());  // the main (a long poll) was not asked while a side unit waited
  CHECK((out[0].token & MergedSource::kSideBit) != 0);

  // The next call is the main's turn, with the whole room; the side gets what is left.
  REQUIRE(f.backfill.add(object("b2.json.gz"), "listed in d1"));
  out.clear();
  CHECK(f.next(5, out) == Source::Status::kOk);
  CHECK(f.main.asked == std::vector<size_t>{5});
  CHECK(names(out) ==
        std::vector<std::string>{"m1", "backfill s3://trail-bucket/b2.json.gz"});
  CHECK(out[0].token == 1);
}

TEST_CASE("MergedSource: with nothing on the side, the main is asked for the whole room") {
  MergedFixture f;
  f.main.add("m1", 1);
  f.main.add("m2", 2);
  std::vector<WorkUnit> out;
  CHECK(f.next(5, out) == Source::Status::kOk);
  CHECK(f.main.asked == std::vector<size_t>{5});
  CHECK(names(out) == std::vector<std::string>{"m1", "m2"});
  out.clear();
  CHECK(f.next(0, out) == Source::Status::kOk);  // no room: nobody is asked
  CHECK(f.main.asked.size() == 1);
  CHECK(out.empty());
}

TEST_CASE("MergedSource: neither starves: with both full and room for one, they take turns") {
  MergedFixture f;
  for (int i = 0; i < 10; ++i) {
    f.main.add("m" + std::to_string(i), static_cast<AckToken>(100 + i));
    REQUIRE(f.backfill.add(object("b" + std::to_string(i)), "r"));
  }
  size_t main_units = 0;
  size_t side_units = 0;
  for (int i = 0; i < 10; ++i) {
    std::vector<WorkUnit> out;
    CHECK(f.next(1, out) == Source::Status::kOk);
    REQUIRE(out.size() == 1);
    if (out[0].token & MergedSource::kSideBit) ++side_units;
    else ++main_units;
  }
  CHECK(main_units == 5);
  CHECK(side_units == 5);
}

TEST_CASE("MergedSource: done() and release() reach the source that handed the unit out") {
  MergedFixture f;
  f.main.add("m1", 7);
  f.main.add("m2", 8);
  REQUIRE(f.backfill.add(object("b1.json.gz"), "r"));
  REQUIRE(f.backfill.add(object("b2.json.gz"), "r"));
  std::vector<WorkUnit> out;
  CHECK(f.next(1, out) == Source::Status::kOk);  // b1
  CHECK(f.next(1, out) == Source::Status::kOk);  // m1
  CHECK(f.next(1, out) == Source::Status::kOk);  // b2
  CHECK(f.next(1, out) == Source::Status::kOk);  // m2
  REQUIRE(names(out) == std::vector<std::string>{"backfill s3://trail-bucket/b1.json.gz", "m1",
                                                 "backfill s3://trail-bucket/b2.json.gz", "m2"});
  f.merged.done(out[1].token, true, "");
  f.merged.done(out[0].token, true, "");
  REQUIRE(f.main.dones.size() == 1);
  CHECK(f.main.dones[0].token == 7);
  CHECK(f.finished == std::vector<std::pair<std::string, bool>>{{"b1.json.gz", true}});

  f.merged.release({out[2].token, out[3].token});
  REQUIRE(f.main.released.size() == 1);
  CHECK(f.main.released[0] == std::vector<AckToken>{8});  // only its own, untagged
  CHECK(f.main.dones.size() == 1);
  // b2 is back in the backfill queue: handed out again at once (the side's turn).
  std::vector<WorkUnit> again;
  CHECK(f.next(1, again) == Source::Status::kOk);
  CHECK(names(again) == std::vector<std::string>{"backfill s3://trail-bucket/b2.json.gz"});
  f.merged.done(again[0].token, false, "404");
  CHECK(f.main.dones.size() == 1);  // the side's failure never reaches the main
  CHECK(f.backfill.counters().pending == 1);  // queued for its retry

  f.merged.release({});  // nothing: neither is called
  CHECK(f.main.released.size() == 1);
}

TEST_CASE("MergedSource: kEnd is the main's") {
  MergedFixture f;
  f.main.add("m1", 1);
  f.main.status = Source::Status::kEnd;
  REQUIRE(f.backfill.add(object("b1.json.gz"), "r"));
  std::vector<WorkUnit> out;
  CHECK(f.next(5, out) == Source::Status::kOk);  // the side's turn: b1
  CHECK(f.next(5, out) == Source::Status::kEnd);
  CHECK(names(out) == std::vector<std::string>{"backfill s3://trail-bucket/b1.json.gz", "m1"});
}

TEST_CASE("MergedSource: a side that ends is not asked again; the main goes on") {
  MergedFixture f;
  ProbeSource side;
  MergedSource merged(f.main, side);
  side.add("s1", 1);
  side.status = Source::Status::kEnd;
  f.main.add("m1", 1);
  std::vector<WorkUnit> out;
  CHECK(merged.next(5, f.stop, out, f.error) == Source::Status::kOk);
  CHECK(names(out) == std::vector<std::string>{"s1"});
  CHECK(merged.next(5, f.stop, out, f.error) == Source::Status::kOk);
  CHECK(merged.next(5, f.stop, out, f.error) == Source::Status::kOk);
  CHECK(side.asked.size() == 1);
  CHECK(names(out) == std::vector<std::string>{"s1", "m1"});
}

TEST_CASE("MergedSource: kFatal from the main gives every unit of the call back") {
  MergedFixture f;
  f.main.add("m1", 3);
  f.main.status = Source::Status::kFatal;
  std::vector<WorkUnit> out;
  CHECK(f.next(5, out) == Source::Status::kFatal);
  CHECK(f.error == "queue gone");
  CHECK(out.empty());
  REQUIRE(f.main.released.size() == 1);
  CHECK(f.main.released[0] == std::vector<AckToken>{3});
}

TEST_CASE("MergedSource: kFatal from the side stops too, named, its units given back") {
  MergedFixture f;
  ProbeSource side;
  MergedSource merged(f.main, side);
  side.add("s1", 4);
  side.status = Source::Status::kFatal;
  std::vector<WorkUnit> out;
  CHECK(merged.next(5, f.stop, out, f.error) == Source::Status::kFatal);
  CHECK(f.error == "backfill source: queue gone");
  CHECK(out.empty());
  REQUIRE(side.released.size() == 1);
  CHECK(side.released[0] == std::vector<AckToken>{4});
  CHECK(f.main.asked.empty());
}

TEST_CASE("MergedSource: a main token with the top bit set is refused as a programming error") {
  MergedFixture f;
  f.main.add("m1", 1);
  f.main.add("m2", MergedSource::kSideBit | 5);
  REQUIRE(f.backfill.add(object("b1.json.gz"), "r"));
  std::vector<WorkUnit> out;
  CHECK(f.next(1, out) == Source::Status::kOk);  // the side's turn: b1
  CHECK(f.next(5, out) == Source::Status::kFatal);
  CHECK(f.error.find("programming error: the main source handed out m2 with token "
                     "0x8000000000000005") != std::string::npos);
  REQUIRE(out.size() == 1);  // only b1, from the earlier call
  // Nothing of the refused call is acknowledged to the wrong source: the main gets its units
  // back under their own tokens.
  REQUIRE(f.main.released.size() == 1);
  CHECK(f.main.released[0] == std::vector<AckToken>{1, MergedSource::kSideBit | 5});
  CHECK(f.main.dones.empty());
  CHECK(f.finished.empty());
}

TEST_CASE("MergedSource: a side token with the top bit set is refused too") {
  MergedFixture f;
  ProbeSource side;
  MergedSource merged(f.main, side);
  side.add("s1", MergedSource::kSideBit | 1);
  std::vector<WorkUnit> out;
  CHECK(merged.next(5, f.stop, out, f.error) == Source::Status::kFatal);
  CHECK(f.error.find("the backfill source handed out s1") != std::string::npos);
  CHECK(out.empty());
  REQUIRE(side.released.size() == 1);
  CHECK(side.released[0] == std::vector<AckToken>{MergedSource::kSideBit | 1});
}

TEST_CASE("MergedSource: stopping, the side is not asked") {
  MergedFixture f;
  REQUIRE(f.backfill.add(object("b1.json.gz"), "r"));
  f.stop = true;
  std::vector<WorkUnit> out;
  CHECK(f.next(5, out) == Source::Status::kOk);
  CHECK(out.empty());
  CHECK(f.main.asked == std::vector<size_t>{5});  // the main decides what stop means to it
  CHECK(f.backfill.counters().backfilled == 0);
}

TEST_CASE("MergedSource: close() closes both") {
  ProbeSource main;
  ProbeSource side;
  MergedSource merged(main, side);
  merged.close();
  CHECK(main.closed == 1);
  CHECK(side.closed == 1);
}
