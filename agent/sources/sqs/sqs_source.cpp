#include "agent/sources/sqs/sqs_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "agent/common/backoff.h"
#include "agent/sources/inline_policy.h"
#include "agent/sources/notification.h"

namespace trailwarden {

namespace {

// A short, printable excerpt of an untrusted message body for logs.
std::string excerpt(std::string_view body, size_t max = 160) {
  std::string out;
  for (char c : body.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out.push_back(c);
  }
  if (body.size() > max) out += "...";
  return out;
}


constexpr size_t kBatch = 10;           // SQS's limit for DeleteMessageBatch / ChangeVisibility
constexpr int kDeleteAttempts = 8;      // retryable delete failures before giving a batch up
constexpr size_t kUnknownRemembered = 10000;  // message ids whose "not understood" was logged

}  // namespace

struct SqsSource::Impl {
  Impl(const SqsSourceConfig& c, MessageQueue& q, const Clock& cl, SqsSourceTiming t)
      : config(c), queue(q), clock(cl), timing(t) {
    config.max_messages = std::clamp<size_t>(config.max_messages, 1, kBatch);
    inline_policy.enabled = config.inline_events;
    inline_policy.via_sns = config.inline_events_via_sns;
    inline_policy.accounts = config.inline_accounts;
    inline_policy.regions = config.inline_regions;
    const auto visibility = std::chrono::seconds(config.visibility_timeout_seconds);
    heartbeat_interval = config.heartbeat_seconds > 0
                             ? std::chrono::seconds(config.heartbeat_seconds)
                             : std::max<std::chrono::seconds>(visibility / 3, std::chrono::seconds(1));
  }

  struct InFlight {
    std::string id;
    std::string receipt_handle;
    Clock::Steady last_extended;
  };

  SqsSourceConfig config;
  MessageQueue& queue;
  const Clock& clock;
  SqsSourceTiming timing;
  InlineEventPolicy inline_policy;
  std::chrono::seconds heartbeat_interval{1};
  SqsSourceCounters counters;
  std::mt19937 poll_rng{std::random_device{}()};
  int poll_failures = 0;
  std::atomic<bool> inline_off_reported{false};

  std::mutex mu;  // guards everything below
  std::condition_variable cv;  // something to delete, closing, or a backoff to cut short
  std::unordered_map<AckToken, InFlight> in_flight;
  AckToken next_token = 1;
  std::vector<std::string> to_delete;  // receipt handles
  bool closing = false;
  std::thread acker;
  std::deque<std::string> logged_unknown;  // message ids already reported, bounded
  std::unordered_set<std::string> logged_unknown_set;

  // ---- what a message may name ----
  bool allowed_bucket(const std::string& bucket) const {
    return std::find(config.allowed_buckets.begin(), config.allowed_buckets.end(), bucket) !=
           config.allowed_buckets.end();
  }
  bool wanted_key(const std::string& key) const {
    if (!config.key_prefixes.empty() &&
        std::none_of(config.key_prefixes.begin(), config.key_prefixes.end(),
                     [&](const std::string& p) { return key.starts_with(p); }))
      return false;
    if (!config.include_digest && key.find("/CloudTrail-Digest/") != std::string::npos) return false;
    if (!config.include_insights && key.find("/CloudTrail-Insight/") != std::string::npos)
      return false;
    return true;
  }

  void enqueue_delete(const std::string& receipt) {
    std::lock_guard<std::mutex> lock(mu);
    to_delete.push_back(receipt);
    cv.notify_all();
  }

  // ---- receiving ----
  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) {
    start_acknowledging();
    std::vector<QueueMessage> messages;
    RemoteStatus s = queue.receive(std::min(max, config.max_messages),
                                   std::chrono::seconds(config.wait_time_seconds),
                                   std::chrono::seconds(config.visibility_timeout_seconds),
                                   messages, &stop);
    if (stop) {  // cancelled or not: messages received now are released, not started
      std::vector<std::string> receipts;
      for (auto& m : messages) receipts.push_back(m.receipt_handle);
      if (!receipts.empty()) queue.extend_visibility(receipts, std::chrono::seconds(0));
      return Status::kOk;
    }
    if (!s.ok()) {
      ++counters.poll_errors;
      if (s.code == RemoteStatus::Code::kRetry) {
        auto delay = jittered_backoff(timing.retry_base, timing.retry_max, ++poll_failures, poll_rng);
        spdlog::warn("receiving from the queue failed: {}; retrying in {} ms", s.message,
                     delay.count());
        std::unique_lock<std::mutex> lock(mu);
        clock.wait_for(lock, cv, delay, [&] { return stop.load() || closing; });
        return Status::kOk;
      }
      error = fmt::format("cannot receive from the queue: {}", s.message);
      return Status::kFatal;
    }
    poll_failures = 0;
    counters.last_poll_ok_ms = clock.wall_ms();
    for (auto& m : messages) handle_message(std::move(m), out);
    return Status::kOk;
  }

  void handle_message(QueueMessage m, std::vector<WorkUnit>& out) {
    ++counters.messages_received;
    Notification n = parse_notification(m.body);
    switch (n.kind) {
      case Notification::Kind::kUnknown:
        ++counters.messages_unknown;
        log_unknown_once(m, n.reason);
        return;
      case Notification::Kind::kTestEvent:
        ++counters.messages_test_events;
        spdlog::info("message {}: s3:TestEvent, deleted", m.id);
        enqueue_delete(m.receipt_handle);
        return;
      case Notification::Kind::kIgnored:
        spdlog::debug("message {}: {}; deleted", m.id, n.reason);
        enqueue_delete(m.receipt_handle);
        return;
      case Notification::Kind::kInlineEvent:
        if (refuse_inline(m, n)) return;
        break;
      case Notification::Kind::kObjects:
        filter_objects(m, n);
        if (n.objects.empty()) {
          enqueue_delete(m.receipt_handle);
          return;
        }
        break;
    }
    out.push_back(make_unit(std::move(m), std::move(n)));
  }

  void log_unknown_once(const QueueMessage& m, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu);
    if (!logged_unknown_set.insert(m.id).second) return;
    logged_unknown.push_back(m.id);
    if (logged_unknown.size() > kUnknownRemembered) {
      logged_unknown_set.erase(logged_unknown.front());
      logged_unknown.pop_front();
    }
    spdlog::warn(
        "message {} (received {} times) is not a notification trailwarden understands: {}; "
        "it is not deleted and is left to the queue's redrive policy. Body: {}",
        m.id, m.receive_count, reason, excerpt(m.body));
  }

  // Refused like an object outside allowed_buckets: counted, logged, deleted, never matched
  // (docs/aws.md, "The inline route's trust model"). True if refused.
  bool refuse_inline(const QueueMessage& m, const Notification& n) {
    std::string why = inline_event_refusal(n.claims, inline_policy);
    if (why.empty()) return false;
    ++counters.inline_events_refused;
    // The route is off (the default, also after an upgrade from a version that matched these
    // events): the first refusal of a run says, at ERROR, how to turn it on.
    if (!inline_policy.enabled && !inline_off_reported.exchange(true))
      spdlog::error(
          "message {}: inline EventBridge event refused (not matched, deleted): {}. This "
          "queue receives EventBridge CloudTrail events: to match them, set [source.sqs] "
          "inline_events = true and inline_accounts (see docs/aws.md, \"The inline route's "
          "trust model\"), or remove the EventBridge rule that targets the queue. Later "
          "refusals are logged at WARN and counted in "
          "trailwarden_inline_events_refused_total",
          m.id, why);
    else
      spdlog::warn("message {}: inline EventBridge event refused (not matched, deleted): {}", m.id,
                   why);
    enqueue_delete(m.receipt_handle);
    return true;
  }

  // Keeps the objects that may and should be read.
  void filter_objects(const QueueMessage& m, Notification& n) {
    std::vector<ObjectRef> kept;
    for (auto& o : n.objects) {
      if (!allowed_bucket(o.bucket)) {
        ++counters.notifications_refused;
        spdlog::warn("message {} names {}: bucket not in source.sqs.allowed_buckets, refused "
                     "(not fetched)",
                     m.id, object_name(o));
        continue;
      }
      // The other reading of an EventBridge key passes the same checks as the key, or is
      // dropped; if only it passes, it is the key to read.
      if (!o.alternate_key.empty() && !wanted_key(o.alternate_key)) o.alternate_key.clear();
      if (!wanted_key(o.key) && !o.alternate_key.empty()) {
        o.key = std::move(o.alternate_key);
        o.alternate_key.clear();
      }
      if (!wanted_key(o.key)) {
        ++counters.objects_skipped;
        spdlog::debug("message {}: {} is not a CloudTrail log object to read, skipped", m.id,
                      object_name(o));
        continue;
      }
      kept.push_back(std::move(o));
    }
    n.objects = std::move(kept);
  }

  WorkUnit make_unit(QueueMessage m, Notification n) {
    WorkUnit u;
    u.origin.notification = n.route;
    u.origin.message_id = m.id;
    u.sent_ms = m.sent_ms;
    if (n.kind == Notification::Kind::kInlineEvent) {
      u.payload = WorkUnit::Payload::kEvent;
      u.name = fmt::format("message {} (EventBridge event)", m.id);
      u.bytes = std::move(n.inline_event);
      u.origin.route = RecordOrigin::Route::kInlineEvent;
      u.origin.event_id = n.claims.id;
      u.origin.source = n.claims.source;
      u.origin.account = n.claims.account;
      u.origin.region = n.claims.region;
    } else {
      u.payload = WorkUnit::Payload::kObjects;
      u.name = fmt::format("message {}", m.id);
      u.objects = std::move(n.objects);
      u.origin.route = RecordOrigin::Route::kS3Object;
    }
    std::lock_guard<std::mutex> lock(mu);
    u.token = next_token++;
    in_flight[u.token] = InFlight{m.id, m.receipt_handle, clock.now()};
    counters.in_flight = in_flight.size();
    return u;
  }

  // ---- acknowledging ----
  void done(AckToken token, bool ok, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = in_flight.find(token);
    if (it == in_flight.end()) return;  // released at shutdown: another agent may own it now
    InFlight f = std::move(it->second);
    in_flight.erase(it);
    counters.in_flight = in_flight.size();
    if (!ok) {
      ++counters.messages_failed;
      spdlog::warn("message {} is not deleted ({}); it becomes visible again after its "
                   "visibility timeout and goes to the dead-letter queue after maxReceiveCount",
                   f.id, why);
      return;
    }
    to_delete.push_back(f.receipt_handle);
    cv.notify_all();
  }

  void release(const std::vector<AckToken>& unfinished) {
    std::vector<std::string> receipts;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (AckToken t : unfinished) {
        auto it = in_flight.find(t);
        if (it == in_flight.end()) continue;
        receipts.push_back(it->second.receipt_handle);
        in_flight.erase(it);
      }
      counters.in_flight = in_flight.size();
    }
    // Visible again at once, for this or another agent.
    for (size_t i = 0; i < receipts.size(); i += kBatch) {
      std::vector<std::string> batch(
          receipts.begin() + static_cast<long>(i),
          receipts.begin() + static_cast<long>(std::min(i + kBatch, receipts.size())));
      queue.extend_visibility(batch, std::chrono::seconds(0));
    }
    if (!receipts.empty())
      spdlog::warn("{} messages were not finished before the deadline; released for redelivery",
                   receipts.size());
  }

  void start_acknowledging() {
    std::lock_guard<std::mutex> lock(mu);
    if (!acker.joinable() && !closing) acker = std::thread([this] { ack_loop(); });
  }

  void close() {
    std::thread t;
    {
      std::lock_guard<std::mutex> lock(mu);
      closing = true;
      cv.notify_all();
      t = std::move(acker);
    }
    if (t.joinable()) t.join();
  }

  // Deletes finished messages in batches and extends the visibility of those still in work.
  void ack_loop() {
    std::mt19937 rng(std::random_device{}());
    int delete_failures = 0;
    while (true) {
      std::vector<std::string> batch;
      std::vector<std::string> extend;
      bool stopping;
      {
        std::unique_lock<std::mutex> lock(mu);
        clock.wait_for(lock, cv, std::chrono::seconds(1),
                       [&] { return closing || !to_delete.empty(); });
        stopping = closing;
        size_t n = std::min(to_delete.size(), kBatch);
        batch.assign(to_delete.begin(), to_delete.begin() + static_cast<long>(n));
        to_delete.erase(to_delete.begin(), to_delete.begin() + static_cast<long>(n));
        const auto now = clock.now();
        for (auto& [token, f] : in_flight) {
          if (now - f.last_extended >= heartbeat_interval && extend.size() < kBatch) {
            extend.push_back(f.receipt_handle);
            f.last_extended = now;
          }
        }
      }
      if (!batch.empty()) delete_batch(batch, delete_failures, rng);
      if (!extend.empty()) {
        RemoteStatus s = queue.extend_visibility(
            extend, std::chrono::seconds(config.visibility_timeout_seconds));
        if (s.ok()) counters.visibility_extensions += extend.size();
        else
          spdlog::warn("cannot extend the visibility of {} in-flight messages: {}", extend.size(),
                       s.message);
      }
      if (stopping) {
        std::lock_guard<std::mutex> lock(mu);
        if (to_delete.empty()) return;
      }
    }
  }

  void delete_batch(const std::vector<std::string>& batch, int& failures, std::mt19937& rng) {
    std::vector<std::string> failed;
    RemoteStatus s = queue.delete_messages(batch, failed);
    if (!s.ok()) failed = batch;
    counters.messages_deleted += batch.size() - failed.size();
    if (failed.empty()) {
      failures = 0;
      return;
    }
    if (s.code == RemoteStatus::Code::kRetry && ++failures < kDeleteAttempts) {
      std::unique_lock<std::mutex> lock(mu);
      to_delete.insert(to_delete.end(), failed.begin(), failed.end());
      // Remote backoff; not cut short by close(): the last deletes are still worth trying.
      clock.wait_for(lock, cv, jittered_backoff(timing.retry_base, timing.retry_max, failures, rng),
                     [] { return false; });
      return;
    }
    spdlog::warn("{} messages could not be deleted ({}); they will be delivered again, "
                 "and their alerts suppressed as duplicates",
                 failed.size(), s.ok() ? "rejected by the queue" : s.message);
    failures = 0;
  }
};

SqsSource::SqsSource(const SqsSourceConfig& config, MessageQueue& queue, const Clock& clock,
                     SqsSourceTiming timing)
    : impl_(std::make_unique<Impl>(config, queue, clock, timing)) {}

SqsSource::~SqsSource() { close(); }

Source::Status SqsSource::next(size_t max, const std::atomic<bool>& stop,
                               std::vector<WorkUnit>& out, std::string& error) {
  return impl_->next(max, stop, out, error);
}

void SqsSource::done(AckToken token, bool ok, const std::string& why) { impl_->done(token, ok, why); }

void SqsSource::release(const std::vector<AckToken>& unfinished) { impl_->release(unfinished); }

void SqsSource::close() { impl_->close(); }

const SqsSourceCounters& SqsSource::counters() const { return impl_->counters; }

}  // namespace trailwarden
