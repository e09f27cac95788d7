#include "agent/sources/backfill/backfill_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace trailwarden {

namespace {

constexpr const char* kNotification = "backfill";

long long seconds_of(std::chrono::milliseconds d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

BackfillSource::BackfillSource(BackfillOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  options_.attempts = std::max(options_.attempts, 1);
  options_.retry_after = std::max(options_.retry_after, std::chrono::milliseconds(0));
}

void BackfillSource::on_finished(Finished finished) {
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = std::move(finished);
}

void BackfillSource::set_pending_locked() {
  counters_.pending = static_cast<int64_t>(items_.size());
}

bool BackfillSource::add(const ObjectRef& object, const std::string& reason) {
  if (object.bucket.empty() || object.key.empty()) {
    ++counters_.dropped;
    spdlog::warn("backfill: refused {} ({}): it names no bucket or no key", object_name(object),
                 reason);
    return false;
  }
  const std::string name = object_name(object);
  std::lock_guard<std::mutex> lock(mu_);
  if (items_.count(name)) return false;  // queued or in flight: it will be read
  if (items_.size() >= options_.max_pending) {
    ++counters_.dropped;
    if (!full_logged_) {
      full_logged_ = true;
      spdlog::warn("backfill: {} files are already waiting to be read; {} ({}) and the files "
                   "listed after it are not backfilled until the queue drains "
                   "(trailwarden_integrity_backfill_dropped_total counts them)",
                   items_.size(), name, reason);
    }
    return false;
  }
  Item item;
  item.object = object;
  item.reason = reason;
  item.due = clock_.now();
  queue_.emplace(item.due, name);
  items_.emplace(name, std::move(item));
  set_pending_locked();
  spdlog::debug("backfill: {} queued ({})", name, reason);
  return true;
}

Source::Status BackfillSource::next(size_t max, const std::atomic<bool>&,
                                    std::vector<WorkUnit>& out, std::string&) {
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::Steady now = clock_.now();
  size_t handed = 0;
  while (handed < max && !queue_.empty() && queue_.begin()->first <= now) {
    const std::string name = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    auto it = items_.find(name);
    if (it == items_.end()) continue;  // cannot happen: queued items are known
    Item& item = it->second;
    item.token = next_token_++;
    in_flight_.emplace(item.token, name);
    if (!item.counted) {
      item.counted = true;
      if (item.failures == 0) {
        ++counters_.backfilled;
        spdlog::debug("backfill: reading {} ({})", name, item.reason);
      } else {
        ++counters_.retried;
        spdlog::debug("backfill: reading {} again (try {} of {})", name, item.failures + 1,
                      options_.attempts);
      }
    }
    WorkUnit u;
    u.payload = WorkUnit::Payload::kObjects;
    u.name = "backfill " + name;
    u.objects.push_back(item.object);
    u.origin.route = RecordOrigin::Route::kS3Object;
    u.origin.notification = kNotification;
    u.origin.bucket = item.object.bucket;
    u.origin.key = item.object.key;
    u.sent_ms = 0;  // no notification was sent
    u.token = item.token;
    out.push_back(std::move(u));
    ++handed;
  }
  return Status::kOk;
}

void BackfillSource::done(AckToken token, bool ok, const std::string& why) {
  ObjectRef object;
  bool report = false;
  Finished finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = in_flight_.find(token);
    if (f == in_flight_.end()) {
      spdlog::debug("backfill: done() for token {} that is not in flight, ignored", token);
      return;
    }
    const std::string name = std::move(f->second);
    in_flight_.erase(f);
    auto it = items_.find(name);
    if (it == items_.end()) return;  // cannot happen: in-flight items are known
    Item& item = it->second;
    item.token = 0;
    if (ok) {
      if (item.failures == 0)
        spdlog::info("backfilled {} ({}): read and matched", name, item.reason);
      else
        spdlog::info("backfilled {} ({}): read and matched at try {} of {}", name, item.reason,
                     item.failures + 1, options_.attempts);
    } else if (++item.failures < options_.attempts) {
      item.counted = false;
      item.due = clock_.now() + std::chrono::duration_cast<Clock::Steady::duration>(
                                    options_.retry_after);
      queue_.emplace(item.due, name);
      spdlog::warn("backfill of {} failed (try {} of {}): {}; trying again in {} s", name,
                   item.failures, options_.attempts, why, seconds_of(options_.retry_after));
      return;
    } else {
      ++counters_.failed;
      spdlog::error("backfill of {} given up after {} {}: {}; its records are not matched ({})",
                    name, item.failures, item.failures == 1 ? "try" : "tries", why, item.reason);
    }
    object = std::move(item.object);
    items_.erase(it);
    set_pending_locked();
    if (items_.size() < options_.max_pending) full_logged_ = false;
    finished = finished_;
    report = static_cast<bool>(finished);
  }
  if (report) finished(object, ok, ok ? std::string() : why);
}

void BackfillSource::release(const std::vector<AckToken>& unfinished) {
  std::lock_guard<std::mutex> lock(mu_);
  for (AckToken token : unfinished) {
    auto f = in_flight_.find(token);
    if (f == in_flight_.end()) continue;
    const std::string name = std::move(f->second);
    in_flight_.erase(f);
    auto it = items_.find(name);
    if (it == items_.end()) continue;
    it->second.token = 0;
    queue_.emplace(it->second.due, name);  // its place: due as before, no try counted
  }
}

void register_backfill_metrics(MetricsRegistry& registry, const BackfillCounters& counters) {
  registry.add([&k = counters](PrometheusWriter& w) {
    w.counter("trailwarden_integrity_backfilled_total",
              "Log files a valid digest lists that no notification brought, handed to the "
              "engine to be read and matched (counted once each).",
              k.backfilled.load());
    w.counter("trailwarden_integrity_backfill_retries_total",
              "Backfilled log files read again after a failed try.", k.retried.load());
    w.counter("trailwarden_integrity_backfill_failed_total",
              "Backfilled log files given up after every try failed: their records are not "
              "matched (integrity.log_file_unreadable).",
              k.failed.load());
    w.counter("trailwarden_integrity_backfill_dropped_total",
              "Log files not backfilled because the backfill queue was full: not read, not "
              "checked.",
              k.dropped.load());
    w.gauge("trailwarden_integrity_backfill_pending",
            "Log files waiting to be backfilled or being read.",
            static_cast<double>(k.pending.load()));
  });
}

}  // namespace trailwarden
