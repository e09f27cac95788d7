#include "agent/engine/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "agent/aws/sigv4.h"
#include "agent/aws/time_util.h"
#include "agent/decode/input.h"
#include "agent/decode/shapes.h"

namespace trailwarden {

namespace {

// How far ahead of this host's clock a record's eventTime may be and still count for the
// event-age gauge (clock skew between AWS and this host).
constexpr std::chrono::minutes kEventClockSkew{15};

// How often the receiving loop looks at `stop` while it waits for room.
constexpr std::chrono::milliseconds kLoopTick{500};


std::vector<const rules::Rule*> enabled_of(const std::vector<rules::Rule>& all) {
  std::vector<const rules::Rule*> out;
  for (const auto& r : all)
    if (r.enabled) out.push_back(&r);
  return out;
}

// "2025-01-01T00:00:00Z" as epoch milliseconds; 0 if malformed.
int64_t iso8601_ms(std::string_view t) {
  aws::TimePoint tp;
  if (t.empty() || !aws::parse_iso8601(t, tp)) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
}

// What a unit read is, the same each time it comes again (StageUnit::identity): an object by
// bucket and key (every notification of one object is one unit), an inline event by its
// EventBridge id (its SQS message id without one) and the digest of its bytes, a Kafka message by
// its position and the digest of its bytes. Each kind has its own prefix, so no unit of one route
// can pass for a unit of another. A file has none (replay reads each input once).
std::string unit_identity(const WorkUnit& w, const ObjectRef* object) {
  switch (w.payload) {
    case WorkUnit::Payload::kObjects:
      // Bucket and key only: the routes do not all carry the version and ETag (CloudTrail's own
      // SNS notification has neither, EventBridge's are optional), and a CloudTrail log file is
      // never rewritten under its key — one that is holds the same records again.
      return object ? "s3://" + object->bucket + "/" + object->key : std::string();
    case WorkUnit::Payload::kEvent: {
      // The event's id names it, and the digest of its bytes binds the id to them: a forged
      // event that reuses a genuine event's id is another unit (both count), while the same
      // message delivered again is the same unit.
      const std::string digest = aws::sha256_hex(w.bytes).substr(0, 32);
      if (!w.origin.event_id.empty()) return "eventbridge:" + w.origin.event_id + "#" + digest;
      return w.origin.message_id.empty() ? std::string()
                                         : "sqs:" + w.origin.message_id + "#" + digest;
    }
    case WorkUnit::Payload::kBytes:
      // The position, bound to the bytes: a topic recreated (or another cluster's topic of the
      // same name) puts other messages at remembered offsets.
      return w.origin.topic.empty() ? std::string()
                                    : w.name + "#" + aws::sha256_hex(w.bytes).substr(0, 32);
    case WorkUnit::Payload::kFile:
      return {};
  }
  return {};
}

// What one task (one object of a unit) produced, up to delivery.
struct TaskResult {
  ObjectResult result;
  std::string name;                     // the object, file or event, for messages
  std::string identity;                 // the same each time it comes again (StageUnit)
  std::string error;                    // fetch or decode failure ("" = none)
  std::shared_ptr<const RuleSet> rules;  // the rules it was matched with (per_rule's slots)
  Clock::Steady started;
  // The object as read and its metadata, when the stage wants objects (the StageObject the
  // stage sees points into them and into `result`).
  bool described = false;
  ObjectRef read;
  ObjectMetadata metadata;
  bool skipped = false;  // not worked on (its unit had failed, or the engine was stopping)
  bool undelivered = false;  // it has alerts and the outputs did not take them
};

// A unit handed out by the source and not yet done.
struct Unit {
  WorkUnit work;
  uint64_t seq = 0;        // order handed out
  size_t tasks = 0;        // one per object (one for other payloads)
  size_t pending = 0;      // tasks not yet finished
  bool failed = false;
  bool abandoned = false;  // released at shutdown: never acknowledged
  std::string error;
  std::vector<std::optional<TaskResult>> results;  // ordered mode: kept until delivered
};

struct Task {
  std::shared_ptr<Unit> unit;
  size_t index = 0;  // into objects
};

}  // namespace

RuleSet::RuleSet(std::vector<rules::Rule> all)
    : owned(std::move(all)), enabled(enabled_of(owned)), matcher(enabled) {}

RuleSet::RuleSet(std::vector<const rules::Rule*> rules)
    : enabled(std::move(rules)), matcher(enabled) {}

struct Engine::Impl {
  Impl(EngineOptions o, Source& src, ObjectStore* st, std::shared_ptr<const RuleSet> r,
       DeliveryPipeline& outs, const Clock& c)
      : opt(std::move(o)),
        source(src),
        store(st),
        outputs(outs),
        clock(c),
        rule_set(std::move(r)),
        delivery(opt.delivery, outs, c) {
    opt.max_in_flight = std::max<size_t>(opt.max_in_flight, 1);
    opt.workers = std::max<size_t>(opt.workers, 1);
    if (store) fetcher = std::make_unique<ObjectFetcher>(*store, opt.fetch, clock);
  }

  EngineOptions opt;
  Source& source;
  ObjectStore* store;
  DeliveryPipeline& outputs;
  const Clock& clock;
  std::unique_ptr<ObjectFetcher> fetcher;
  FetchCounters no_fetches;  // counters() of an engine without a store
  mutable std::mutex rules_mu;  // guards rule_set and matches
  std::shared_ptr<const RuleSet> rule_set;
  std::atomic<uint64_t> rules_generation{0};
  std::unordered_map<std::string, uint64_t> matches;  // per rule id
  PassThroughStage pass_through;
  Stage* stage = &pass_through;  // the stage slot (set_stage)
  DeliveryStage delivery;
  EngineCounters counters;
  ResultObserver observer;
  std::mutex observer_mu;  // one observer call at a time (unordered mode)

  std::mutex mu;  // guards everything below
  std::condition_variable cv_tasks;     // tasks or workers_stop
  std::condition_variable cv_capacity;  // in_flight shrank
  std::deque<Task> tasks;
  std::map<uint64_t, std::shared_ptr<Unit>> in_flight;  // by seq
  uint64_t next_seq = 0;
  bool workers_stop = false;
  std::atomic<bool> fatal{false};

  // Ordered mode: units complete but not yet delivered, by seq.
  std::mutex commit_mu;
  std::map<uint64_t, std::shared_ptr<Unit>> completed;
  uint64_t next_commit = 0;

  void fail_fatal(const std::string& why) {
    if (!fatal.exchange(true)) spdlog::error("{}", why);
  }

  // ---- receiving ----
  void submit(std::vector<WorkUnit>& units) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& w : units) {
      auto u = std::make_shared<Unit>();
      u->work = std::move(w);
      u->seq = next_seq++;
      u->tasks = u->work.payload == WorkUnit::Payload::kObjects
                     ? std::max<size_t>(u->work.objects.size(), 1)
                     : 1;
      u->pending = u->tasks;
      if (opt.ordered) u->results.resize(u->tasks);
      in_flight[u->seq] = u;
      for (size_t i = 0; i < u->tasks; ++i) tasks.push_back(Task{u, i});
    }
    cv_tasks.notify_all();
  }

  // ---- workers ----
  void worker() {
    std::shared_ptr<const RuleSet> rules;
    std::unique_ptr<ObjectProcessor> processor;
    uint64_t generation = ~uint64_t{0};
    std::mt19937 rng(std::random_device{}());
    while (true) {
      Task task;
      bool skip;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_tasks.wait(lock, [&] { return workers_stop || !tasks.empty(); });
        if (workers_stop) return;
        task = std::move(tasks.front());
        tasks.pop_front();
        // No point reading the rest of a unit that will come back; in order, nothing is
        // delivered after a fatal error.
        skip = task.unit->failed || (opt.ordered && fatal);
      }
      if (generation != rules_generation.load()) {  // first task, or rules were reloaded
        std::lock_guard<std::mutex> lock(rules_mu);
        generation = rules_generation.load();
        rules = rule_set;
        processor = std::make_unique<ObjectProcessor>(rules->matcher, opt.limits, opt.ocsf);
      }
      TaskResult r;
      r.rules = rules;
      r.skipped = skip;
      if (!skip) work(*task.unit, task.index, *processor, rng, r);
      finish(task, std::move(r));
    }
  }

  // Fetch, decode, match: one object (or the file, event or bytes) of a unit.
  void work(const Unit& u, size_t index, ObjectProcessor& processor, std::mt19937& rng,
            TaskResult& r) {
    r.started = clock.now();
    const WorkUnit& w = u.work;
    RecordOrigin origin = w.origin;
    // The event-age gauge follows records read from objects only, and no time further ahead
    // than clock skew explains: an inline event is a claim, and one accepted with an eventTime
    // in 2099 would otherwise hide any lag for the life of the process.
    processor.track_event_time(opt.track_event_time && w.payload == WorkUnit::Payload::kObjects,
                               aws::format_iso8601(clock.wall_now() + kEventClockSkew));
    // S3 objects are read as what CloudTrail writes there (log files; any other JSON is not a
    // log object and is skipped, as before the other input shapes existed); local files and
    // bytes in hand may be any shape of agent/decode/shapes.h.
    processor.set_log_files_only(w.payload == WorkUnit::Payload::kObjects);
    // The alarm stage's watermark: every record's event time, bounded like the gauge's.
    processor.track_event_slots(
        stage->wants_event_times(),
        std::chrono::duration_cast<std::chrono::milliseconds>(
            (clock.wall_now() + kEventClockSkew).time_since_epoch())
            .count());
    // A stage that checks objects (integrity) sees each S3 object's hash, digest text and
    // metadata; nothing is hashed or kept otherwise.
    r.described = stage->wants_objects() && w.payload == WorkUnit::Payload::kObjects;
    processor.describe_objects(r.described);
    switch (w.payload) {
      case WorkUnit::Payload::kEvent:
        r.name = w.name;
        if (stage->wants_unit_identity()) r.identity = unit_identity(w, nullptr);
        processor.set_origin(std::move(origin));
        processor.process_event(r.name, w.bytes, r.result);
        break;
      case WorkUnit::Payload::kBytes:
        r.name = w.name;
        if (stage->wants_unit_identity()) r.identity = unit_identity(w, nullptr);
        processor.set_origin(std::move(origin));
        processor.raw_buffer().assign(w.bytes);
        processor.process_raw(r.name, r.result);
        break;
      case WorkUnit::Payload::kFile: {
        r.name = w.path == "-" ? std::string("<stdin>") : w.path;
        processor.set_origin(std::move(origin));
        std::string error;
        if (read_input(w.path, opt.limits.max_compressed_bytes, processor.raw_buffer(), error)) {
          processor.process_raw(r.name, r.result);
        } else {
          processor.fail(error, r.result);
          processor.release_memory();  // what a failed read grew is not kept either
        }
        break;
      }
      case WorkUnit::Payload::kObjects: {
        if (!fetcher || index >= w.objects.size()) {
          r.name = w.name;
          r.error = fmt::format("{}: no object to read", w.name);
          return;
        }
        FetchOutcome f = fetcher->fetch(w.objects[index], processor.raw_buffer(), rng,
                                        r.described ? &r.metadata : nullptr);
        r.read = f.read;
        if (f.cancelled) {
          r.name = object_name(f.read);
          r.error = "shutting down";
          return;
        }
        r.name = object_name(f.read);
        if (stage->wants_unit_identity()) r.identity = unit_identity(w, &f.read);
        origin.bucket = f.read.bucket;
        origin.key = f.read.key;
        processor.set_origin(std::move(origin));
        if (!f.status.ok()) {
          processor.release_memory();  // a large partial download must not stay pinned either
          r.error = fmt::format("cannot fetch {}: {}", r.name, f.status.message);
          return;
        }
        processor.process_raw(r.name, r.result);
        break;
      }
    }
    counters.records += r.result.stats.records;
    counters.alerts_time_unparsed += r.result.alerts_time_unparsed;
    if (r.result.failed) r.error = fmt::format("{}: {}", r.name, r.result.error);
  }

  // Bytes in hand (a Kafka message) are all there is of the unit: bytes that cannot be decoded
  // fail the same way on every redelivery, so they are a bad record (written to the bad-records
  // file with the reason, counted, then acknowledged with the alerts of any records before the
  // break) and not a failure that would hold the source's position for ever. Files and S3
  // objects stay failures (replay's exit status; SQS's redrive policy).
  static void bytes_are_bad_record(const Unit& u, TaskResult& r) {
    BadRecord bad;
    bad.index = r.result.stats.elements;
    bad.reason = "the message cannot be read as CloudTrail: " + r.result.error;
    bad.bytes = u.work.bytes.size();
    bad.excerpt = u.work.bytes.substr(0, BadRecord::kExcerptBytes);
    r.result.bad_records.push_back(std::move(bad));
    ++r.result.bad_record_count;
    r.result.failed = false;
    r.error.clear();
  }

  // What the stage that wants objects sees of the object `r` read (views into `r`).
  static void describe(const Unit& u, const TaskResult& r, StageObject& object) {
    const ParseStats& stats = r.result.stats;
    switch (stats.kind) {
      case FileKind::kRecords:
        // S3 objects are read as log files only, so this is {"Records":[...]} as CloudTrail
        // writes it; checked all the same, since only a log file is in a digest's list.
        object.kind = stats.shapes == kShapeLogFile && !stats.line_delimited
                          ? StageObject::Kind::kLogFile
                          : StageObject::Kind::kOther;
        break;
      case FileKind::kDigest:
        object.kind = StageObject::Kind::kDigest;
        break;
      case FileKind::kOther:
        object.kind = StageObject::Kind::kOther;
        break;
    }
    object.bucket = r.read.bucket;
    object.key = r.read.key;
    object.sha256 = r.result.content_sha256;
    object.content = r.result.digest_text;
    object.metadata = &r.metadata;
    object.sent_ms = u.work.sent_ms;
  }

  // Records bad records, runs the stages and delivers: after work(), in the worker (or in
  // order). Returns the task's error or "".
  std::string deliver(const Unit& u, TaskResult& r) {
    if (r.skipped) return {};
    if (r.result.failed && u.work.payload == WorkUnit::Payload::kBytes) bytes_are_bad_record(u, r);
    if (!r.error.empty() && !(r.result.failed && opt.deliver_failed_units)) return r.error;
    ObjectResult& result = r.result;
    if (std::string why = delivery.record_bad(r.name, u.work.origin.message_id, result);
        !why.empty())
      return why;
    StageObject object;
    if (r.described) describe(u, r, object);
    StageUnit unit{result.alerts, result.event_slots, r.identity,
                   r.described ? &object : nullptr};
    if (std::string why = stage->process(unit); !why.empty()) {
      r.undelivered = true;
      const std::string error = fmt::format("{}: {}", r.name, why);
      if (opt.ordered) fail_fatal(error);
      return error;
    }
    std::string error;
    if (opt.ordered && fatal) r.undelivered = !result.alerts.empty();  // nothing after a failure
    else error = delivery.deliver(result.alerts, u.work.sent_ms);
    if (error.empty() && !r.undelivered) stage->delivered(result.alerts);
    if (!error.empty()) {
      r.undelivered = true;
      if (opt.ordered) fail_fatal(error);  // nothing after it may be delivered
      else if (outputs.failed()) fail_fatal(fmt::format("{}; stopping", error));
    }
    counters.object_seconds.observe(std::chrono::duration<double>(clock.now() - r.started).count());
    if (const int64_t t = iso8601_ms(result.newest_event_time)) {
      int64_t seen = counters.newest_event_ms.load();
      while (t > seen && !counters.newest_event_ms.compare_exchange_weak(seen, t)) {
      }
    }
    if (!result.alerts.empty() && r.rules) {
      std::lock_guard<std::mutex> lock(rules_mu);
      const auto& rules = r.rules->enabled;
      for (size_t i = 0; i < result.per_rule.size() && i < rules.size(); ++i)
        if (result.per_rule[i]) matches[rules[i]->id] += result.per_rule[i];
    }
    return r.error.empty() ? error : r.error;
  }

  void observe(const Unit& u, const TaskResult& r) {
    if (!observer || r.skipped) return;
    std::lock_guard<std::mutex> lock(observer_mu);
    observer(u.work, r.result, !r.undelivered);
  }

  void finish(const Task& task, TaskResult r) {
    if (opt.ordered) return finish_ordered(task, std::move(r));
    Unit& u = *task.unit;
    const std::string error = deliver(u, r);
    observe(u, r);
    complete(task.unit, error);
  }

  // One task of `unit` ended with `error`: the unit is done once all its tasks are. Its room is
  // given back only after the source was told (the source never has more than max_in_flight
  // units outstanding).
  void complete(const std::shared_ptr<Unit>& unit, const std::string& error) {
    bool acknowledge;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!error.empty() && !unit->failed) {
        unit->failed = true;
        unit->error = error;
      }
      if (--unit->pending > 0) return;
      acknowledge = !unit->abandoned;
    }
    if (acknowledge) source.done(unit->work.token, !unit->failed, unit->error);
    std::lock_guard<std::mutex> lock(mu);
    in_flight.erase(unit->seq);
    cv_capacity.notify_all();
  }

  // Ordered: results wait until every unit before theirs is delivered.
  void finish_ordered(const Task& task, TaskResult r) {
    std::lock_guard<std::mutex> commit(commit_mu);
    Unit& u = *task.unit;
    u.results[task.index] = std::move(r);
    if (std::any_of(u.results.begin(), u.results.end(), [](const auto& x) { return !x; })) return;
    completed[u.seq] = task.unit;
    while (!completed.empty() && completed.begin()->first == next_commit) {
      std::shared_ptr<Unit> next = completed.begin()->second;
      // A unit not worked on (the engine stopped) ends the ordered output.
      if (std::any_of(next->results.begin(), next->results.end(),
                      [](const auto& x) { return x->skipped; }))
        return;
      completed.erase(completed.begin());
      ++next_commit;
      for (auto& x : next->results) {
        const std::string error = deliver(*next, *x);
        observe(*next, *x);
        x.reset();
        std::lock_guard<std::mutex> lock(mu);
        if (!error.empty() && !next->failed) {
          next->failed = true;
          next->error = error;
        }
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        next->pending = 1;  // its tasks are all finished: complete() ends the unit
      }
      complete(next, {});
    }
  }

  // Delivers what the stage added outside a unit (tick, finish): from the receiving loop.
  void deliver_stage_alerts(std::vector<AlertRecord>& alerts) {
    if (alerts.empty()) return;
    if (fatal) {
      spdlog::error("{} alarm alerts not delivered: the engine stopped after an error",
                    alerts.size());
      return;
    }
    const std::string error = delivery.deliver(alerts, 0);
    if (!error.empty()) {
      if (opt.ordered || outputs.failed()) fail_fatal(fmt::format("{}; stopping", error));
      else spdlog::error("alarm alerts not delivered: {}", error);
      return;
    }
    counters.stage_alerts += alerts.size();
    stage->delivered(alerts);
  }

  void tick_stage() {
    if (opt.ordered) return;  // replay: event time only (finish() at the end)
    std::vector<AlertRecord> out;
    stage->tick(clock.wall_now(), out);
    deliver_stage_alerts(out);
  }

  // ---- the receiving loop ----
  int run(const std::atomic<bool>& stop) {
    std::string error;
    if (!delivery.open(error)) {
      spdlog::error("{}", error);
      return 1;
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < opt.workers; ++i) threads.emplace_back([this] { worker(); });
    counters.polling = true;
    bool ended = false;
    while (!stop && !fatal) {
      counters.last_loop_ms = clock.wall_ms();
      tick_stage();
      size_t room;
      {
        std::unique_lock<std::mutex> lock(mu);
        clock.wait_for(lock, cv_capacity, kLoopTick, [&] {
          return in_flight.size() < opt.max_in_flight || stop.load() || fatal.load();
        });
        room = opt.max_in_flight > in_flight.size() ? opt.max_in_flight - in_flight.size() : 0;
      }
      if (room == 0 || stop || fatal) continue;
      std::vector<WorkUnit> units;
      const Source::Status s = source.next(room, stop, units, error);
      if (stop) {  // units handed out now are given back, not started
        std::vector<AckToken> tokens;
        for (const auto& u : units) tokens.push_back(u.token);
        if (!tokens.empty()) source.release(tokens);
        break;
      }
      if (s == Source::Status::kFatal) {
        fail_fatal(error);
        break;
      }
      submit(units);
      if (s == Source::Status::kEnd) {
        ended = true;
        break;
      }
    }
    counters.polling = false;
    if (ended) {  // a finite source: every unit is worked on, unless stopped
      std::unique_lock<std::mutex> lock(mu);
      while (!(in_flight.empty() || fatal || stop))
        clock.wait_for(lock, cv_capacity, kLoopTick,
                       [&] { return in_flight.empty() || fatal.load() || stop.load(); });
    }
    if (ended && !stop && !fatal) {  // every unit was delivered: what the end allows
      std::vector<AlertRecord> out;
      stage->finish(out);
      deliver_stage_alerts(out);
    }
    shut_down(threads);
    return fatal ? 1 : 0;
  }

  // Gives the units in flight until the deadline, then cancels, releases and joins.
  void shut_down(std::vector<std::thread>& threads) {
    const auto deadline = clock.now() + opt.shutdown_deadline;
    std::vector<AckToken> unfinished;
    bool drained;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!fatal && !in_flight.empty()) {
        spdlog::info("stopping: finishing {} units in flight (deadline {} s)", in_flight.size(),
                     std::chrono::duration_cast<std::chrono::seconds>(opt.shutdown_deadline).count());
        clock.wait_until(lock, cv_capacity, deadline,
                         [&] { return in_flight.empty() || fatal.load(); });
      }
      drained = in_flight.empty();
      workers_stop = true;
      cv_tasks.notify_all();
      // Whatever is unfinished is released: given back to the source at once. A worker still
      // busy with it finishes, but never acknowledges it. Marked before anything below can
      // make a worker finish (a submit that gives up), so none is acknowledged as failed.
      for (auto& [seq, u] : in_flight) {
        u->abandoned = true;
        unfinished.push_back(u->work.token);
      }
    }
    if (fetcher) fetcher->cancel();  // downloads in flight and backoffs give up
    // A worker still in submit (an output down, its buffer full or a memory buffer waiting for
    // delivery) gives up too: only outputs.stop(), after run() returns, would end it.
    if (!drained) outputs.stop_accepting();
    if (!unfinished.empty()) source.release(unfinished);
    for (auto& t : threads) t.join();
    source.close();
  }
};

Engine::Engine(EngineOptions options, Source& source, ObjectStore* store,
               std::shared_ptr<const RuleSet> rules, DeliveryPipeline& outputs, const Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(options), source, store, std::move(rules), outputs,
                                   clock)) {}

Engine::~Engine() = default;

void Engine::on_result(ResultObserver observer) { impl_->observer = std::move(observer); }

void Engine::set_stage(Stage& stage) { impl_->stage = &stage; }

bool Engine::remember_buffered(const std::vector<std::string>& uids, std::string& error) {
  return impl_->delivery.remember_buffered(uids, error);
}

int Engine::run(const std::atomic<bool>& stop) { return impl_->run(stop); }

const EngineCounters& Engine::counters() const { return impl_->counters; }

const FetchCounters& Engine::fetch_counters() const {
  return impl_->fetcher ? impl_->fetcher->counters() : impl_->no_fetches;
}

const DeliveryCounters& Engine::delivery_counters() const { return impl_->delivery.counters(); }

std::vector<std::pair<std::string, uint64_t>> Engine::matches_per_rule() const {
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

void register_engine_metrics(MetricsRegistry& registry, const Engine& engine) {
  register_fetch_metrics(registry, engine.fetch_counters());
  registry.add([&k = engine.counters()](PrometheusWriter& w) {
    w.counter("trailwarden_records_scanned_total", "CloudTrail records matched against the rules.",
              k.records.load());
    w.counter("trailwarden_alert_time_unparsed_total",
              "Alerts whose record had no usable eventTime (missing or not RFC 3339): their time "
              "is the processing time, metadata.original_time keeps the text.",
              k.alerts_time_unparsed.load());
    w.counter("trailwarden_rule_reloads_total", "Successful rule reloads (SIGHUP).",
              k.rule_reloads.load());
    w.family("trailwarden_object_processing_seconds", "histogram",
             "Time to fetch, decode and match one object.");
    w.histogram("trailwarden_object_processing_seconds", k.object_seconds);
    const int64_t newest = k.newest_event_ms.load();
    w.gauge("trailwarden_newest_event_timestamp_seconds",
            "eventTime of the newest CloudTrail record processed (Unix time; 0: none yet).",
            static_cast<double>(newest) / 1000.0);
    w.gauge("trailwarden_newest_event_age_seconds",
            "Age of the newest CloudTrail record processed: how far behind the agent is "
            "(NaN: none yet).",
            newest ? static_cast<double>(system_clock().wall_ms() - newest) / 1000.0
                   : std::numeric_limits<double>::quiet_NaN());
  });
  register_delivery_metrics(registry, engine.delivery_counters());
  registry.add([&engine](PrometheusWriter& w) {
    w.family("trailwarden_rule_matches_total", "counter", "Records matched, per rule.");
    for (const auto& [id, n] : engine.matches_per_rule())
      w.sample("trailwarden_rule_matches_total", n, {{"rule", id}});
  });
}

void Engine::replace_rules(std::shared_ptr<const RuleSet> rules) {
  std::lock_guard<std::mutex> lock(impl_->rules_mu);
  impl_->rule_set = std::move(rules);
  ++impl_->rules_generation;
  ++impl_->counters.rule_reloads;
}

}  // namespace trailwarden
