#include "agent/engine/deliver.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/common/failpoint.h"

namespace trailwarden {

void register_delivery_metrics(MetricsRegistry& registry, const DeliveryCounters& k) {
  registry.add([&k](PrometheusWriter& w) {
    w.counter("trailwarden_records_failed_total",
              "Bad records (over limits.max_record_bytes or max_depth, invalid UTF-8 or control "
              "characters, unparseable): not matched, written to state_dir/bad-records.ndjson.",
              k.records_failed.load());
    w.counter("trailwarden_alerts_total", "Alerts handed to the outputs.", k.alerts_sent.load());
    w.counter("trailwarden_alerts_duplicate_suppressed_total",
              "Alerts not sent again because their finding uid was already delivered "
              "(redelivered messages).",
              k.alerts_suppressed.load());
    w.family("trailwarden_notification_to_alert_seconds", "histogram",
             "From the notification's arrival in SQS (SentTimestamp) to its alert being handed "
             "to the outputs.");
    w.histogram("trailwarden_notification_to_alert_seconds", k.notification_to_alert_seconds);
  });
}

DeliveryStage::DeliveryStage(DeliveryOptions options, DeliveryPipeline& outputs, const Clock& clock)
    : options_(std::move(options)),
      outputs_(outputs),
      clock_(clock),
      dedup_(options_.dedup_path, options_.dedup_capacity),
      bad_records_(options_.bad_records_path, options_.bad_records_max_bytes) {}

bool DeliveryStage::open(std::string& error) {
  if (!options_.dedup) return true;
  if (!open_) open_ = dedup_.open(error);
  return open_;
}

bool DeliveryStage::remember_buffered(const std::vector<std::string>& uids, std::string& error) {
  if (!open(error)) return false;
  if (uids.empty() || !options_.dedup) return true;
  for (const std::string& uid : uids) dedup_.add(uid);
  if (!dedup_.sync(error)) return false;
  spdlog::info("{} alerts found in the output buffers are remembered as delivered: a message "
               "that named them and comes back does not alert again",
               uids.size());
  return true;
}

std::string DeliveryStage::record_bad(const std::string& name, const std::string& message_id,
                                      const ObjectResult& result) {
  if (result.bad_record_count == 0) return {};
  counters_.records_failed += result.bad_record_count;
  if (options_.bad_records_path.empty()) return {};  // logged by the processor only
  std::string error;
  if (!bad_records_.write(name, message_id, result.bad_records,
                          result.bad_record_count - result.bad_records.size(), error))
    return fmt::format("{}: {} bad records not recorded ({})", name, result.bad_record_count,
                       error);
  spdlog::warn("{}: {} bad records written to {}; the object's other records are matched", name,
               result.bad_record_count, bad_records_.path());
  return {};
}

std::string DeliveryStage::deliver(const std::vector<AlertRecord>& alerts, int64_t sent_ms) {
  if (alerts.empty()) return {};
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const AlertRecord*> fresh;
  for (const AlertRecord& a : alerts) {
    if (options_.dedup && dedup_.contains(a.uid)) ++counters_.alerts_suppressed;
    else fresh.push_back(&a);
  }
  if (fresh.empty()) return {};
  std::string error;
  bool ok;
  if (options_.dedup) {
    // Once the alerts are in every buffer and before any buffer may remove one. One fdatasync
    // per object.
    auto remember = [&] {
      failpoint::hit("before-dedup-sync");
      for (const AlertRecord* a : fresh) dedup_.add(a->uid);
      std::string sync_error;
      if (!dedup_.sync(sync_error)) spdlog::warn("{}", sync_error);  // only dedup suffers
      failpoint::hit("after-dedup-sync");
    };
    ok = outputs_.submit(fresh, error, remember);
  } else {
    ok = outputs_.submit(fresh, error);
  }
  if (!ok) return error.empty() ? std::string("the outputs did not accept the alerts") : error;
  counters_.alerts_sent += fresh.size();
  if (sent_ms > 0) {
    const double latency = std::max<int64_t>(0, clock_.wall_ms() - sent_ms) / 1000.0;
    for (size_t i = 0; i < fresh.size(); ++i) counters_.notification_to_alert_seconds.observe(latency);
  }
  return {};
}

}  // namespace trailwarden
