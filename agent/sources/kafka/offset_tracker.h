// OffsetTracker: which offsets of which partitions the Kafka source handed out, which of them
// are done, and the offset each partition may commit — the bookkeeping behind the source's
// at-least-once guarantee (docs/kafka-source.md), without librdkafka, so that it is
// tested on its own.
//
// Per partition, offsets are added in the order they were consumed (increasing). The commit
// point is one past the longest prefix of them that is done (ok): an offset that is still in
// work, or that failed, holds the commit point where it is, however many later offsets are done.
// A failed offset keeps holding it for the rest of the assignment; after the next assignment
// (restart, rebalance) consumption starts again at the commit point, so the failed unit and every
// later one of its partition are consumed again (their alerts are suppressed by the engine's
// de-duplication window).
//
// Every assignment of a partition gets a new generation; done() with another generation (a unit
// of a revoked assignment) is ignored.
//
// Not thread-safe: the source holds its lock around every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace trailwarden::kafka {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct CommitOffset {
  TopicPartition tp;
  int64_t offset = 0;  // the next offset to consume: one past the last done one
};

class OffsetTracker {
 public:
  enum class Done { kAccepted, kStale, kUnknown };

  // A new assignment of `tp` (replacing any earlier one); returns its generation. With
  // `commit_point` >= 0 (a done prefix whose commit the group refused before, consumption
  // starting there), that commit point is taken by the next take_commits().
  uint64_t assign(const TopicPartition& tp, int64_t commit_point = -1);
  // Forgets `tp` and its offsets (revoked): their done() is ignored from now on.
  void revoke(const TopicPartition& tp);
  bool assigned(const TopicPartition& tp) const { return parts_.count(tp) != 0; }

  // `offset` of `tp` was handed out. Returns the generation to put in the unit's token, or 0 when
  // `tp` is not assigned or `offset` is not after the last added one (then it is not tracked).
  uint64_t add(const TopicPartition& tp, int64_t offset);
  // The unit at `offset` finished: ok = its alerts are durable; !ok = keep it for redelivery.
  // kStale for another generation, kUnknown for an offset never added (or already finished).
  Done done(const TopicPartition& tp, uint64_t generation, int64_t offset, bool ok);

  // Partitions whose commit point moved past what was last taken; marks them taken.
  std::vector<CommitOffset> take_commits();
  // Commit points of `tps` (all assigned partitions when empty) that moved, marked taken.
  std::vector<CommitOffset> take_commits(const std::vector<TopicPartition>& tps);
  // A commit of `c` failed: it is taken again by the next take_commits().
  void commit_failed(const CommitOffset& c);

  // Offsets added and not finished, over all partitions.
  size_t in_work() const { return in_work_; }
  // Offsets of `tp` still remembered (in work, failed, or done behind one of those).
  size_t tracked(const TopicPartition& tp) const;
  // True when a failed offset holds `tp`'s commit point.
  bool blocked(const TopicPartition& tp) const;
  // `tp`'s commit point, or -1 when nothing of it is done yet.
  int64_t commit_point(const TopicPartition& tp) const;
  std::vector<TopicPartition> partitions() const;

 private:
  enum class State { kInWork, kDone, kFailed };
  struct Partition {
    uint64_t generation = 0;
    std::map<int64_t, State> offsets;  // handed out and not yet below the commit point
    int64_t last_added = -1;
    int64_t commit_point = -1;  // one past the contiguous done prefix; -1: nothing done yet
    int64_t taken = -1;         // the commit point last returned by take_commits
    size_t failed = 0;
  };
  void advance(Partition& p);

  std::map<TopicPartition, Partition> parts_;
  uint64_t next_generation_ = 1;
  size_t in_work_ = 0;
};

// "kafka://topic/partition@offset": how a unit is named in logs and records.
std::string unit_name(const TopicPartition& tp, int64_t offset);

}  // namespace trailwarden::kafka
