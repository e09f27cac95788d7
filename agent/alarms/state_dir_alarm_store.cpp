#include "agent/alarms/state_dir_alarm_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/alarms/metric_value.h"
#include "agent/common/failpoint.h"
#include "agent/store/alarm_store.h"

namespace trailwarden::alarms {

namespace {

// Remembered units per snapshot record.
constexpr size_t kUnitsPerRecord = 4096;

std::string instance_key(const SavedInstance& i) {
  return i.rule_id + "\n" + dimension_key(i.dimensions);
}

}  // namespace

StateDirAlarmStore::StateDirAlarmStore(std::string path, StateDirAlarmStoreOptions options)
    : options_(options),
      journal_(std::move(path), "alarm state",
               store::JournalFileOptions{options.compact_bytes, options.max_journal_bytes,
                                         "before-alarm-compact-rename"}) {}

StateDirAlarmStore::~StateDirAlarmStore() = default;

bool StateDirAlarmStore::open(std::string& error) {
  using Decoded = store::JournalFile::Decoded;
  const bool read = journal_.open(
      [this](std::string_view payload, std::string& why) {
        journal::Entry e;
        switch (journal::decode(payload, e, why)) {
          case journal::DecodeResult::kNewer:
            return Decoded::kNewer;
          case journal::DecodeResult::kMalformed:
            return Decoded::kMalformed;
          case journal::DecodeResult::kOk:
            break;
        }
        apply(e);
        return Decoded::kOk;
      },
      error);
  if (!read || !compact(error)) return false;
  spdlog::info("alarm state {}: {} alarm instances, {} units remembered, {} transitions not yet "
               "delivered",
               path(), instances_.size(), units_.size(), undelivered_.size());
  return true;
}

void StateDirAlarmStore::apply(const journal::Entry& e) {
  using Kind = journal::Entry::Kind;
  switch (e.kind) {
    case Kind::kSnapshot:
      stream_ms_ = std::max(stream_ms_, e.stream_ms);
      break;
    case Kind::kInstances:
      for (const SavedInstance& i : e.instances) instances_[instance_key(i)] = i;
      break;
    case Kind::kUnits:
      for (const std::string& u : e.units) remember_unit(u);
      break;
    case Kind::kUndelivered:
      for (const journal::PendingTransition& p : e.undelivered) add_undelivered(p.unit, p.alert);
      break;
    case Kind::kCommit:
      stream_ms_ = std::max(stream_ms_, e.stream_ms);
      for (const SavedInstance& i : e.instances) instances_[instance_key(i)] = i;
      if (!e.unit.empty()) remember_unit(e.unit);
      for (const AlertRecord& a : e.transitions) add_undelivered(e.unit, a);
      break;
    case Kind::kDelivered:
      for (const std::string& uid : e.uids) {
        auto it = undelivered_by_uid_.find(uid);
        if (it == undelivered_by_uid_.end()) continue;
        undelivered_.erase(it->second);
        undelivered_by_uid_.erase(it);
      }
      break;
  }
}

void StateDirAlarmStore::remember_unit(const std::string& digest) {
  if (!units_.insert(digest).second) return;
  unit_order_.push_back(digest);
  while (unit_order_.size() > options_.max_units) {
    units_.erase(unit_order_.front());
    unit_order_.pop_front();
  }
}

void StateDirAlarmStore::add_undelivered(const std::string& unit, const AlertRecord& alert) {
  if (undelivered_by_uid_.count(alert.uid)) return;
  const uint64_t seq = next_seq_++;
  undelivered_[seq] = journal::PendingTransition{unit, alert};
  undelivered_by_uid_[alert.uid] = seq;
  while (undelivered_.size() > options_.max_undelivered) {
    auto oldest = undelivered_.begin();
    ++undelivered_dropped_;
    spdlog::error("alarm state {}: {} alarm transitions wait for delivery, the limit; the oldest "
                  "({}, alert {}) is no longer sent again",
                  path(), undelivered_.size(), oldest->second.alert.rule_id,
                  oldest->second.alert.uid);
    undelivered_by_uid_.erase(oldest->second.alert.uid);
    undelivered_.erase(oldest);
  }
}

bool StateDirAlarmStore::load(SavedAlarmState& out, std::string& /*error*/) {
  out.stream_ms = stream_ms_;
  out.instances.clear();
  for (const auto& [key, i] : instances_) out.instances.push_back(i);
  return true;
}

bool StateDirAlarmStore::counted(std::string_view unit, std::vector<AlertRecord>& undelivered) {
  if (unit.empty()) return false;
  const std::string digest = store::unit_digest(unit);
  if (!units_.count(digest)) return false;
  for (const auto& [seq, p] : undelivered_)
    if (p.unit == digest) undelivered.push_back(p.alert);
  return true;
}

bool StateDirAlarmStore::commit(const AlarmCommit& c, std::string& error) {
  journal::Entry e;
  e.kind = journal::Entry::Kind::kCommit;
  e.unit = c.unit.empty() ? std::string() : store::unit_digest(c.unit);
  e.stream_ms = c.stream_ms;
  e.instances = c.instances;
  e.transitions = c.transitions;
  const std::string payload = journal::encode(e);
  if (journal_.broken() || !journal_.room_for(payload.size())) {
    // Only a rewrite helps: tried now, then at most every rewrite_retry while it fails.
    const auto now = std::chrono::steady_clock::now();
    std::string why = "not tried again yet";
    if (now >= next_rewrite_) {
      if (compact(why)) {
        spdlog::info("alarm state {}: rewritten ({} bytes) before a commit; saving again", path(),
                     journal_.file_bytes());
      } else {
        next_rewrite_ = now + options_.rewrite_retry;
      }
    }
    if (journal_.broken()) {
      error = fmt::format("alarm state {}: a failed write could not be undone ({}), and the "
                          "journal could not be rewritten ({}); no alarm state is saved until it "
                          "can be",
                          path(), journal_.broken_reason(), why);
      return false;
    }
    if (!journal_.room_for(payload.size())) {
      error = fmt::format("alarm state {}: the journal has {} bytes, its limit, and cannot be "
                          "compacted ({}); no alarm state is saved until it can be (free disk "
                          "space)",
                          path(), journal_.file_bytes(), why);
      return false;
    }
  }
  failpoint::hit("before-alarm-commit");
  if (!journal_.append(payload, true, error)) return false;
  failpoint::hit("after-alarm-commit");
  apply(e);
  // Compaction when the journal doubled since the last snapshot (or since the last failed try:
  // a failing compaction is not retried at every commit).
  if (journal_.wants_compaction()) {
    std::string why;
    if (!compact(why)) {
      journal_.compaction_failed();
      spdlog::error("{}; tried again when the journal has doubled ({} bytes now, commits stop "
                    "at {})",
                    why, journal_.file_bytes(), options_.max_journal_bytes);
    }
  }
  return true;
}

void StateDirAlarmStore::delivered(const std::vector<std::string>& uids) {
  journal::Entry e;
  e.kind = journal::Entry::Kind::kDelivered;
  for (const std::string& uid : uids)
    if (undelivered_by_uid_.count(uid)) e.uids.push_back(uid);
  if (e.uids.empty()) return;
  apply(e);
  std::string error;
  if (!journal_.broken() && !journal_.append(journal::encode(e), false, error))
    spdlog::warn("{}: the delivery of {} alarm transitions is not recorded; they are sent again "
                 "after a restart (and dropped as duplicates)",
                 error, e.uids.size());
}

std::vector<AlertRecord> StateDirAlarmStore::undelivered() {
  std::vector<AlertRecord> out;
  out.reserve(undelivered_.size());
  for (const auto& [seq, p] : undelivered_) out.push_back(p.alert);
  return out;
}

bool StateDirAlarmStore::compact(std::string& error) {
  using Kind = journal::Entry::Kind;
  return journal_.rewrite(
      [this](const std::function<void(std::string_view)>& add) {
        journal::Entry start;
        start.kind = Kind::kSnapshot;
        start.stream_ms = stream_ms_;
        add(journal::encode(start));
        for (const auto& [key, i] : instances_) {
          journal::Entry e;
          e.kind = Kind::kInstances;
          e.instances.push_back(i);
          add(journal::encode(e));
        }
        for (size_t at = 0; at < unit_order_.size(); at += kUnitsPerRecord) {
          journal::Entry e;
          e.kind = Kind::kUnits;
          const size_t end = std::min(unit_order_.size(), at + kUnitsPerRecord);
          e.units.assign(unit_order_.begin() + static_cast<std::ptrdiff_t>(at),
                         unit_order_.begin() + static_cast<std::ptrdiff_t>(end));
          add(journal::encode(e));
        }
        for (const auto& [seq, p] : undelivered_) {
          journal::Entry e;
          e.kind = Kind::kUndelivered;
          e.undelivered.push_back(p);
          add(journal::encode(e));
        }
      },
      error);
}

}  // namespace trailwarden::alarms
