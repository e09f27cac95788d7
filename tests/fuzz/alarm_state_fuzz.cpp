// libFuzzer target: alarm state from disk (AlarmEvaluator::restore, agent/alarms/alarm_evaluator.h)
// and rule tables (parse_metric_alarm, agent/rules/metric_alarm.h). The first byte b0 chooses the
// mode (b0 % 3) and, for A and B, one of a few fixed alarm definitions (b0 / 3).
//
// A: the rest is [u16 length L][L bytes: a saved state][operations]. restore() must not crash
//    or throw; when it succeeds, serialize() gives back exactly the state bytes, and restoring
//    that again gives the same bytes.
//    Then the operations (see Ops) drive add/note_activity/advance on the
//    restored evaluator — with times near the restored state's own periods and at the ends of the
//    clock — and every result keeps the invariants (check_transition).
// B: the rest is a sequence of operations on a fresh evaluator, with op 3 = "save and reload":
//    a second evaluator is replaced by restore(serialize()) of itself at each op 3. Both get the
//    same operations; they must return exactly the same results and transitions, and serialize
//    to the same bytes at every reload and at the end (differential: reload changes nothing).
// C: the rest is TOML text, parsed as one rule's table by toml::parse and parse_metric_alarm.
//    Errors must be exceptions (toml::parse_error, or std::runtime_error naming
//    "fuzz.toml:line:column"), never a crash.
//
// TW_ALARM_FUZZ_SEEDS=<dir>: writes seed inputs (real serialized states, op sequences, rule
// tables) into <dir> at start-up (how tests/fuzz/corpus/alarm_state was made).
#include <toml++/toml.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "agent/alarms/alarm_evaluator.h"
#include "agent/rules/metric_alarm.h"

using namespace trailwarden::alarms;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "alarm_state_fuzz: %s\n", why.c_str());
  std::abort();
}

const char* const kSpecs[] = {
    // CIS 4.x benchmark alarm: fires early.
    "[metric]\nvalue = 1\n[alarm]\nstatistic = \"Sum\"\nperiod = 300\nevaluation_periods = 1\n"
    "threshold = 1\ncomparison_operator = \"GreaterThanOrEqualToThreshold\"\n",
    // M of N with breaching fill and a default value.
    "[metric]\nvalue = \"$.v\"\ndefault_value = 0\n[alarm]\nstatistic = \"Average\"\nperiod = 60\n"
    "evaluation_periods = 3\ndatapoints_to_alarm = 2\nthreshold = 5\n"
    "comparison_operator = \"LessThanThreshold\"\ntreat_missing_data = \"breaching\"\n",
    // Maximum, short periods, notBreaching, small lateness.
    "[metric]\nvalue = \"$.v\"\n[alarm]\nstatistic = \"Maximum\"\nperiod = 10\n"
    "evaluation_periods = 5\ndatapoints_to_alarm = 3\nthreshold = 2\n"
    "comparison_operator = \"GreaterThanThreshold\"\ntreat_missing_data = \"notBreaching\"\n"
    "lateness_seconds = 30\n",
    // SampleCount, no lateness, ignore.
    "[metric]\nvalue = 1\n[alarm]\nstatistic = \"SampleCount\"\nperiod = 30\n"
    "evaluation_periods = 2\ndatapoints_to_alarm = 2\nthreshold = 0\n"
    "comparison_operator = \"LessThanOrEqualToThreshold\"\ntreat_missing_data = \"ignore\"\n"
    "lateness_seconds = 0\n",
    // Minimum, long periods, the longest lateness.
    "[metric]\nvalue = \"$.v\"\n[alarm]\nstatistic = \"Minimum\"\nperiod = 3600\n"
    "evaluation_periods = 4\ndatapoints_to_alarm = 1\nthreshold = -1\n"
    "comparison_operator = \"GreaterThanOrEqualToThreshold\"\nlateness_seconds = 86400\n",
};
constexpr size_t kNumSpecs = sizeof kSpecs / sizeof kSpecs[0];

std::shared_ptr<const MetricAlarmSpec> spec(size_t i) {
  static std::vector<std::shared_ptr<const MetricAlarmSpec>> specs = [] {
    std::vector<std::shared_ptr<const MetricAlarmSpec>> v;
    for (const char* text : kSpecs) {
      toml::table t = toml::parse(std::string_view(text), std::string("spec.toml"));
      auto s = parse_metric_alarm(t, "spec.toml", "fuzz");
      if (!s) die("fixed spec has no alarm");
      v.push_back(std::make_shared<const MetricAlarmSpec>(std::move(*s)));
    }
    return v;
  }();
  return specs[i % kNumSpecs];
}

// 2026-12-04 00:00:00 UTC.
EventTime base_time() {
  using namespace std::chrono;
  return EventTime{duration_cast<EventTime::duration>(
      sys_days{year{2026} / December / 4}.time_since_epoch())};
}

struct Bytes {
  std::string_view in;
  bool empty() const { return in.empty(); }
  uint8_t u8() {
    if (in.empty()) return 0;
    uint8_t v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
};

std::string show(const Transition& t) {
  std::string s = fmt::format("{}->{} t={} p={} ps={} early={} [{}] omitted={} ids=",
                              state_name(t.old_state), state_name(t.new_state),
                              t.state_change_time.time_since_epoch().count(),
                              t.period_start.time_since_epoch().count(), t.period_seconds, t.early,
                              t.reason, t.contributors_omitted);
  for (const auto& c : t.contributors) s += c + ",";
  for (const auto& d : t.datapoints)
    s += fmt::format(" ({} {} {} {} {} {})", d.period_start.time_since_epoch().count(), d.present,
                     d.partial, d.value, d.samples, d.breaching);
  return s;
}

bool valid_state(AlarmState s) {
  return s == AlarmState::kOk || s == AlarmState::kAlarm || s == AlarmState::kInsufficientData;
}

// The invariants of one transition, given the state the evaluator was in before it.
void check_transition(const AlarmEvaluator& e, const Transition& t, AlarmState& state) {
  const AlarmSpec& a = e.spec().alarm;
  if (!valid_state(t.old_state) || !valid_state(t.new_state)) die("state out of range");
  if (t.old_state == t.new_state) die("same-state transition: " + show(t));
  if (t.old_state != state) die("transition not from the current state: " + show(t));
  if (t.datapoints.size() > static_cast<size_t>(a.evaluation_range()))
    die("more datapoints than the evaluation range: " + show(t));
  if (t.contributors.size() > t.datapoints.size() * AlarmEvaluator::kMaxContributors)
    die("contributors unbounded: " + show(t));
  if (t.period_seconds != a.period_seconds) die("period_seconds: " + show(t));
  state = t.new_state;
}

void check_evaluator(const AlarmEvaluator& e, AlarmState expected) {
  if (!valid_state(e.state())) die("evaluator state out of range");
  if (e.state() != expected) die("evaluator state differs from its last transition");
  const auto cap = static_cast<size_t>(e.spec().alarm.evaluation_range() + e.max_open_periods());
  if (e.periods_kept() > cap) die(fmt::format("{} periods kept (cap {})", e.periods_kept(), cap));
}

// One operation's result, comparable between two evaluators.
struct Ops {
  EventTime anchor;  // times are anchor + offsets
  EventTime newest;  // newest event time seen (watermarks follow it)
  int64_t period_s;

  // Op codes (low 2 bits of the op byte): 0 add, 1 note_activity, 2 advance, 3 reload (B only).
  // add/note_activity: a time offset (u16, in tenths of a period, centred) from `newest`, and
  // for add a value byte (int8 / 4). advance: newest moves on by a u8 count of tenths of a period
  // and the watermark follows; in mode A, op bits 2..3 = 3 send the watermark to an end of the
  // clock instead.
  EventTime offset_time(uint16_t raw) const {
    const int64_t tenths = static_cast<int64_t>(raw) - 32768;
    return newest + std::chrono::milliseconds(tenths * period_s * 100);
  }
};

std::string run_op(AlarmEvaluator& e, Ops& ops, uint8_t op, Bytes& b, AlarmState& state,
                   bool extremes, size_t serial) {
  std::string out;
  switch (op & 3) {
    case 0: {
      const EventTime t = ops.offset_time(b.u16());
      const double v = static_cast<int8_t>(b.u8()) / 4.0;
      auto r = e.add(t, v, fmt::format("id{}", serial));
      out = fmt::format("add {}", static_cast<int>(r.result));
      if (r.transition) {
        if (!r.transition->early || r.transition->new_state != AlarmState::kAlarm)
          die("add() transition that is not an early ALARM: " + show(*r.transition));
        check_transition(e, *r.transition, state);
        out += " " + show(*r.transition);
      }
      if (r.result == AlarmEvaluator::AddResult::kAdded && t > ops.newest) ops.newest = t;
      break;
    }
    case 1: {
      const EventTime t = ops.offset_time(b.u16());
      auto r = e.note_activity(t);
      out = fmt::format("note {}", static_cast<int>(r));
      if (r == AlarmEvaluator::AddResult::kAdded && t > ops.newest) ops.newest = t;
      break;
    }
    default: {
      EventTime w;
      if (extremes && ((op >> 2) & 3) == 3) {
        w = (op & 0x10) ? EventTime::max() : EventTime::min();
      } else {
        ops.newest += std::chrono::milliseconds(int64_t{b.u8()} * ops.period_s * 100);
        w = AlarmEvaluator::watermark_for(ops.newest, e.spec().alarm);
      }
      auto trs = e.advance(w);
      out = "advance";
      for (const auto& t : trs) {
        check_transition(e, t, state);
        out += " " + show(t);
      }
      break;
    }
  }
  check_evaluator(e, state);
  return out;
}

// The little-endian i64 at `at` in a saved state (the header's fields), if present.
std::optional<int64_t> header_i64(std::string_view bytes, size_t at) {
  if (bytes.size() < at + 8) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return static_cast<int64_t>(v);
}
// Offsets in the version-1 layout: magic 4, version 1, period/n/m 24, statistic 1, lateness 8,
// state 1, started 1, origin 8, evaluated 8.
constexpr size_t kEvaluatedAt = 4 + 1 + 24 + 1 + 8 + 1 + 1 + 8;

void mode_a(std::shared_ptr<const MetricAlarmSpec> s, std::string_view input) {
  Bytes b{input};
  const size_t len = std::min<size_t>(b.u16(), b.in.size());
  const std::string_view bytes = b.in.substr(0, len);
  b.in.remove_prefix(len);
  std::string error;
  auto e = AlarmEvaluator::restore(s, bytes, &error);
  if (!e) {
    if (error.empty() || error.find("saved state refused") == std::string::npos)
      die("restore failed without a reason");
    return;
  }
  const std::string again = e->serialize();
  if (again != bytes) die("serialize(restore(x)) != x");
  auto e2 = AlarmEvaluator::restore(s, again, &error);
  if (!e2 || e2->serialize() != again) die("restore(serialize()) not stable: " + error);

  AlarmState state = e->state();
  check_evaluator(*e, state);
  Ops ops{base_time(), base_time(), s->alarm.period_seconds};
  // Times near the restored state's own last evaluated period (when it is a representable time),
  // so that restored periods are added to and evaluated.
  if (auto ev = header_i64(bytes, kEvaluatedAt)) {
    const __int128 ms = static_cast<__int128>(*ev) * s->alarm.period_seconds * 1000;
    const __int128 limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                               EventTime::duration::max()).count() / 2;
    if (ms > -limit && ms < limit)
      ops.newest = EventTime{} + std::chrono::milliseconds(static_cast<int64_t>(ms));
  }
  for (size_t i = 0; i < 32 && !b.empty(); ++i) {
    const uint8_t op = b.u8();
    if ((op & 3) == 3) continue;
    run_op(*e, ops, op, b, state, true, i);
  }
}

void mode_b(std::shared_ptr<const MetricAlarmSpec> s, std::string_view bytes) {
  AlarmEvaluator straight(s);
  AlarmEvaluator reloaded(s);
  AlarmState st1 = straight.state(), st2 = reloaded.state();
  Ops ops1{base_time(), base_time(), s->alarm.period_seconds};
  Ops ops2 = ops1;
  Bytes b1{bytes};
  for (size_t i = 0; i < 256 && !b1.empty(); ++i) {
    const uint8_t op = b1.u8();
    if ((op & 3) == 3) {
      const std::string saved = reloaded.serialize();
      std::string error;
      auto r = AlarmEvaluator::restore(s, saved, &error);
      if (!r) die("own state refused: " + error);
      reloaded = std::move(*r);
      if (reloaded.serialize() != saved) die("reload changed the bytes");
      if (saved != straight.serialize()) die("reloaded evaluator diverged from the straight one");
      continue;
    }
    Bytes b2 = b1;
    const std::string r1 = run_op(straight, ops1, op, b1, st1, false, i);
    const std::string r2 = run_op(reloaded, ops2, op, b2, st2, false, i);
    if (r1 != r2) die("differential: straight [" + r1 + "] reloaded [" + r2 + "]");
  }
  if (straight.serialize() != reloaded.serialize()) die("final states differ");
}

void mode_c(std::string_view text) {
  toml::table t;
  try {
    t = toml::parse(text, std::string("fuzz.toml"));
  } catch (const toml::parse_error&) {
    return;
  }
  try {
    auto spec = parse_metric_alarm(t, "fuzz.toml", "fuzz");
    if (spec) {
      const AlarmSpec& a = spec->alarm;
      // What parse_metric_alarm promises: CloudWatch's constraints hold for an accepted alarm.
      if (a.period_seconds <= 0 || a.evaluation_periods < 1 || a.datapoints_to_alarm < 1 ||
          a.datapoints_to_alarm > a.evaluation_periods || a.lateness_seconds < 0 ||
          a.lateness_seconds > AlarmSpec::kMaxLatenessSeconds ||
          spec->metric.dimensions.size() > MetricSpec::kMaxDimensions)
        die("accepted alarm breaks a constraint");
      // An accepted spec drives an evaluator without trouble.
      auto shared = std::make_shared<const MetricAlarmSpec>(std::move(*spec));
      AlarmEvaluator e(shared);
      e.add(base_time(), 1, "x");
      e.advance(base_time() + std::chrono::hours(48));
    }
  } catch (const std::runtime_error& err) {
    if (std::string_view(err.what()).rfind("fuzz.toml:", 0) != 0)
      die(std::string("error without a position: ") + err.what());
  }
}

void write_seed(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string mode_a_seed(size_t si, const std::string& state) {
  std::string out(1, static_cast<char>(si * 3 + 0));
  out.push_back(static_cast<char>(state.size() & 0xff));
  out.push_back(static_cast<char>((state.size() >> 8) & 0xff));
  out += state;
  // Operations: add at newest, add half a period later, advance two periods, note, advance.
  out += std::string("\x00\x00\x80\x04\x00\x05\x80\x08\x02\x14\x01\x00\x80\x02\x28", 15);
  return out;
}

// Seeds: real states of each spec after a few operations (mode A), op sequences (mode B) and
// rule tables (mode C).
void write_seeds(const std::string& dir) {
  for (size_t si = 0; si < kNumSpecs; ++si) {
    auto s = spec(si);
    const int64_t p = s->alarm.period_seconds;
    AlarmEvaluator e(s);
    const EventTime t0 = base_time();
    for (int k = 0; k < 6; ++k) {
      e.add(t0 + std::chrono::seconds(p * k + 1), k % 3, fmt::format("evt-{}-{}", si, k));
      e.note_activity(t0 + std::chrono::seconds(p * k + 2));
      e.advance(AlarmEvaluator::watermark_for(t0 + std::chrono::seconds(p * k + 3), s->alarm));
      write_seed(dir, fmt::format("a-spec{}-step{}", si, k),
                 mode_a_seed(si, e.serialize()));
    }
    std::string ops(1, static_cast<char>(si * 3 + 1));
    for (int k = 0; k < 12; ++k) {
      ops += std::string("\x00\x05\x80\x04", 4);   // add at newest + 0.5 period, value 1
      ops += std::string("\x00\x00\x80\x40", 4);   // add at newest, value 16
      ops += std::string("\x02\x0f", 2);           // advance 1.5 periods
      if (k % 3 == 2) ops += "\x03";               // reload
    }
    write_seed(dir, fmt::format("b-spec{}", si), ops);
  }
  for (size_t si = 0; si < kNumSpecs; ++si)
    write_seed(dir, fmt::format("c-spec{}", si), std::string("\x02", 1) + kSpecs[si]);
  write_seed(dir, "c-inline", std::string("\x02", 1) +
                                  "metric = { value = \"$.n\", dimensions = { user = "
                                  "\"$.userIdentity.arn\" } }\nalarm = { statistic = \"Sum\", "
                                  "period = 300, evaluation_periods = 1, threshold = 5, "
                                  "comparison_operator = \"GreaterThanOrEqualToThreshold\" }\n");
}

}  // namespace

// UBSan findings (signed overflow in time arithmetic) are crashes here, not log lines.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("TW_ALARM_FUZZ_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t b0 = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto s = spec(b0 / 3);
  switch (b0 % 3) {
    case 0: mode_a(s, rest); break;
    case 1: mode_b(s, rest); break;
    default: mode_c(rest); break;
  }
  return 0;
}
