#include "agent/sources/kafka/kafka_source.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "agent/http/http.h"
#include "agent/core/record_dead_letter.h"
#include "agent/kafka/client.h"
#include "agent/kafka/msk_iam.h"

namespace trailwarden::kafka {

namespace {

constexpr int kPollMs = 100;
constexpr size_t kBlockedFactor = 4;  // a partition's uncommitted units beyond 4 * max_in_flight

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

ListPtr make_list(const std::vector<TopicPartition>& tps) {
  ListPtr l(rd_kafka_topic_partition_list_new(static_cast<int>(std::max<size_t>(tps.size(), 1))));
  for (const TopicPartition& tp : tps)
    rd_kafka_topic_partition_list_add(l.get(), tp.topic.c_str(), tp.partition);
  return l;
}

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* l) {
  std::vector<TopicPartition> out;
  if (!l) return out;
  for (int i = 0; i < l->cnt; ++i) out.push_back({l->elems[i].topic, l->elems[i].partition});
  return out;
}

std::string describe(const std::vector<TopicPartition>& tps) {
  std::string out;
  for (const TopicPartition& tp : tps)
    out += fmt::format("{}{}/{}", out.empty() ? "" : ", ", tp.topic, tp.partition);
  return out.empty() ? "none" : out;
}

// Nothing will get through until an operator acts.
bool is_fatal_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__FATAL:
      return true;
    default:
      return false;
  }
}

std::string err_text(rd_kafka_resp_err_t err) {
  return fmt::format("{} ({})", rd_kafka_err2str(err), rd_kafka_err2name(err));
}

}  // namespace

KafkaSource::KafkaSource(KafkaSourceConfig config, Options options)
    : config_(std::move(config)), options_(std::move(options)) {
  for (const KafkaProperty& p : config_.properties)
    if (p.secret && !p.value.empty()) secrets_.push_back(p.value);
  if (config_.msk_iam) {
    if (!options_.credentials)
      throw std::runtime_error("source kafka: msk_iam needs AWS credentials, and none are configured");
    msk_ = std::make_unique<MskIamAuth>(options_.credentials, config_.msk_region,
                                        "trailwarden/" TRAILWARDEN_VERSION);
  }
}

KafkaSource::~KafkaSource() { close(); }

bool KafkaSource::start(std::string& error) {
  rd_kafka_conf_t* conf = make_consumer_conf(config_, error);
  if (!conf) return false;
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf, &KafkaSource::commit_cb);
  rd_kafka_conf_set_error_cb(conf, &KafkaSource::error_cb);
  rd_kafka_conf_set_log_cb(conf, &KafkaSource::log_cb);
  rk_ = create_kafka_client(RD_KAFKA_CONSUMER, conf, msk_ ? &KafkaSource::token_refresh_cb : nullptr,
                            error);
  if (!rk_) {
    scrub(error);
    return false;
  }
  // Error events and commit results are served by rd_kafka_consumer_poll on the poll thread.
  rd_kafka_poll_set_consumer(rk_);
  ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(config_.topics.size())));
  for (const std::string& t : config_.topics)
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics.get())) {
    error = fmt::format("cannot subscribe to {}: {}", fmt::join(config_.topics, ", "), err_text(err));
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    return false;
  }
  last_commit_ = options_.clock->now();
  poller_ = std::thread([this] { poll_loop(); });
  spdlog::info("source kafka: topics {} at {} as group {} (auto_offset_reset {}{})",
               fmt::join(config_.topics, ", "), config_.brokers, config_.group_id,
               config_.auto_offset_reset, config_.msk_iam ? ", MSK IAM authentication" : "");
  return true;
}

void KafkaSource::release(const std::vector<AckToken>& unfinished) {
  std::lock_guard lk(mu_);
  for (AckToken t : unfinished) handed_.erase(t);  // stays in work: never committed
}

void KafkaSource::close() {
  if (closed_ || !rk_) return;
  closed_ = true;
  size_t unfinished = 0;
  {
    std::lock_guard lk(mu_);
    unfinished = tracker_.in_work();  // the revocation below forgets them
  }
  const auto leave_deadline = options_.clock->now() + options_.close_timeout / 2;
  // 1. Leave the group while the poll thread still serves the consumer queue: unsubscribing
  //    makes the group revoke our partitions through the ordinary rebalance callback (then
  //    unassigned) while the group is still alive. Messages fetched
  //    meanwhile are not handed out.
  leaving_ = true;
  ready_cv_.notify_all();
  // While the group is stable and the partitions are ours (a commit sent once the leave began
  // can be refused with REBALANCE_IN_PROGRESS); the revocation commits only what is done since.
  uint64_t assignments = 0;
  {
    std::lock_guard lk(mu_);
    assignments = assignments_;
    rejoin_expected_ = false;
  }
  commit(true);
  if (poller_.joinable()) {
    // A refusal for a rebalance in progress: the group is about to assign again (the poll
    // thread serves it, and the assignment commits the refused prefix); wait for that, within
    // a quarter of the bound, so that what is done is committed rather than consumed again.
    const auto rejoin_deadline = options_.clock->now() + options_.close_timeout / 4;
    std::unique_lock lk(mu_);
    while (rejoin_expected_ && options_.clock->now() < rejoin_deadline) {
      rejoin_expected_ = false;
      options_.clock->wait_until(lk, unassigned_cv_, rejoin_deadline,
                                 [&] { return assignments_ > assignments && !in_rebalance_; });
      assignments = assignments_;
      lk.unlock();
      commit(true);
      lk.lock();
    }
  }
  if (poller_.joinable()) {
    if (const rd_kafka_resp_err_t err = rd_kafka_unsubscribe(rk_))
      spdlog::warn("source kafka: leaving the group: {}", err_text(err));
    std::unique_lock lk(mu_);
    options_.clock->wait_until(lk, unassigned_cv_, leave_deadline, [&] {
      return tracker_.partitions().empty() && !in_rebalance_;
    });
    if (!tracker_.partitions().empty() || in_rebalance_)
      spdlog::warn("source kafka: the group did not revoke {} within {} ms; closing anyway",
                   describe(tracker_.partitions()), (options_.close_timeout / 2).count());
  }
  stopping_ = true;
  if (poller_.joinable()) poller_.join();
  commit(true);
  {
    std::lock_guard lk(mu_);
    unfinished = std::max(unfinished, tracker_.in_work());
    ready_.clear();
    handed_.clear();
  }
  // 2. Close through a queue this thread serves, with a deadline: never rd_kafka_consumer_close(),
  //    which serves rebalance events without a bound and may call into the group after it was
  //    torn down (librdkafka 2.0.x: an rd_kafka_assign() from the rebalance callback during
  //    close can wait forever for a reply). Rebalance events seen here are not answered
  //    (closing_: on_rebalance calls nothing that waits for the group).
  closing_ = true;
  bool closed = false;
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
  if (rd_kafka_error_t* e = rd_kafka_consumer_close_queue(rk_, q)) {
    spdlog::warn("source kafka: leaving the group: {}", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  } else {
    const auto deadline = options_.clock->now() + options_.close_timeout / 2;
    while (!(closed = rd_kafka_consumer_closed(rk_) != 0) && options_.clock->now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, kPollMs);
      if (!ev) continue;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
        on_rebalance(rd_kafka_event_error(ev), const_cast<rd_kafka_topic_partition_list_t*>(
                                                  rd_kafka_event_topic_partition_list(ev)));
      rd_kafka_event_destroy(ev);
    }
  }
  rd_kafka_queue_destroy(q);
  if (closed) {
    rd_kafka_destroy(rk_);
  } else {
    std::vector<TopicPartition> held;
    {
      std::lock_guard lk(mu_);
      held = tracker_.partitions();
    }
    spdlog::warn("source kafka: the consumer did not close within {} ms; destroyed without "
                 "leaving the group (the group rebalances after session.timeout.ms); "
                 "partitions still held: {}; {} unfinished messages not committed",
                 options_.close_timeout.count(), describe(held), unfinished);
    rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
  rk_ = nullptr;
  spdlog::info("source kafka: stopped; {} unfinished messages not committed (consumed again later)",
               unfinished);
}

bool KafkaSource::fatal(std::string* why) const {
  std::lock_guard lk(mu_);
  if (why) *why = fatal_why_;
  return fatal_;
}

size_t KafkaSource::in_flight() const {
  std::lock_guard lk(mu_);
  return tracker_.in_work();
}

size_t KafkaSource::handed_out() const {
  std::lock_guard lk(mu_);
  return handed_.size();
}

Source::Status KafkaSource::next(size_t max, const std::atomic<bool>& stop,
                                 std::vector<WorkUnit>& out, std::string& error) {
  std::unique_lock lk(mu_);
  options_.clock->wait_for(lk, ready_cv_, options_.wait, [&] {
    return !ready_.empty() || stop.load() || leaving_.load() || fatal_;
  });
  if (fatal_) {
    error = fatal_why_;
    return Status::kFatal;
  }
  if (stop.load()) return Status::kOk;
  size_t n = 0;
  while (n < max && !ready_.empty()) {
    auto& [unit, token] = ready_.front();
    unit.token = next_token_++;
    handed_.emplace(unit.token, token);
    out.push_back(std::move(unit));
    ready_.pop_front();
    ++n;
  }
  stats_.received += n;
  return Status::kOk;
}

void KafkaSource::done(AckToken id, bool ok, const std::string& why) {
  KafkaToken token;
  {
    std::lock_guard lk(mu_);
    auto it = handed_.find(id);
    if (it == handed_.end()) {
      ++stats_.done_ignored;  // released at shutdown, or never handed out
      return;
    }
    token = std::move(it->second);
    handed_.erase(it);
  }
  finish(token, ok, why);
}

void KafkaSource::finish(const KafkaToken& token, bool ok, const std::string& why) {
  OffsetTracker::Done result;
  {
    std::lock_guard lk(mu_);
    result = tracker_.done(token.tp, token.generation, token.offset, ok);
    if (result == OffsetTracker::Done::kAccepted && ok) ++done_since_commit_;
  }
  if (result != OffsetTracker::Done::kAccepted) {
    ++stats_.done_ignored;
    spdlog::debug("source kafka: {} finished after its partition was revoked (the new owner "
                  "consumes it again)",
                  unit_name(token.tp, token.offset));
    return;
  }
  if (ok) {
    ++stats_.done_ok;
  } else {
    ++stats_.done_failed;
    spdlog::warn("source kafka: {} failed{}{} and is kept for redelivery: {}/{} is not committed "
                 "past it (consumed again from there after a restart or rebalance)",
                 unit_name(token.tp, token.offset), why.empty() ? "" : ": ", why, token.tp.topic,
                 token.tp.partition);
  }
}

void KafkaSource::poll_loop() {
  while (!stopping_.load()) {
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, kPollMs)) handle_message(m);
    apply_flow_control();
    bool due = false;
    {
      std::lock_guard lk(mu_);
      due = done_since_commit_ >= config_.commit_batch ||
            (done_since_commit_ > 0 && options_.clock->now() - last_commit_ >= config_.commit_interval);
    }
    if (due) commit(false);
  }
}

void KafkaSource::handle_message(rd_kafka_message_t* m) {
  if (m->err) {
    const rd_kafka_resp_err_t err = m->err;
    if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++stats_.consume_errors;
      std::string what = rd_kafka_message_errstr(m);
      scrub(what);
      const std::string topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
      if (is_fatal_error(err))
        set_fatal(fmt::format("{}{}{}: {}", topic, topic.empty() ? "" : ": ", err_text(err), what));
      else
        spdlog::warn("source kafka: {}{}{}: {}", topic, topic.empty() ? "" : ": ",
                     rd_kafka_err2name(err), what);
    }
    rd_kafka_message_destroy(m);
    return;
  }
  if (leaving_.load()) {  // closing: not handed out, consumed again by the next owner
    rd_kafka_message_destroy(m);
    return;
  }
  const TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
  const int64_t offset = m->offset;
  uint64_t generation = 0;
  {
    std::lock_guard lk(mu_);
    generation = tracker_.add(tp, offset);
  }
  if (generation == 0) {  // a partition no longer ours, or a message seen before
    rd_kafka_message_destroy(m);
    return;
  }
  if (m->len > config_.max_message_bytes) {
    const bool recorded = skip_oversized(tp, offset, m);
    rd_kafka_message_destroy(m);
    finish(KafkaToken{tp, offset, generation}, recorded,
           recorded ? std::string() : "it could not be recorded as oversized");
    return;
  }
  WorkUnit u;
  u.payload = WorkUnit::Payload::kBytes;
  u.name = unit_name(tp, offset);
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
  if (ts_type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts > 0) u.sent_ms = ts;
  if (m->payload && m->len) u.bytes.assign(static_cast<const char*>(m->payload), m->len);
  u.origin.route = RecordOrigin::Route::kKafka;
  u.origin.notification = "kafka";
  u.origin.message_id = u.name;
  u.origin.topic = tp.topic;
  u.origin.partition = tp.partition;
  u.origin.offset = offset;
  rd_kafka_message_destroy(m);
  {
    std::lock_guard lk(mu_);
    ready_.emplace_back(std::move(u), KafkaToken{tp, offset, generation});
  }
  ready_cv_.notify_one();
}

bool KafkaSource::skip_oversized(const TopicPartition& tp, int64_t offset,
                                 const rd_kafka_message_t* m) {
  ++stats_.oversized;
  const std::string name = unit_name(tp, offset);
  BadRecord r;
  r.reason = fmt::format("message of {} bytes is over source.kafka.max_message_bytes ({})", m->len,
                         config_.max_message_bytes);
  r.bytes = m->len;
  r.excerpt.assign(static_cast<const char*>(m->payload),
                   std::min(m->len, BadRecord::kExcerptBytes));
  // Log levels (monitoring.md): ERROR only when data is lost. Without a bad-records file the
  // message is gone once skipped; with one it is recorded (WARN), or kept when it cannot be.
  if (!options_.dead_letters) {
    spdlog::error("source kafka: {}: {}: skipped (no bad-records file to record it in)", name,
                  r.reason);
    return true;
  }
  std::string error;
  if (options_.dead_letters->write(name, "", {r}, 0, error)) {
    spdlog::warn("source kafka: {}: {}: skipped, recorded in {}", name, r.reason,
                 options_.dead_letters->path());
    return true;
  }
  // Not recorded: keep it (it holds the partition's commit point) rather than lose it.
  spdlog::warn("source kafka: {}: {}: cannot be recorded ({}); the message is kept for "
               "redelivery",
               name, r.reason, error);
  return false;
}

std::map<TopicPartition, int64_t> KafkaSource::resume_points(
    const std::vector<TopicPartition>& tps) {
  std::map<TopicPartition, int64_t> mine;
  {
    std::lock_guard lk(mu_);
    for (const TopicPartition& tp : tps)
      if (auto it = unconfirmed_.find(tp); it != unconfirmed_.end()) mine.insert(*it);
  }
  if (mine.empty()) return mine;
  // Another member may have owned the partition since and committed further: never move the
  // group's offset back (bounded by commit_timeout; unanswered, the group's offset is used).
  ListPtr l(rd_kafka_topic_partition_list_new(static_cast<int>(mine.size())));
  for (const auto& [tp, o] : mine)
    rd_kafka_topic_partition_list_add(l.get(), tp.topic.c_str(), tp.partition);
  const rd_kafka_resp_err_t err =
      rd_kafka_committed(rk_, l.get(), static_cast<int>(options_.commit_timeout.count()));
  std::map<TopicPartition, int64_t> out;
  std::lock_guard lk(mu_);
  for (int i = 0; i < l->cnt; ++i) {
    const TopicPartition tp{l->elems[i].topic, l->elems[i].partition};
    const int64_t group = l->elems[i].offset;  // RD_KAFKA_OFFSET_INVALID (< 0) when none
    if (!err && !l->elems[i].err && mine[tp] > group) out.emplace(tp, mine[tp]);
    unconfirmed_.erase(tp);
  }
  return out;
}

void KafkaSource::apply_flow_control() {
  std::set<TopicPartition> want;
  {
    std::lock_guard lk(mu_);
    const size_t in_work = tracker_.in_work();
    const bool all = in_work >= config_.max_in_flight ||
                     (!paused_.empty() && paused_.size() == tracker_.partitions().size() &&
                      in_work > config_.max_in_flight / 2);
    for (const TopicPartition& tp : tracker_.partitions())
      if (all || tracker_.tracked(tp) >= kBlockedFactor * config_.max_in_flight) want.insert(tp);
  }
  std::vector<TopicPartition> pause, resume;
  for (const TopicPartition& tp : want)
    if (!paused_.count(tp)) pause.push_back(tp);
  for (const TopicPartition& tp : paused_)
    if (!want.count(tp)) resume.push_back(tp);
  if (!pause.empty()) {
    ListPtr l = make_list(pause);
    rd_kafka_pause_partitions(rk_, l.get());
    stats_.pauses += pause.size();
    spdlog::debug("source kafka: paused {}", describe(pause));
  }
  if (!resume.empty()) {
    ListPtr l = make_list(resume);
    rd_kafka_resume_partitions(rk_, l.get());
    spdlog::debug("source kafka: resumed {}", describe(resume));
  }
  paused_ = std::move(want);
}

void KafkaSource::commit(bool sync, const std::vector<TopicPartition>& only) {
  std::vector<CommitOffset> commits;
  {
    std::lock_guard lk(mu_);
    commits = only.empty() ? tracker_.take_commits() : tracker_.take_commits(only);
    done_since_commit_ = 0;
  }
  last_commit_ = options_.clock->now();
  if (commits.empty()) return;
  ListPtr l(rd_kafka_topic_partition_list_new(static_cast<int>(commits.size())));
  for (const CommitOffset& c : commits)
    rd_kafka_topic_partition_list_add(l.get(), c.tp.topic.c_str(), c.tp.partition)->offset =
        c.offset;
  if (sync) {
    // The result comes on a queue of our own, awaited at most commit_timeout: a commit that
    // cannot reach the coordinator must not hold a rebalance or close() forever.
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
    const rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, l.get(), q, nullptr, this);
    bool answered = err != RD_KAFKA_RESP_ERR_NO_ERROR;
    const auto deadline = options_.clock->now() + options_.commit_timeout;
    while (!answered && options_.clock->now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, kPollMs);
      if (!ev) continue;
      if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
        answered = true;
        commit_cb(rk_, rd_kafka_event_error(ev),
                  const_cast<rd_kafka_topic_partition_list_t*>(
                      rd_kafka_event_topic_partition_list(ev)),
                  this);
      }
      rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::warn("source kafka: committing {}: {}", describe(to_vector(l.get())), err_text(err));
    } else if (!answered) {
      ++stats_.commit_failures;
      spdlog::warn("source kafka: commit of {} not confirmed within {} ms (consumed again from "
                   "the last confirmed offset if it was lost)",
                   describe(to_vector(l.get())), options_.commit_timeout.count());
    }
  } else if (const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, l.get(), 1)) {
    spdlog::warn("source kafka: committing {}: {}", describe(to_vector(l.get())), err_text(err));
    std::lock_guard lk(mu_);
    for (const CommitOffset& c : commits) tracker_.commit_failed(c);
    done_since_commit_ = std::max<size_t>(done_since_commit_, 1);
  }
}

void KafkaSource::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  ++stats_.rebalances;
  {
    std::lock_guard lk(mu_);
    in_rebalance_ = true;
  }
  // rd_kafka_rebalance_protocol() waits for the group's answer, which may never come once the
  // group is torn down: asked once, outside close().
  if (protocol_ < 0 && !closing_)
    protocol_ = std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0 ? 1 : 0;
  const bool cooperative = protocol_ == 1;
  handle_rebalance(err, parts, cooperative);
  {
    std::lock_guard lk(mu_);
    in_rebalance_ = false;
  }
  unassigned_cv_.notify_all();
}

void KafkaSource::handle_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                   bool cooperative) {
  const std::vector<TopicPartition> tps = to_vector(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    const std::map<TopicPartition, int64_t> resume =
        closing_ || leaving_ ? std::map<TopicPartition, int64_t>{} : resume_points(tps);
    {
      std::lock_guard lk(mu_);
      for (const TopicPartition& tp : tps) {
        auto r = resume.find(tp);
        tracker_.assign(tp, r == resume.end() ? -1 : r->second);
      }
      ++assignments_;
    }
    for (int i = 0; i < parts->cnt; ++i)
      if (auto r = resume.find({parts->elems[i].topic, parts->elems[i].partition});
          r != resume.end())
        parts->elems[i].offset = r->second;  // start at the refused prefix, not before it
    if (!resume.empty())
      spdlog::info("source kafka: {} resume at the done offsets whose commit the group refused "
                   "during the rebalance; committing them now",
                   describe([&] {
                     std::vector<TopicPartition> v;
                     for (const auto& [tp, o] : resume) v.push_back(tp);
                     return v;
                   }()));
    for (const TopicPartition& tp : tps) paused_.erase(tp);
    spdlog::info("source kafka: assigned {} (from the committed offsets)", describe(tps));
    if (closing_) {
      spdlog::info("source kafka: closing; the assignment of {} is not taken", describe(tps));
    } else if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_, parts)) {
        spdlog::warn("source kafka: assign: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk_, parts);
    }
    if (!resume.empty() && !closing_) {
      std::vector<TopicPartition> only;
      for (const auto& [tp, o] : resume) only.push_back(tp);
      commit(true, only);
    }
    return;
  }
  // Revoked (or an error: treated as losing everything). Commit what is done first, while the
  // partitions are still ours.
  const bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk_);
  if (!lost) commit(true, tps);
  size_t forgotten = 0;
  {
    std::lock_guard lk(mu_);
    for (const TopicPartition& tp : tps) {
      forgotten += tracker_.tracked(tp);
      tracker_.revoke(tp);
    }
    std::erase_if(ready_, [&](const std::pair<WorkUnit, KafkaToken>& r) {
      return std::find(tps.begin(), tps.end(), r.second.tp) != tps.end();
    });
  }
  for (const TopicPartition& tp : tps) paused_.erase(tp);
  spdlog::info("source kafka: {} {}; {} unfinished messages of them left to the next owner",
               lost ? "lost" : "revoked", describe(tps), forgotten);
  if (closing_) return;  // nothing that waits for the group (see close())
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_, parts)) {
      spdlog::warn("source kafka: unassign: {}", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk_, nullptr);
  }
}

void KafkaSource::set_fatal(const std::string& why) {
  {
    std::lock_guard lk(mu_);
    if (fatal_) return;
    fatal_ = true;
    fatal_why_ = why;
  }
  spdlog::error("source kafka: {}; the source stops", why);
  ready_cv_.notify_all();
}

void KafkaSource::scrub(std::string& text) const {
  for (const std::string& s : secrets_) http::scrub_secret(text, s);
  if (msk_) msk_->scrub(text);
}

void KafkaSource::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<KafkaSource*>(opaque)->on_rebalance(err, parts);
}

void KafkaSource::commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !offsets) return;
  for (int i = 0; i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = offsets->elems[i];
    const rd_kafka_resp_err_t perr = e.err ? e.err : err;
    const TopicPartition tp{e.topic, e.partition};
    if (perr == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->stats_.commits;
      std::lock_guard lk(self->mu_);
      if (auto it = self->unconfirmed_.find(tp); it != self->unconfirmed_.end() &&
                                                 it->second <= e.offset)
        self->unconfirmed_.erase(it);
      continue;
    }
    ++self->stats_.commit_failures;
    const bool rebalancing = perr == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                             perr == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                             perr == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
    spdlog::warn("source kafka: commit of {}/{} at {} failed: {} (sent again with the next "
                 "commit{})",
                 e.topic, e.partition, e.offset, err_text(perr),
                 rebalancing ? ", or when the partition is assigned again" : "");
    std::lock_guard lk(self->mu_);
    self->tracker_.commit_failed({tp, e.offset});
    // Sent again at the next commit_interval, even if nothing more is done meanwhile.
    self->done_since_commit_ = std::max<size_t>(self->done_since_commit_, 1);
    if (e.offset >= 0) {
      int64_t& o = self->unconfirmed_[tp];
      o = std::max(o, e.offset);
    }
    if (rebalancing) self->rejoin_expected_ = true;
  }
}

void KafkaSource::error_cb(rd_kafka_t* rk, int err_int, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  const auto err = static_cast<rd_kafka_resp_err_t>(err_int);
  std::string why = reason ? reason : "";
  self->scrub(why);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    std::string text = buf;
    self->scrub(text);
    self->set_fatal(fmt::format("fatal consumer error {}: {}", rd_kafka_err2name(orig), text));
    return;
  }
  if (is_fatal_error(err) && !(self->msk_ && self->msk_->failing())) {
    self->set_fatal(fmt::format("{}: {}", err_text(err), why));
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
    spdlog::info("source kafka: {}", why);  // one connection dropped; librdkafka reconnects
  else
    spdlog::warn("source kafka: {}: {}", rd_kafka_err2name(err), why);
}

void KafkaSource::log_cb(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  const auto* self = static_cast<const KafkaSource*>(rd_kafka_opaque(rk));
  std::string text = line ? line : "";
  if (self) self->scrub(text);
  const bool fail = facility && std::strcmp(facility, "FAIL") == 0;  // also an error event
  const spdlog::level::level_enum lvl = fail         ? spdlog::level::debug
                                        : level <= 4 ? spdlog::level::warn
                                        : level <= 6 ? spdlog::level::info
                                                     : spdlog::level::debug;
  spdlog::log(lvl, "source kafka: librdkafka {}: {}", facility ? facility : "", text);
}

void KafkaSource::token_refresh_cb(rd_kafka_t* rk, const char*, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  if (self->msk_)
    self->msk_->refresh(rk);
  else
    rd_kafka_oauthbearer_set_token_failure(rk, "no OAUTHBEARER token source configured");
}

}  // namespace trailwarden::kafka
