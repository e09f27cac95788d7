// MergedSource: one Source made of a main source (SQS, Kafka, files) and a side source that
// never waits in next() (agent/sources/backfill/backfill_source.h), for an engine that takes
// one source.
//
// Taking turns, so that neither starves the other and no side unit waits on the main's wait:
// - The side's turn: next() asks the side first (it does not wait). If it has units, they are
//   returned at once, without asking the main: a side unit is never held while the main long
//   polls (SQS: up to wait_time_seconds). The next call is the main's turn. If the side has
//   nothing, the call goes on as the main's turn.
// - The main's turn: the main is asked for the whole room (its own wait applies), then the
//   side for what room is left (without waiting). The next call is the side's turn.
// So while both have units, the main is asked at least at every other call and the side at
// every call that has room; the side is only polled at next(): a side unit that becomes due
// while the main waits is taken at the next call (the main's wait is never cut short).
//
// Tokens: the side's units carry the top bit (kSideBit), so done() and release() reach the
// source that handed the unit out (the bit cleared again for the side). Neither source may
// hand out a token with the top bit set (it could not be routed back): that is a programming
// error, and next() answers kFatal naming the source and the token, after giving every unit
// of that call back to its source (release): nothing is acknowledged to the wrong source.
//
// Status: kEnd is the main's (a finite main: the side is not asked after it). A side that ends
// is not asked again. kFatal from either source is returned with its error (the side's
// prefixed "backfill source: "), after the units of that call were given back to their
// sources (the engine neither starts nor releases units returned with kFatal). close() closes
// both. next() is called from one thread at a time (the Source contract); done() and release()
// from any, thread-safe as the parts are.
#pragma once

#include <atomic>

#include "agent/sources/source.h"

namespace trailwarden {

class MergedSource final : public Source {
 public:
  MergedSource(Source& main, Source& side) : main_(main), side_(side) {}

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) override;
  void done(AckToken token, bool ok, const std::string& why) override;
  void release(const std::vector<AckToken>& unfinished) override;
  void close() override;

  static constexpr AckToken kSideBit = AckToken{1} << 63;

 private:
  // Asks the side for at most `max` units (tokens tagged). False on kFatal (units given back).
  bool take_side(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& units,
                 std::string& error);
  void give_back(std::vector<WorkUnit>& main_units, std::vector<WorkUnit>& side_units);

  Source& main_;
  Source& side_;
  bool main_turn_ = false;  // next() only (one thread at a time)
  bool side_ended_ = false;
};

}  // namespace trailwarden
