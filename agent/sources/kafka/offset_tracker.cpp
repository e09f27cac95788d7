#include "agent/sources/kafka/offset_tracker.h"

#include <fmt/format.h>

namespace trailwarden::kafka {

uint64_t OffsetTracker::assign(const TopicPartition& tp, int64_t commit_point) {
  revoke(tp);
  Partition& p = parts_[tp];
  p.generation = next_generation_++;
  if (commit_point >= 0) {
    p.commit_point = commit_point;
    p.last_added = commit_point - 1;  // consumption starts at the commit point
  }
  return p.generation;
}

void OffsetTracker::revoke(const TopicPartition& tp) {
  auto it = parts_.find(tp);
  if (it == parts_.end()) return;
  for (const auto& [offset, state] : it->second.offsets)
    if (state == State::kInWork) --in_work_;
  parts_.erase(it);
}

uint64_t OffsetTracker::add(const TopicPartition& tp, int64_t offset) {
  auto it = parts_.find(tp);
  if (it == parts_.end()) return 0;
  Partition& p = it->second;
  if (offset <= p.last_added || offset < 0) return 0;
  p.last_added = offset;
  p.offsets.emplace(offset, State::kInWork);
  ++in_work_;
  return p.generation;
}

OffsetTracker::Done OffsetTracker::done(const TopicPartition& tp, uint64_t generation,
                                        int64_t offset, bool ok) {
  auto it = parts_.find(tp);
  if (it == parts_.end() || it->second.generation != generation) return Done::kStale;
  Partition& p = it->second;
  auto o = p.offsets.find(offset);
  if (o == p.offsets.end() || o->second != State::kInWork) return Done::kUnknown;
  --in_work_;
  if (ok) {
    o->second = State::kDone;
    advance(p);
  } else {
    o->second = State::kFailed;
    ++p.failed;
  }
  return Done::kAccepted;
}

void OffsetTracker::advance(Partition& p) {
  while (!p.offsets.empty() && p.offsets.begin()->second == State::kDone) {
    p.commit_point = p.offsets.begin()->first + 1;
    p.offsets.erase(p.offsets.begin());
  }
}

std::vector<CommitOffset> OffsetTracker::take_commits() { return take_commits({}); }

std::vector<CommitOffset> OffsetTracker::take_commits(const std::vector<TopicPartition>& tps) {
  std::vector<CommitOffset> out;
  const auto take = [&](const TopicPartition& tp, Partition& p) {
    if (p.commit_point >= 0 && p.commit_point != p.taken) {
      p.taken = p.commit_point;
      out.push_back({tp, p.commit_point});
    }
  };
  if (tps.empty()) {
    for (auto& [tp, p] : parts_) take(tp, p);
  } else {
    for (const TopicPartition& tp : tps)
      if (auto it = parts_.find(tp); it != parts_.end()) take(tp, it->second);
  }
  return out;
}

void OffsetTracker::commit_failed(const CommitOffset& c) {
  auto it = parts_.find(c.tp);
  if (it != parts_.end() && it->second.taken == c.offset) it->second.taken = -1;
}

size_t OffsetTracker::tracked(const TopicPartition& tp) const {
  auto it = parts_.find(tp);
  return it == parts_.end() ? 0 : it->second.offsets.size();
}

bool OffsetTracker::blocked(const TopicPartition& tp) const {
  auto it = parts_.find(tp);
  return it != parts_.end() && it->second.failed > 0;
}

int64_t OffsetTracker::commit_point(const TopicPartition& tp) const {
  auto it = parts_.find(tp);
  return it == parts_.end() ? -1 : it->second.commit_point;
}

std::vector<TopicPartition> OffsetTracker::partitions() const {
  std::vector<TopicPartition> out;
  out.reserve(parts_.size());
  for (const auto& [tp, p] : parts_) out.push_back(tp);
  return out;
}

std::string unit_name(const TopicPartition& tp, int64_t offset) {
  return fmt::format("kafka://{}/{}@{}", tp.topic, tp.partition, offset);
}

}  // namespace trailwarden::kafka
