#include "agent/pipeline/daemon.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "agent/aws/time_util.h"
#include "agent/common/backoff.h"
#include "agent/common/failpoint.h"
#include "agent/pipeline/dedup.h"
#include "agent/pipeline/processor.h"
#include "agent/pipeline/record_dead_letter.h"
#include "agent/rules/matcher.h"

namespace trailwarden {

namespace {

using SteadyClock = std::chrono::steady_clock;

// How far ahead of this host's clock a record's eventTime may be and still count for the
// event-age gauge (clock skew between AWS and this host).
constexpr std::chrono::minutes kEventClockSkew{15};

// A message received and not yet finished.
struct InFlight {
  QueueMessage message;
  std::string route;
  std::vector<ObjectRef> objects;  // what to fetch
  std::string inline_event;        // or the event to match
  InlineEventClaims claims;        // what the inline event's envelope claims
  size_t pending = 0;              // tasks not yet done
  bool failed = false;
  bool abandoned = false;  // released at shutdown: another agent may own it now, never delete
  std::string error;
  SteadyClock::time_point last_extended;
};

struct Task {
  std::shared_ptr<InFlight> message;
  size_t index = 0;  // into objects; unused for inline events
};

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

std::string object_name(const ObjectRef& o) { return fmt::format("s3://{}/{}", o.bucket, o.key); }

std::vector<const rules::Rule*> enabled_of(const std::vector<rules::Rule>& all) {
  std::vector<const rules::Rule*> out;
  for (const auto& r : all)
    if (r.enabled) out.push_back(&r);
  return out;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2025-01-01T00:00:00Z" as epoch milliseconds; 0 if malformed.
int64_t iso8601_ms(std::string_view t) {
  aws::TimePoint tp;
  if (t.empty() || !aws::parse_iso8601(t, tp)) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
}

}  // namespace

RuleSet::RuleSet(std::vector<rules::Rule> all)
    : owned(std::move(all)), enabled(enabled_of(owned)), matcher(enabled) {}

RuleSet::RuleSet(std::vector<const rules::Rule*> rules)
    : enabled(std::move(rules)), matcher(enabled) {}

struct Daemon::Impl {
  Impl(DaemonOptions o, MessageQueue& q, ObjectStore& s, std::shared_ptr<const RuleSet> r,
       DeliveryPipeline& outs)
      : opt(std::move(o)),
        queue(q),
        store(s),
        outputs(outs),
        rule_set(std::move(r)),
        dedup(opt.dedup_path, opt.dedup_capacity),
        bad_records(opt.bad_records_path, opt.bad_records_max_bytes) {
    if (opt.heartbeat_interval.count() <= 0)
      opt.heartbeat_interval = std::max<std::chrono::seconds>(opt.visibility_timeout / 3,
                                                              std::chrono::seconds(1));
    opt.max_messages = std::clamp<size_t>(opt.max_messages, 1, 10);
    opt.max_in_flight = std::max<size_t>(opt.max_in_flight, 1);
    opt.workers = std::max<size_t>(opt.workers, 1);
  }

  DaemonOptions opt;
  MessageQueue& queue;
  ObjectStore& store;
  DeliveryPipeline& outputs;
  mutable std::mutex rules_mu;                 // guards rule_set and matches
  std::shared_ptr<const RuleSet> rule_set;
  std::atomic<uint64_t> rules_generation{0};
  std::unordered_map<std::string, uint64_t> matches;  // per rule id
  DedupWindow dedup;
  RecordDeadLetterFile bad_records;
  DaemonCounters counters;

  std::mutex mu;  // guards everything below
  std::condition_variable cv_tasks;     // tasks or workers_stop
  std::condition_variable cv_capacity;  // in_flight shrank
  std::condition_variable cv_ack;       // something to delete, or ack_stop
  std::deque<Task> tasks;
  std::unordered_map<std::string, std::shared_ptr<InFlight>> in_flight;  // by message id
  std::vector<std::string> to_delete;  // receipt handles
  bool workers_stop = false;
  std::atomic<bool> cancel_fetches{false};  // set with workers_stop: downloads in flight give up
  bool ack_stop = false;
  std::deque<std::string> logged_unknown;  // message ids already reported, bounded
  std::unordered_set<std::string> logged_unknown_set;

  std::atomic<bool> fatal{false};
  std::atomic<bool> inline_off_reported{false};  // the first refusal of an off route was logged
  std::mutex output_mu;  // serialises delivery: check duplicate, write, flush, remember
  bool dedup_open = false;  // start-up only (remember_buffered, run)

  // ---- helpers ----
  bool allowed_bucket(const std::string& bucket) const {
    return std::find(opt.allowed_buckets.begin(), opt.allowed_buckets.end(), bucket) !=
           opt.allowed_buckets.end();
  }
  bool wanted_key(const std::string& key) const {
    if (!opt.key_prefixes.empty() &&
        std::none_of(opt.key_prefixes.begin(), opt.key_prefixes.end(),
                     [&](const std::string& p) { return key.starts_with(p); }))
      return false;
    if (!opt.include_digest && key.find("/CloudTrail-Digest/") != std::string::npos) return false;
    if (!opt.include_insights && key.find("/CloudTrail-Insight/") != std::string::npos) return false;
    return true;
  }

  void fail_fatal(const std::string& why) {
    if (!fatal.exchange(true)) spdlog::error("{}", why);
  }

  // Waits `delay`, waking early when `until` holds (called without mu held).
  template <typename Pred>
  void wait_for(std::chrono::milliseconds delay, Pred until) {
    std::unique_lock<std::mutex> lock(mu);
    cv_tasks.wait_for(lock, delay, until);
  }

  std::chrono::milliseconds backoff(int attempt, std::mt19937& rng) const {
    return jittered_backoff(opt.retry_base, opt.retry_max, attempt, rng);
  }

  // ---- receiving ----
  void handle_message(QueueMessage m) {
    ++counters.messages_received;
    Notification n = parse_notification(m.body);
    switch (n.kind) {
      case Notification::Kind::kUnknown: {
        ++counters.messages_unknown;
        std::lock_guard<std::mutex> lock(mu);
        if (logged_unknown_set.insert(m.id).second) {
          logged_unknown.push_back(m.id);
          if (logged_unknown.size() > 10000) {
            logged_unknown_set.erase(logged_unknown.front());
            logged_unknown.pop_front();
          }
          spdlog::warn(
              "message {} (received {} times) is not a notification trailwarden understands: {}; "
              "it is not deleted and is left to the queue's redrive policy. Body: {}",
              m.id, m.receive_count, n.reason, excerpt(m.body));
        }
        return;
      }
      case Notification::Kind::kTestEvent:
        ++counters.messages_test_events;
        spdlog::info("message {}: s3:TestEvent, deleted", m.id);
        enqueue_delete(m.receipt_handle);
        return;
      case Notification::Kind::kIgnored:
        spdlog::debug("message {}: {}; deleted", m.id, n.reason);
        enqueue_delete(m.receipt_handle);
        return;
      case Notification::Kind::kInlineEvent: {
        // Refused like an object outside allowed_buckets: counted, logged, deleted, never
        // matched (docs/aws.md, "The inline route's trust model").
        if (std::string why = inline_event_refusal(n.claims, opt.inline_events); !why.empty()) {
          ++counters.inline_events_refused;
          // The route is off (the default, also after an upgrade from a version that matched
          // these events): the first refusal of a run says, at ERROR, how to turn it on.
          if (!opt.inline_events.enabled && !inline_off_reported.exchange(true))
            spdlog::error(
                "message {}: inline EventBridge event refused (not matched, deleted): {}. This "
                "queue receives EventBridge CloudTrail events: to match them, set [source.sqs] "
                "inline_events = true and inline_accounts (see docs/aws.md, \"The inline route's "
                "trust model\"), or remove the EventBridge rule that targets the queue. Later "
                "refusals are logged at WARN and counted in "
                "trailwarden_inline_events_refused_total",
                m.id, why);
          else
            spdlog::warn("message {}: inline EventBridge event refused (not matched, deleted): {}",
                         m.id, why);
          enqueue_delete(m.receipt_handle);
          return;
        }
        auto f = std::make_shared<InFlight>();
        f->message = std::move(m);
        f->route = n.route;
        f->inline_event = std::move(n.inline_event);
        f->claims = std::move(n.claims);
        submit(std::move(f), 1);
        return;
      }
      case Notification::Kind::kObjects:
        break;
    }
    auto f = std::make_shared<InFlight>();
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
      f->objects.push_back(std::move(o));
    }
    if (f->objects.empty()) {
      enqueue_delete(m.receipt_handle);
      return;
    }
    f->message = std::move(m);
    f->route = n.route;
    size_t count = f->objects.size();
    submit(std::move(f), count);
  }

  void submit(std::shared_ptr<InFlight> f, size_t count) {
    std::lock_guard<std::mutex> lock(mu);
    f->pending = count;
    f->last_extended = SteadyClock::now();
    in_flight[f->message.id] = f;
    counters.in_flight = in_flight.size();
    for (size_t i = 0; i < count; ++i) tasks.push_back(Task{f, i});
    cv_tasks.notify_all();
  }

  void enqueue_delete(const std::string& receipt) {
    std::lock_guard<std::mutex> lock(mu);
    to_delete.push_back(receipt);
    cv_ack.notify_all();
  }

  // ---- workers ----
  void worker() {
    std::shared_ptr<const RuleSet> rules;
    std::unique_ptr<ObjectProcessor> processor;
    uint64_t generation = ~uint64_t{0};
    std::mt19937 rng(std::random_device{}());
    while (true) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_tasks.wait(lock, [&] { return workers_stop || !tasks.empty(); });
        if (workers_stop) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      InFlight& f = *task.message;
      bool skip;
      {
        std::lock_guard<std::mutex> lock(mu);
        skip = f.failed;  // no point reading the rest of a message that will come back
      }
      if (generation != rules_generation.load()) {  // first task, or rules were reloaded
        std::lock_guard<std::mutex> lock(rules_mu);
        generation = rules_generation.load();
        rules = rule_set;
        processor = std::make_unique<ObjectProcessor>(rules->matcher, opt.limits, opt.ocsf);
      }
      std::string error;
      if (!skip) error = run_task(f, task.index, *processor, rng);
      finish(task.message, error);
    }
  }

  // Processes one object (or the inline event) of a message; returns an error or "".
  std::string run_task(InFlight& f, size_t index, ObjectProcessor& processor, std::mt19937& rng) {
    const auto started = SteadyClock::now();
    ObjectResult result;
    std::string name;
    RecordOrigin origin;
    origin.notification = f.route;
    origin.message_id = f.message.id;
    // The event-age gauge follows records read from S3 only, and no time further ahead than
    // clock skew explains: an inline event is a claim, and one accepted with an eventTime in 2099
    // would otherwise hide any lag for the life of the process.
    processor.track_event_time(
        f.inline_event.empty(),
        aws::format_iso8601(std::chrono::system_clock::now() + kEventClockSkew));
    if (!f.inline_event.empty()) {
      name = fmt::format("message {} (EventBridge event)", f.message.id);
      origin.route = RecordOrigin::Route::kInlineEvent;
      origin.event_id = f.claims.id;
      origin.source = f.claims.source;
      origin.account = f.claims.account;
      origin.region = f.claims.region;
      processor.set_origin(std::move(origin));
      processor.process_event(name, f.inline_event, result);
    } else {
      const ObjectRef& o = f.objects[index];
      bool stopped = false;  // shutdown came during a backoff
      auto fetch = [&](const ObjectRef& what) {
        RemoteStatus s;
        for (int attempt = 0;; ++attempt) {
          s = store.get(what, opt.max_object_bytes, processor.raw_buffer(), &cancel_fetches);
          if (s.code != RemoteStatus::Code::kRetry || attempt + 1 >= opt.fetch_attempts) break;
          ++counters.fetch_retries;
          auto delay = backoff(attempt, rng);
          spdlog::debug("{}: {}; retrying in {} ms", object_name(what), s.message, delay.count());
          wait_for(delay, [&] { return workers_stop; });
          if ((stopped = workers_stop)) break;
        }
        return s;
      };
      ObjectRef read = o;
      RemoteStatus s = fetch(read);
      if (stopped) return "shutting down";
      // An EventBridge key that is not there as given (S3 says 403 AccessDenied, not 404, when
      // the policy lacks s3:ListBucket): its URL-decoded reading, checked like the key itself.
      if ((s.code == RemoteStatus::Code::kNotFound ||
           s.code == RemoteStatus::Code::kAccessDenied) &&
          !o.alternate_key.empty()) {
        read.key = o.alternate_key;
        read.alternate_key.clear();
        // A 403 may be about something else (KMS, owner): another key that exists is read only
        // if it is the notified object (If-Match its ETag, else its size), at its current version.
        read.version_id.clear();
        read.verify_identity = true;
        RemoteStatus second = fetch(read);
        if (stopped) return "shutting down";
        if (second.ok()) {
          ++counters.key_fallbacks;
          spdlog::warn(
              "{}: not readable as notified ({}); read under the URL-decoded key {} "
              "(EventBridge delivered the key URL-encoded)",
              object_name(o), s.message, object_name(read));
        } else {
          second.message = fmt::format("{}; under the URL-decoded key {}: {}", s.message, read.key,
                                       second.message);
        }
        s = std::move(second);
      }
      name = object_name(read);
      origin.route = RecordOrigin::Route::kS3Object;
      origin.bucket = read.bucket;
      origin.key = read.key;
      processor.set_origin(std::move(origin));
      if (!s.ok()) {
        processor.release_memory();  // a large partial download must not stay pinned either
        std::string why = fmt::format("cannot fetch {}: {}", name, s.message);
        spdlog::error("{} (message {} is kept for redelivery)", why, f.message.id);
        return why;
      }
      ++counters.objects_fetched;
      counters.bytes_fetched += processor.raw_buffer().size();
      processor.process_raw(name, result);
    }
    counters.records += result.stats.records;
    counters.alerts_time_unparsed += result.alerts_time_unparsed;
    if (result.failed) return fmt::format("{}: {}", name, result.error);
    if (std::string why = dead_letter(name, f.message.id, result); !why.empty()) return why;
    std::string error = deliver(result, f.message.sent_ms);
    counters.object_seconds.observe(std::chrono::duration<double>(SteadyClock::now() - started).count());
    if (const int64_t t = iso8601_ms(result.newest_event_time)) {
      int64_t seen = counters.newest_event_ms.load();
      while (t > seen && !counters.newest_event_ms.compare_exchange_weak(seen, t)) {
      }
    }
    if (!result.alerts.empty()) {
      std::lock_guard<std::mutex> lock(rules_mu);
      const auto& rules = processor.rules();
      for (size_t i = 0; i < result.per_rule.size() && i < rules.size(); ++i)
        if (result.per_rule[i]) matches[rules[i]->id] += result.per_rule[i];
    }
    return error;
  }

  bool open_dedup(std::string& error) {
    if (!dedup_open) dedup_open = dedup.open(error);
    return dedup_open;
  }

  // The uids of alerts a previous run left in the output buffers: remembered (durably) before
  // any of them is delivered and before any message is received.
  bool remember_buffered(const std::vector<std::string>& uids, std::string& error) {
    if (!open_dedup(error)) return false;
    if (uids.empty()) return true;
    for (const std::string& uid : uids) dedup.add(uid);
    if (!dedup.sync(error)) return false;
    spdlog::info("{} alerts found in the output buffers are remembered as delivered: a message "
                 "that named them and comes back does not alert again",
                 uids.size());
    return true;
  }

  // Writes the object's bad records to the bad-records file (they can never be matched, so they
  // are recorded instead of retried). Returns an error (the message is then kept) or "".
  std::string dead_letter(const std::string& name, const std::string& message_id,
                          const ObjectResult& result) {
    if (result.bad_record_count == 0) return {};
    counters.records_failed += result.bad_record_count;
    if (opt.bad_records_path.empty()) return {};  // logged by the processor only
    std::string error;
    if (!bad_records.write(name, message_id, result.bad_records,
                           result.bad_record_count - result.bad_records.size(), error)) {
      spdlog::error("{}: {} bad records not recorded ({}); message {} is kept for redelivery", name,
                    result.bad_record_count, error, message_id);
      return error;
    }
    spdlog::warn("{}: {} bad records written to {}; the object's other records are matched",
                 name, result.bad_record_count, bad_records.path());
    return {};
  }

  // Writes the alerts (skipping those already delivered) to every output's buffer and
  // remembers their uids before any buffer may remove them. Returns an error or "". The window
  // is keyed by the finding uid, which carries the record's trust domain (finding_uid()): an
  // inline event only ever suppresses an inline event, and a record read from S3 is never
  // suppressed by one.
  std::string deliver(const ObjectResult& result, int64_t sent_ms) {
    if (result.alerts.empty()) return {};
    std::lock_guard<std::mutex> lock(output_mu);
    std::vector<const AlertRecord*> fresh;
    for (const AlertRecord& a : result.alerts) {
      if (dedup.contains(a.uid)) ++counters.alerts_suppressed;
      else fresh.push_back(&a);
    }
    if (fresh.empty()) return {};
    std::string error;
    // Once the alerts are in every buffer and before any buffer may remove one: after a crash
    // anywhere, a buffer still holds each alert or the window knows it (or both), so the
    // message, delivered again, never alerts twice. One fdatasync per object, as before.
    auto remember = [&] {
      failpoint::hit("before-dedup-sync");
      for (const AlertRecord* a : fresh) dedup.add(a->uid);
      std::string sync_error;
      if (!dedup.sync(sync_error)) spdlog::warn("{}", sync_error);  // only dedup suffers
      failpoint::hit("after-dedup-sync");
    };
    if (!outputs.submit(fresh, error, remember)) {
      if (outputs.failed()) fail_fatal(fmt::format("{}; stopping", error));
      return error;
    }
    counters.alerts_sent += fresh.size();
    if (sent_ms > 0) {
      const double latency = std::max<int64_t>(0, wall_ms() - sent_ms) / 1000.0;
      for (size_t i = 0; i < fresh.size(); ++i) counters.notification_to_alert_seconds.observe(latency);
    }
    return {};
  }

  void finish(const std::shared_ptr<InFlight>& f, const std::string& error) {
    std::lock_guard<std::mutex> lock(mu);
    if (!error.empty() && !f->failed) {
      f->failed = true;
      f->error = error;
    }
    if (--f->pending > 0) return;
    in_flight.erase(f->message.id);
    counters.in_flight = in_flight.size();
    if (f->abandoned) return;
    if (f->failed) {
      ++counters.messages_failed;
      spdlog::warn("message {} is not deleted ({}); it becomes visible again after its "
                   "visibility timeout and goes to the dead-letter queue after maxReceiveCount",
                   f->message.id, f->error);
    } else {
      to_delete.push_back(f->message.receipt_handle);
      cv_ack.notify_all();
    }
    cv_capacity.notify_all();
  }

  // ---- acknowledgement thread: deletes and heartbeats ----
  void ack_loop() {
    std::mt19937 rng(std::random_device{}());
    int delete_failures = 0;
    while (true) {
      std::vector<std::string> batch;
      std::vector<std::string> extend;
      bool stopping;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_ack.wait_for(lock, std::chrono::seconds(1), [&] { return ack_stop || !to_delete.empty(); });
        stopping = ack_stop;
        size_t n = std::min<size_t>(to_delete.size(), 10);
        batch.assign(to_delete.begin(), to_delete.begin() + static_cast<long>(n));
        to_delete.erase(to_delete.begin(), to_delete.begin() + static_cast<long>(n));
        const auto now = SteadyClock::now();
        for (auto& [id, f] : in_flight) {
          if (now - f->last_extended >= opt.heartbeat_interval && extend.size() < 10) {
            extend.push_back(f->message.receipt_handle);
            f->last_extended = now;
          }
        }
      }
      if (!batch.empty()) {
        std::vector<std::string> failed;
        RemoteStatus s = queue.delete_messages(batch, failed);
        if (!s.ok()) failed = batch;
        counters.messages_deleted += batch.size() - failed.size();
        if (!failed.empty()) {
          if (s.code == RemoteStatus::Code::kRetry && ++delete_failures < 8) {
            {
              std::lock_guard<std::mutex> lock(mu);
              to_delete.insert(to_delete.end(), failed.begin(), failed.end());
            }
            std::this_thread::sleep_for(backoff(delete_failures, rng));  // remote backoff
          } else {
            spdlog::warn("{} messages could not be deleted ({}); they will be delivered again, "
                         "and their alerts suppressed as duplicates",
                         failed.size(), s.ok() ? "rejected by the queue" : s.message);
            delete_failures = 0;
          }
        } else {
          delete_failures = 0;
        }
      }
      if (!extend.empty()) {
        RemoteStatus s = queue.extend_visibility(extend, opt.visibility_timeout);
        if (s.ok()) counters.visibility_extensions += extend.size();
        else spdlog::warn("cannot extend the visibility of {} in-flight messages: {}", extend.size(), s.message);
      }
      if (stopping) {
        std::lock_guard<std::mutex> lock(mu);
        if (to_delete.empty()) return;
      }
    }
  }

  // ---- the poll loop ----
  int run(const std::atomic<bool>& stop) {
    std::string error;
    if (!open_dedup(error)) {
      spdlog::error("{}", error);
      return 1;
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < opt.workers; ++i) threads.emplace_back([this] { worker(); });
    std::thread acker([this] { ack_loop(); });
    std::mt19937 rng(std::random_device{}());
    int poll_failures = 0;
    counters.polling = true;

    while (!stop && !fatal) {
      counters.last_loop_ms = wall_ms();
      size_t room;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_capacity.wait_for(lock, std::chrono::milliseconds(500),
                             [&] { return in_flight.size() < opt.max_in_flight || stop || fatal; });
        room = opt.max_in_flight > in_flight.size() ? opt.max_in_flight - in_flight.size() : 0;
      }
      if (room == 0 || stop || fatal) continue;
      std::vector<QueueMessage> messages;
      RemoteStatus s = queue.receive(std::min(room, opt.max_messages), opt.wait_time,
                                     opt.visibility_timeout, messages, &stop);
      if (stop) {  // cancelled or not: messages received now are released, not started
        std::vector<std::string> receipts;
        for (auto& m : messages) receipts.push_back(m.receipt_handle);
        if (!receipts.empty()) queue.extend_visibility(receipts, std::chrono::seconds(0));
        break;
      }
      if (!s.ok()) {
        ++counters.poll_errors;
        if (s.code == RemoteStatus::Code::kRetry) {
          auto delay = backoff(++poll_failures, rng);
          spdlog::warn("receiving from the queue failed: {}; retrying in {} ms", s.message, delay.count());
          std::unique_lock<std::mutex> lock(mu);
          cv_capacity.wait_for(lock, delay, [&] { return stop.load() || fatal.load(); });
          continue;
        }
        fail_fatal(fmt::format("cannot receive from the queue: {}", s.message));
        break;
      }
      poll_failures = 0;
      counters.last_poll_ok_ms = wall_ms();
      for (auto& m : messages) handle_message(std::move(m));
    }

    counters.polling = false;
    // Stop receiving; give in-flight work until the deadline.
    const auto deadline = SteadyClock::now() + opt.shutdown_deadline;
    std::vector<std::string> unfinished;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!fatal) {
        spdlog::info("stopping: finishing {} in-flight messages (deadline {} s)", in_flight.size(),
                     opt.shutdown_deadline.count());
        cv_capacity.wait_until(lock, deadline, [&] { return in_flight.empty() || fatal.load(); });
      }
      workers_stop = true;
      cancel_fetches = true;
      cv_tasks.notify_all();
      // A worker still in submit (an output down, its buffer full or a memory buffer waiting
      // for delivery) gives up too: only outputs.stop(), after run() returns, would end it.
      outputs.stop_accepting();
      // Whatever is unfinished is released: visible again at once, for this or another agent.
      // A worker still busy with it finishes, but never deletes it.
      for (auto& [id, f] : in_flight) {
        f->abandoned = true;
        unfinished.push_back(f->message.receipt_handle);
      }
    }
    for (size_t i = 0; i < unfinished.size(); i += 10) {
      std::vector<std::string> batch(unfinished.begin() + static_cast<long>(i),
                                     unfinished.begin() + static_cast<long>(std::min(i + 10, unfinished.size())));
      queue.extend_visibility(batch, std::chrono::seconds(0));
    }
    if (!unfinished.empty())
      spdlog::warn("{} messages were not finished before the deadline; released for redelivery",
                   unfinished.size());
    for (auto& t : threads) t.join();
    {
      std::lock_guard<std::mutex> lock(mu);
      ack_stop = true;
      cv_ack.notify_all();
    }
    acker.join();
    return fatal ? 1 : 0;
  }
};

Daemon::Daemon(DaemonOptions options, MessageQueue& queue, ObjectStore& store,
               std::vector<const rules::Rule*> rules, DeliveryPipeline& outputs)
    : Daemon(std::move(options), queue, store, std::make_shared<const RuleSet>(std::move(rules)),
             outputs) {}

Daemon::Daemon(DaemonOptions options, MessageQueue& queue, ObjectStore& store,
               std::shared_ptr<const RuleSet> rules, DeliveryPipeline& outputs)
    : impl_(std::make_unique<Impl>(std::move(options), queue, store, std::move(rules),
                                   outputs)) {}

std::vector<std::pair<std::string, uint64_t>> Daemon::matches_per_rule() const {
  std::lock_guard<std::mutex> lock(impl_->rules_mu);
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const rules::Rule* r : impl_->rule_set->enabled) out.emplace_back(r->id, 0);
  for (auto& [id, n] : out)
    if (auto it = impl_->matches.find(id); it != impl_->matches.end()) n = it->second;
  for (const auto& entry : impl_->matches) {
    const std::string& id = entry.first;
    if (std::none_of(out.begin(), out.end(), [&](const auto& p) { return p.first == id; }))
      out.emplace_back(id, entry.second);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Daemon::replace_rules(std::shared_ptr<const RuleSet> rules) {
  std::lock_guard<std::mutex> lock(impl_->rules_mu);
  impl_->rule_set = std::move(rules);
  ++impl_->rules_generation;
  ++impl_->counters.rule_reloads;
}

Daemon::~Daemon() = default;

int Daemon::run(const std::atomic<bool>& stop) { return impl_->run(stop); }

bool Daemon::remember_buffered(const std::vector<std::string>& uids, std::string& error) {
  return impl_->remember_buffered(uids, error);
}

const DaemonCounters& Daemon::counters() const { return impl_->counters; }

}  // namespace trailwarden
