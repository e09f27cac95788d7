// OffsetTracker: the commit point is one past the contiguous prefix of done offsets; failures
// and unfinished units hold it; revoked generations are ignored.
#include <doctest/doctest.h>

#include "agent/sources/kafka/offset_tracker.h"

using namespace trailwarden::kafka;

namespace {
const TopicPartition kP0{"cloudtrail", 0};
const TopicPartition kP1{"cloudtrail", 1};
}  // namespace

TEST_CASE("kafka offsets: only the contiguous done prefix is committed") {
  OffsetTracker t;
  const uint64_t g = t.assign(kP0);
  for (int64_t o = 10; o < 15; ++o) CHECK(t.add(kP0, o) == g);
  CHECK(t.in_work() == 5);
  CHECK(t.take_commits().empty());  // nothing done yet

  CHECK(t.done(kP0, g, 11, true) == OffsetTracker::Done::kAccepted);
  CHECK(t.done(kP0, g, 13, true) == OffsetTracker::Done::kAccepted);
  CHECK(t.take_commits().empty());  // 10 still in work
  CHECK(t.commit_point(kP0) == -1);

  CHECK(t.done(kP0, g, 10, true) == OffsetTracker::Done::kAccepted);
  auto c = t.take_commits();
  REQUIRE(c.size() == 1);
  CHECK(c[0].tp == kP0);
  CHECK(c[0].offset == 12);  // 10 and 11 done, 12 in work
  CHECK(t.take_commits().empty());  // taken once

  CHECK(t.done(kP0, g, 12, true) == OffsetTracker::Done::kAccepted);
  CHECK(t.done(kP0, g, 14, true) == OffsetTracker::Done::kAccepted);
  c = t.take_commits();
  REQUIRE(c.size() == 1);
  CHECK(c[0].offset == 15);
  CHECK(t.in_work() == 0);
  CHECK(t.tracked(kP0) == 0);
}

TEST_CASE("kafka offsets: gaps in the offsets (compaction, transaction markers) do not matter") {
  OffsetTracker t;
  const uint64_t g = t.assign(kP0);
  t.add(kP0, 3);
  t.add(kP0, 7);
  t.add(kP0, 20);
  t.done(kP0, g, 3, true);
  t.done(kP0, g, 7, true);
  auto c = t.take_commits();
  REQUIRE(c.size() == 1);
  CHECK(c[0].offset == 8);
  CHECK(t.add(kP0, 20) == 0);  // not after the last added: not tracked twice
  CHECK(t.add(kP0, 5) == 0);
}

TEST_CASE("kafka offsets: a failed unit holds its partition, not the others") {
  OffsetTracker t;
  const uint64_t g0 = t.assign(kP0);
  const uint64_t g1 = t.assign(kP1);
  CHECK(g0 != g1);
  for (int64_t o = 0; o < 4; ++o) {
    t.add(kP0, o);
    t.add(kP1, o);
  }
  t.done(kP0, g0, 0, true);
  t.done(kP0, g0, 1, false);  // kept for redelivery
  t.done(kP0, g0, 2, true);
  t.done(kP0, g0, 3, true);
  for (int64_t o = 0; o < 4; ++o) t.done(kP1, g1, o, true);
  CHECK(t.blocked(kP0));
  CHECK_FALSE(t.blocked(kP1));
  auto c = t.take_commits();
  REQUIRE(c.size() == 2);
  CHECK(c[0].tp == kP0);
  CHECK(c[0].offset == 1);  // never past the failed offset
  CHECK(c[1].offset == 4);
  CHECK(t.tracked(kP0) == 3);  // 1 (failed), 2, 3 (done behind it)
  CHECK(t.in_work() == 0);
  // A second done() of the same unit is not accepted.
  CHECK(t.done(kP0, g0, 1, true) == OffsetTracker::Done::kUnknown);
  CHECK(t.done(kP0, g0, 99, true) == OffsetTracker::Done::kUnknown);
}

TEST_CASE("kafka offsets: units of a revoked assignment are forgotten") {
  OffsetTracker t;
  const uint64_t g = t.assign(kP0);
  t.add(kP0, 0);
  t.add(kP0, 1);
  t.revoke(kP0);
  CHECK(t.in_work() == 0);
  CHECK(t.done(kP0, g, 0, true) == OffsetTracker::Done::kStale);
  CHECK(t.add(kP0, 2) == 0);  // not assigned
  const uint64_t g2 = t.assign(kP0);  // assigned again: a new generation, from the committed offset
  CHECK(g2 != g);
  CHECK(t.add(kP0, 0) == g2);
  CHECK(t.done(kP0, g, 0, true) == OffsetTracker::Done::kStale);
  CHECK(t.done(kP0, g2, 0, true) == OffsetTracker::Done::kAccepted);
}

TEST_CASE("kafka offsets: a failed commit is taken again") {
  OffsetTracker t;
  const uint64_t g = t.assign(kP0);
  t.add(kP0, 0);
  t.done(kP0, g, 0, true);
  auto c = t.take_commits();
  REQUIRE(c.size() == 1);
  t.commit_failed(c[0]);
  auto again = t.take_commits();
  REQUIRE(again.size() == 1);
  CHECK(again[0].offset == 1);
  CHECK(t.take_commits({kP1}).empty());
}

TEST_CASE("kafka offsets: a done prefix whose commit was refused is committed at the next "
          "assignment, and consumption starts there") {
  OffsetTracker t;
  const uint64_t g = t.assign(kP0, 7);  // the group refused our commit of 7 before a rebalance
  CHECK(t.commit_point(kP0) == 7);
  auto c = t.take_commits();
  REQUIRE(c.size() == 1);
  CHECK(c[0].offset == 7);               // sent again at once
  CHECK(t.take_commits().empty());
  CHECK(t.add(kP0, 6) == 0);             // before the start: not ours to track
  CHECK(t.add(kP0, 7) == g);
  CHECK(t.done(kP0, g, 7, true) == OffsetTracker::Done::kAccepted);
  c = t.take_commits();
  REQUIRE(c.size() == 1);
  CHECK(c[0].offset == 8);
  // Without one, nothing is committable before something is done.
  t.assign(kP1);
  CHECK(t.take_commits({kP1}).empty());
}

TEST_CASE("kafka unit names") {
  CHECK(unit_name(kP1, 42) == "kafka://cloudtrail/1@42");
}
