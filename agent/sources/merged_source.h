// MergedSource: one Source made of a main source (SQS, Kafka, files) and a side source that is
// never long-polled (agent/sources/backfill/backfill_source.h), for an engine that takes one
// source. next() first takes what the side source has ready (without waiting), then asks the
// main source for the remaining room (its own wait applies). Tokens are told apart by their top
// bit (the side source's units carry it), so done() and release() reach the source that handed
// the unit out; neither source may use tokens with the top bit set. kEnd and kFatal are the main
// source's; close() closes both. Thread-safe as its parts are.
#pragma once

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
  Source& main_;
  Source& side_;
};

}  // namespace trailwarden
