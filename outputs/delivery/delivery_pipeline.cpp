#include "outputs/delivery/delivery_pipeline.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "agent/common/backoff.h"
#include "agent/common/failpoint.h"
#include "agent/common/json_writer.h"
#include "outputs/delivery/disk_queue.h"

namespace trailwarden {

namespace {

// Appends rejected alerts to <state_dir>/dead-letter/<output>.ndjson, one JSON line each:
// {"time":..., "output":..., "reason":..., "uid":..., "rule_id":..., "alert": <OCSF finding>}.
class DeadLetterFile {
 public:
  DeadLetterFile(std::string path, const Clock& clock) : path_(std::move(path)), clock_(clock) {}
  bool write(const std::string& output, const std::string& reason,
             const std::vector<const AlertRecord*>& alerts) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::string text;
    const int64_t now = clock_.wall_ms();
    for (const AlertRecord* a : alerts) {
      JsonWriter w(text);
      w.begin_object();
      w.field("time", now);
      w.field("output", std::string_view(output));
      w.field("reason", std::string_view(reason));
      w.field("uid", std::string_view(a->uid));
      w.field("rule_id", std::string_view(a->rule_id));
      w.key("alert").raw(a->ocsf.empty() ? std::string_view("null") : std::string_view(a->ocsf));
      w.end_object();
      text.push_back('\n');
    }
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fdatasync(fd) == 0;
    ::close(fd);
    return ok;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const Clock& clock_;
};

}  // namespace

struct DeliveryPipeline::Impl {
  struct Lane {
    OutputSettings settings;
    std::unique_ptr<Output> output;
    std::unique_ptr<DiskQueue> queue;
    bool memory = false;
    std::unique_ptr<DeadLetterFile> dead_letter;
    OutputCounters counters;
    std::thread thread;
    std::atomic<bool> reopen{false};
    // Records are numbered in buffer order from the first one pending at start (guarded by
    // seq_mu). Memory lanes: submitters wait until `acked` reaches the sequence of their last
    // record. Disk lanes: records from `hold` on were appended by the submit running its
    // before_ack and may be sent but not acknowledged yet (kNoHold: none).
    static constexpr uint64_t kNoHold = ~uint64_t{0};
    std::mutex seq_mu;
    std::condition_variable seq_cv;
    uint64_t appended = 0;
    uint64_t acked = 0;
    uint64_t hold = kNoHold;
  };

  explicit Impl(const Clock& c) : clock(c) {}

  const Clock& clock;
  std::vector<std::unique_ptr<Lane>> lanes;
  std::mutex before_ack_mu;  // submits with a before_ack run one at a time
  std::string state_dir;
  bool force_memory = false;
  std::chrono::milliseconds give_up_after{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> refusing{false};  // stop_accepting(): submits give up
  std::atomic<bool> draining_deadline_passed{false};
  std::atomic<bool> fatal{false};
  mutable std::mutex fatal_mu;
  std::string fatal_message;

  // Holds back (on) the acknowledgement of the records a submit is about to append to a disk
  // lane, from the next one on; or lifts the hold (off). A record another submitter appends
  // at the same moment may be held too (harmless: it only waits a little longer).
  static void set_hold(Lane& lane, bool on) {
    {
      std::lock_guard<std::mutex> lock(lane.seq_mu);
      lane.hold = on ? lane.appended : Lane::kNoHold;
    }
    if (!on) lane.seq_cv.notify_all();
  }

  void set_fatal(const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(fatal_mu);
      if (fatal_message.empty()) fatal_message = message;
    }
    if (!fatal.exchange(true)) spdlog::error("{}", message);
    for (auto& l : lanes) {
      l->queue->interrupt();
      std::lock_guard<std::mutex> lock(l->seq_mu);
      l->seq_cv.notify_all();
    }
  }

  // Waits (on the clock) until `until`, a fatal error, or a stop that ends this lane's
  // delivery: a disk lane at once, a memory lane once stop()'s drain deadline has passed.
  // False when the lane must return.
  bool wait_backoff(Lane& lane, Clock::Steady until) {
    const auto must_return = [&] {
      return stopping && (!lane.memory || draining_deadline_passed.load());
    };
    std::unique_lock<std::mutex> lock(lane.seq_mu);
    clock.wait_until(lock, lane.seq_cv, until, [&] { return fatal.load() || must_return(); });
    return !must_return();
  }

  // The delivery loop of one output.
  void deliver(Lane& lane) {
    std::mt19937 rng(std::random_device{}());
    const auto& s = lane.settings;
    while (!fatal) {
      if (stopping && (!lane.memory || lane.queue->pending_records() == 0 || draining_deadline_passed))
        return;
      std::vector<std::string> raw =
          lane.queue->peek(s.batch_max_events, std::chrono::milliseconds(200), s.batch_timeout);
      if (lane.reopen.exchange(false)) lane.output->reopen();
      if (raw.empty()) continue;
      std::vector<AlertRecord> alerts(raw.size());
      std::vector<const AlertRecord*> batch;
      size_t undecodable = 0;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (AlertRecord::decode(raw[i], alerts[i])) batch.push_back(&alerts[i]);
        else ++undecodable;
      }
      if (undecodable) spdlog::error("output {}: {} buffered records could not be decoded and are "
                                     "skipped", lane.settings.name, undecodable);
      int attempt = 0;
      // When the batch was first tried: --give-up-after counts from there.
      const auto first_try = clock.now();
      while (!batch.empty() && !fatal) {
        DeliveryResult r = lane.output->send(batch);
        using Status = DeliveryResult::Status;
        if (r.status == Status::kDelivered) {
          lane.counters.delivered += batch.size();
          break;
        }
        std::vector<const AlertRecord*> concerned, again;
        if (r.items.empty()) concerned = batch;
        else
          for (size_t i : r.items)
            if (i < batch.size()) concerned.push_back(batch[i]);
        if (r.status == Status::kReject)
          for (size_t i : r.retry_items)
            if (i < batch.size()) again.push_back(batch[i]);
        lane.counters.delivered += batch.size() - concerned.size() - again.size();
        if (r.status == Status::kFatal) {
          set_fatal(fmt::format("output {}: {}", lane.settings.name, r.message));
          return;
        }
        if (r.status == Status::kReject) {
          lane.counters.rejected += concerned.size();
          if (!lane.dead_letter->write(lane.settings.name, r.message, concerned)) {
            set_fatal(fmt::format("output {}: {} alerts rejected ({}) and the dead-letter file {} "
                                  "cannot be written: {}",
                                  lane.settings.name, concerned.size(), r.message,
                                  lane.dead_letter->path(), std::strerror(errno)));
            return;
          }
          spdlog::error("output {}: {} alerts rejected: {}; written to {}", lane.settings.name,
                        concerned.size(), r.message, lane.dead_letter->path());
          if (again.empty()) break;
          batch = std::move(again);  // not refused, not delivered either: send them again now
          continue;
        }
        // kRetry: send what is concerned again, after a capped, jittered exponential backoff.
        const auto now = clock.now();
        if (give_up_after.count() > 0 && now - first_try >= give_up_after) {
          // Not delivered: this batch's alerts still to send, and all buffered behind it.
          const size_t pending = lane.queue->pending_records();
          const size_t behind = pending - std::min(pending, raw.size());
          set_fatal(fmt::format("output {}: gave up after {} failed attempts in {:.0f} s: {}; {} "
                                "alerts not delivered",
                                lane.settings.name, attempt + 1,
                                std::chrono::duration<double>(now - first_try).count(),
                                r.message, concerned.size() + behind));
          return;
        }
        ++lane.counters.retries;
        batch = std::move(concerned);
        auto delay = jittered_backoff(s.retry_initial, s.retry_max, attempt++, rng);
        if (give_up_after.count() > 0)  // the last attempt comes at the limit, not after it
          delay = std::min(delay, std::chrono::ceil<std::chrono::milliseconds>(
                                      first_try + give_up_after - now));
        if (attempt == 1 || attempt % 10 == 0)
          spdlog::warn("output {}: {}; retrying {} alerts in {} ms (attempt {})", lane.settings.name,
                       r.message, batch.size(), delay.count(), attempt);
        if (!wait_backoff(lane, now + delay)) return;  // stopping: the disk keeps it
      }
      if (fatal) return;
      {
        // Not before the submit that appended them is past its before_ack (see submit()).
        std::unique_lock<std::mutex> lock(lane.seq_mu);
        lane.seq_cv.wait(lock, [&] {
          return lane.acked + raw.size() <= lane.hold || fatal || stopping;
        });
        if (lane.acked + raw.size() > lane.hold) return;  // stopping: the disk keeps them
      }
      std::string error;
      if (!lane.queue->ack(raw.size(), error)) spdlog::warn("output {}: {}", lane.settings.name, error);
      failpoint::hit("after-buffer-ack");
      lane.counters.buffered_bytes = lane.queue->pending_bytes();
      {
        std::lock_guard<std::mutex> lock(lane.seq_mu);
        lane.acked += raw.size();
      }
      lane.seq_cv.notify_all();
    }
  }
};

DeliveryPipeline::DeliveryPipeline(std::vector<Entry> outputs, std::string state_dir,
                                   bool force_memory, const Clock& clock)
    : impl_(std::make_unique<Impl>(clock)) {
  impl_->state_dir = std::move(state_dir);
  impl_->force_memory = force_memory;
  for (auto& e : outputs) {
    auto lane = std::make_unique<Impl::Lane>();
    lane->settings = std::move(e.settings);
    lane->output = std::move(e.output);
    impl_->lanes.push_back(std::move(lane));
  }
}

DeliveryPipeline::~DeliveryPipeline() { stop(std::chrono::milliseconds(0)); }

void DeliveryPipeline::give_up_after(std::chrono::milliseconds limit) { impl_->give_up_after = limit; }

namespace {

// The alerts found in the disk buffers at start: for each uid only whether every output it is
// routed to holds it (never the alert itself: the buffers can hold hundreds of MiB).
struct Recovered {
  struct Found {
    std::string uid;
    size_t routed = 0;  // outputs it is routed to (by today's settings)
    size_t held = 0;    // of those, how many hold it in their buffer
    size_t last_lane = ~size_t{0};
  };
  std::deque<Found> found;  // in order of first appearance; a deque: by_uid views their uids
  std::unordered_map<std::string_view, size_t> by_uid;

  // `lane` holds `a`; `routed_to(i)`: whether `a` is routed to lane i (of `lanes`).
  template <typename RoutedTo>
  void add(size_t lane, const AlertRecord& a, size_t lanes, RoutedTo routed_to) {
    auto it = by_uid.find(a.uid);
    if (it == by_uid.end()) {
      Found& f = found.emplace_back();
      f.uid = a.uid;
      for (size_t i = 0; i < lanes; ++i) f.routed += routed_to(i) ? 1 : 0;
      it = by_uid.emplace(f.uid, found.size() - 1).first;
    }
    Found& f = found[it->second];
    if (f.last_lane == lane) return;  // twice in one buffer
    f.last_lane = lane;
    if (routed_to(lane)) ++f.held;
  }
};

}  // namespace

bool DeliveryPipeline::start(std::string& error, const RecoveredFn& recovered) {
  namespace fs = std::filesystem;
  Recovered buffered;
  for (size_t i = 0; i < impl_->lanes.size(); ++i) {
    auto& l = impl_->lanes[i];
    const auto& s = l->settings;
    l->memory = impl_->force_memory || s.buffer == OutputSettings::BufferType::kMemory;
    DiskQueue::Options o;
    o.max_bytes = s.buffer_max_bytes;
    o.fsync = s.fsync == OutputSettings::Fsync::kAlways;
    o.name = s.name;
    const std::string dir =
        l->memory ? std::string() : (fs::path(impl_->state_dir) / "buffers" / s.name).string();
    // The queue's waits (the lane's 200 ms poll, the batch fill) stay on real time for now: on
    // the pipeline's clock, tests with a ManualClock would have to move time for every batch.
    l->queue = std::make_unique<DiskQueue>(dir, o);
    if (!l->queue->open(error)) {
      error = fmt::format("output {}: {}", s.name, error);
      return false;
    }
    if (size_t n = l->queue->pending_records()) {
      spdlog::info("output {}: {} alerts buffered by a previous run will be delivered first", s.name, n);
      l->appended = n;
      if (recovered) {
        // One record decoded at a time, in place: no copy of the backlog. (An undecodable
        // record is reported and skipped by the delivery thread.)
        AlertRecord a;
        const size_t lanes = impl_->lanes.size();
        l->queue->for_each_pending([&](std::string_view r) {
          if (!AlertRecord::decode(r, a)) return;
          buffered.add(i, a, lanes, [&](size_t lane) {
            return routed(impl_->lanes[lane]->settings, a);
          });
        });
      }
    }
    if (uint64_t bad = l->queue->corrupt_records())
      spdlog::error("output {}: {} damaged records found in the buffer were skipped (each logged "
                    "above; their bytes are in {}/quarantine)",
                    s.name, bad, dir);
    l->counters.buffer_corrupt_records = l->queue->corrupt_records();
    l->counters.buffered_bytes = l->queue->pending_bytes();
    l->dead_letter = std::make_unique<DeadLetterFile>(
        (fs::path(impl_->state_dir) / "dead-letter" / (s.name + ".ndjson")).string(),
        impl_->clock);
  }
  if (recovered) {
    // Reported: the alerts held by the buffer of every output they are routed to. One missing
    // from some (a crash between two outputs' appends; a memory buffer, which a crash empties;
    // a buffer that was full with "drop_newest") may never have reached that output: its
    // message must alert again when it comes back (a copy, same uid, for the others). An output
    // that had it and removed it already did so after the caller's before_ack, so the caller
    // knows it anyway.
    std::vector<std::string> uids;
    size_t partial = 0;
    uids.reserve(buffered.found.size());
    for (const auto& f : buffered.found) {
      if (f.held == f.routed) uids.push_back(f.uid);
      else ++partial;
    }
    buffered = {};
    if (partial)
      spdlog::warn("{} alerts found in the buffers are missing from another output they are "
                   "routed to (the previous run stopped between them): a message that named them "
                   "alerts again when it comes back, and the outputs that have them get a copy",
                   partial);
    if (!recovered(uids, error)) return false;
  }
  for (auto& l : impl_->lanes) l->thread = std::thread([this, lane = l.get()] { impl_->deliver(*lane); });
  return true;
}

bool DeliveryPipeline::submit(const std::vector<const AlertRecord*>& alerts, std::string& error,
                            const std::function<void()>& before_ack) {
  // Not accepting (any more): stopping, refusing (stop_accepting()) or failed.
  auto closed = [&] {
    if (!impl_->stopping && !impl_->refusing && !impl_->fatal) return false;
    error = impl_->fatal ? failure() : "stopping";
    return true;
  };
  if (closed()) return false;
  std::unique_lock<std::mutex> one_at_a_time(impl_->before_ack_mu, std::defer_lock);
  if (before_ack) {
    one_at_a_time.lock();
    if (closed()) return false;  // while this one waited for the submit before it
  }
  // The disk lanes this submit holds (see Lane::hold): all lifted however submit() ends.
  struct Held {
    std::vector<Impl::Lane*> lanes;
    ~Held() {
      for (Impl::Lane* lane : lanes) Impl::set_hold(*lane, false);
    }
  } held;
  std::vector<std::pair<Impl::Lane*, uint64_t>> waits;
  for (auto& l : impl_->lanes) {
    std::vector<std::string> records;
    for (const AlertRecord* a : alerts) {
      if (!routed(l->settings, *a)) continue;
      std::string r;
      a->encode(r);
      records.push_back(std::move(r));
    }
    if (records.empty()) continue;
    size_t bytes = 0;
    for (const auto& r : records) bytes += r.size() + DiskQueue::kRecordOverhead;
    const bool hold = before_ack && !l->memory;
    while (true) {
      std::string append_error;
      if (hold) {
        Impl::set_hold(*l, true);
        held.lanes.push_back(l.get());
      }
      auto result = l->queue->append(records, append_error);
      if (result == DiskQueue::AppendResult::kOk) {
        l->counters.accepted += records.size();
        l->counters.buffered_bytes = l->queue->pending_bytes();
        {
          std::lock_guard<std::mutex> lock(l->seq_mu);
          l->appended += records.size();
          if (l->memory) waits.emplace_back(l.get(), l->appended);
        }
        if (!l->memory) failpoint::hit("after-one-buffer-append");
        break;
      }
      if (hold) {  // nothing was written: let the delivery thread make room
        Impl::set_hold(*l, false);
        held.lanes.pop_back();
      }
      if (result == DiskQueue::AppendResult::kError) {
        error = fmt::format("output {}: {}", l->settings.name, append_error);
        return false;
      }
      // Full.
      if (l->settings.when_full == OutputSettings::WhenFull::kDropNewest) {
        l->counters.dropped += records.size();
        spdlog::warn("output {}: buffer full ({} bytes): {} alerts dropped (when_full = "
                     "\"drop_newest\")",
                     l->settings.name, l->settings.buffer_max_bytes, records.size());
        break;
      }
      if (bytes > l->settings.buffer_max_bytes) {
        error = fmt::format("output {}: {} bytes of alerts can never fit a buffer of {} bytes",
                            l->settings.name, bytes, l->settings.buffer_max_bytes);
        return false;
      }
      // Backpressure: wait for the delivery thread to make room (a stop_accepting() is seen
      // within one wait).
      if (closed()) return false;
      l->queue->wait_for_room(bytes, std::chrono::milliseconds(500));
    }
  }
  failpoint::hit("after-buffer-append");
  for (auto& wait : waits) {
    Impl::Lane* lane = wait.first;  // (clang 14 cannot capture structured bindings)
    const uint64_t target = wait.second;
    std::unique_lock<std::mutex> lock(lane->seq_mu);
    lane->seq_cv.wait(lock, [&] {
      return lane->acked >= target || impl_->fatal || impl_->draining_deadline_passed ||
             impl_->refusing;
    });
    if (lane->acked < target) {
      error = impl_->fatal ? failure() : fmt::format("output {}: not delivered before stopping",
                                                     lane->settings.name);
      return false;
    }
  }
  if (before_ack) before_ack();
  return true;  // (the holds are lifted on the way out)
}

void DeliveryPipeline::stop_accepting() {
  if (impl_->refusing.exchange(true)) return;
  for (auto& l : impl_->lanes) {  // wake submits waiting for a memory buffer's delivery
    std::lock_guard<std::mutex> lock(l->seq_mu);
    l->seq_cv.notify_all();
  }
}

void DeliveryPipeline::stop(std::chrono::milliseconds deadline) {
  if (impl_->stopping.exchange(true)) return;
  const auto until = impl_->clock.now() + deadline;
  for (auto& l : impl_->lanes) {
    {
      // A disk lane waiting out a backoff returns now (its buffer keeps the alerts).
      std::lock_guard<std::mutex> lock(l->seq_mu);
      l->seq_cv.notify_all();
    }
    if (!l->thread.joinable() || !l->memory) continue;
    // Let the memory buffer drain until the deadline (the delivery thread notifies seq_cv
    // after each acknowledged batch).
    std::unique_lock<std::mutex> lock(l->seq_mu);
    impl_->clock.wait_until(lock, l->seq_cv, until, [&] {
      return l->queue->pending_records() == 0 || impl_->fatal.load();
    });
  }
  impl_->draining_deadline_passed = true;
  for (auto& l : impl_->lanes) {
    if (l->output) l->output->cancel();  // a send in progress gives up (disk keeps the data)
    if (l->queue) l->queue->interrupt();
    {
      std::lock_guard<std::mutex> lock(l->seq_mu);
      l->seq_cv.notify_all();
    }
    if (l->thread.joinable()) l->thread.join();
  }
}

void DeliveryPipeline::reopen() {
  for (auto& l : impl_->lanes) l->reopen = true;
}

bool DeliveryPipeline::failed() const { return impl_->fatal; }

std::string DeliveryPipeline::failure() const {
  std::lock_guard<std::mutex> lock(impl_->fatal_mu);
  return impl_->fatal_message;
}

size_t DeliveryPipeline::size() const { return impl_->lanes.size(); }
const std::string& DeliveryPipeline::name(size_t i) const { return impl_->lanes[i]->settings.name; }
const OutputCounters& DeliveryPipeline::counters(size_t i) const { return impl_->lanes[i]->counters; }
const OutputSettings& DeliveryPipeline::settings(size_t i) const { return impl_->lanes[i]->settings; }

}  // namespace trailwarden
