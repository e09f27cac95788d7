#include "agent/alarms/alarm_evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>

namespace trailwarden::alarms {

namespace {

int64_t to_ms(EventTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
EventTime from_ms(int64_t ms) {
  return EventTime{std::chrono::duration_cast<EventTime::duration>(std::chrono::milliseconds(ms))};
}
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Half the largest period index whose start is a representable EventTime.
int64_t max_period_index(int64_t period_seconds) {
  const int64_t max_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(EventTime::duration::max()).count();
  return max_ms / (period_seconds * 1000) / 2;
}

std::string_view op_phrase(Comparison c) {
  switch (c) {
    case Comparison::kGreaterThanOrEqualToThreshold: return "greater than or equal to";
    case Comparison::kGreaterThanThreshold: return "greater than";
    case Comparison::kLessThanThreshold: return "less than";
    case Comparison::kLessThanOrEqualToThreshold: return "less than or equal to";
  }
  return "?";
}

std::string plural(uint64_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// ---- serialization: little-endian fixed-width fields ----
constexpr char kMagic[4] = {'T', 'W', 'A', 'E'};
constexpr uint8_t kVersion = 1;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_i64(std::string& out, int64_t v) { put_u64(out, static_cast<uint64_t>(v)); }
void put_f64(std::string& out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  put_u64(out, bits);
}
void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_str(std::string& out, std::string_view s) {
  put_u64(out, s.size());
  out.append(s);
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view b) : b_(b) {}
  bool u8(uint8_t& v) {
    if (pos_ + 1 > b_.size()) return false;
    v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool u64(uint64_t& v) {
    if (pos_ + 8 > b_.size()) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool i64(int64_t& v) {
    uint64_t u;
    if (!u64(u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  bool f64(double& d) {
    uint64_t u;
    if (!u64(u)) return false;
    std::memcpy(&d, &u, sizeof d);
    return true;
  }
  bool str(std::string& s, size_t max) {
    uint64_t n;
    if (!u64(n) || n > max || n > b_.size() - pos_) return false;
    s.assign(b_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool bytes(std::string_view expect) {
    if (b_.substr(pos_, expect.size()) != expect) return false;
    pos_ += expect.size();
    return true;
  }
  bool done() const { return pos_ == b_.size(); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

}  // namespace

std::string reason_time(EventTime t) {
  const std::time_t secs = static_cast<std::time_t>(floor_div(to_ms(t), 1000));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:02}/{:02}/{:02} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_mon + 1,
                     (tm.tm_year + 1900) % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string reason_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e7) return fmt::format("{:.1f}", v);
  return fmt::format("{}", v);
}

AlarmEvaluator::AlarmEvaluator(std::shared_ptr<const MetricAlarmSpec> spec) : spec_(std::move(spec)) {}

EventTime AlarmEvaluator::watermark_for(EventTime newest, const AlarmSpec& alarm) {
  return newest - std::chrono::seconds(alarm.lateness_seconds);
}

int64_t AlarmEvaluator::max_open_periods() const {
  const int64_t p = spec_->alarm.period_seconds;
  return (spec_->alarm.lateness_seconds + p - 1) / p + 2 + kOpenPeriodSlack;
}

int64_t AlarmEvaluator::index_of(EventTime t) const { return floor_div(to_ms(t), period_ms()); }
EventTime AlarmEvaluator::start_of(int64_t index) const { return from_ms(index * period_ms()); }

bool AlarmEvaluator::begin(int64_t index) {
  if (started_) return false;
  started_ = true;
  origin_ = index;
  evaluated_ = index - 1;
  return true;
}

void AlarmEvaluator::start(EventTime t) { begin(index_of(t)); }

AlarmEvaluator::AddResult AlarmEvaluator::admit(int64_t index) {
  if (!begin(index) && index < origin_ && evaluated_ == origin_ - 1) {
    // Nothing evaluated yet: the instance starts at its earliest datapoint whatever the order
    // the datapoints came in (the caller refuses what is later than its watermark).
    origin_ = index;
    evaluated_ = index - 1;
  }
  if (index <= evaluated_) {
    ++late_;
    return AddResult::kLate;
  }
  if (index - evaluated_ > max_open_periods() && !buckets_.count(index)) {
    ++overflow_;
    return AddResult::kOverflow;
  }
  return AddResult::kAdded;
}

AlarmEvaluator::AddOutcome AlarmEvaluator::add(EventTime t, double value,
                                               std::string_view contributor_id) {
  AddOutcome out;
  const int64_t index = index_of(t);
  out.result = admit(index);
  if (out.result != AddResult::kAdded) return out;
  Bucket& b = buckets_[index];
  if (b.count == 0) {
    b.min = b.max = value;
  } else {
    b.min = std::min(b.min, value);
    b.max = std::max(b.max, value);
  }
  ++b.count;
  b.sum += value;
  keep_contributor(b, contributor_id);
  if (spec_->fires_early() && state_ != AlarmState::kAlarm) out.transition = check_early(index, t);
  return out;
}

void AlarmEvaluator::keep_contributor(Bucket& b, std::string_view id) {
  // The kMaxContributors smallest ids, ascending: the same ids in the same order whatever order
  // the records came in. (A period restored from a state written before kept them in arrival
  // order: the ids kept are still the smallest of those seen, only their order may differ.)
  auto after = std::find_if(b.contributors.begin(), b.contributors.end(),
                            [&](const std::string& c) { return std::string_view(c) > id; });
  if (b.contributors.size() < kMaxContributors) {
    b.contributors.emplace(after, id);
    return;
  }
  ++b.omitted;
  if (after == b.contributors.end()) return;  // not smaller than any id kept
  b.contributors.emplace(after, id);
  b.contributors.erase(std::max_element(b.contributors.begin(), b.contributors.end()));
}

AlarmEvaluator::AddResult AlarmEvaluator::note_activity(EventTime t) {
  if (!spec_->metric.default_value) return AddResult::kAdded;
  const int64_t index = index_of(t);
  AddResult r = admit(index);
  if (r == AddResult::kAdded) buckets_[index].active = true;
  return r;
}

std::optional<AlarmEvaluator::Point> AlarmEvaluator::point(int64_t index, bool include_open) const {
  auto it = buckets_.find(index);
  if (it == buckets_.end()) return std::nullopt;
  const Bucket& b = it->second;
  const bool open = index > evaluated_;
  if (open && !include_open) return std::nullopt;
  Point p{index, 0, b.count, false, &b};
  if (b.count == 0) {
    // A default_value datapoint exists only for a final period (an open one may still match).
    if (!b.active || open || !spec_->metric.default_value) return std::nullopt;
    const double d = *spec_->metric.default_value;
    p.value = spec_->alarm.statistic == Statistic::kSampleCount ? 1 : d;
  } else {
    switch (spec_->alarm.statistic) {
      case Statistic::kSampleCount: p.value = static_cast<double>(b.count); break;
      case Statistic::kSum: p.value = b.sum; break;
      case Statistic::kMinimum: p.value = b.min; break;
      case Statistic::kMaximum: p.value = b.max; break;
      case Statistic::kAverage: p.value = b.sum / static_cast<double>(b.count); break;
    }
  }
  p.breaching = breaches(spec_->alarm.comparison, p.value, spec_->alarm.threshold);
  return p;
}

Transition AlarmEvaluator::make(AlarmState to, int64_t end_index, const std::vector<Point>& used,
                                size_t filled, bool filled_breaching) const {
  const AlarmSpec& a = spec_->alarm;
  Transition tr;
  tr.old_state = state_;
  tr.new_state = to;
  tr.period_start = start_of(end_index);
  tr.period_seconds = a.period_seconds;
  tr.state_change_time = start_of(end_index + 1);
  for (const Point& p : used) {
    EvaluatedDatapoint d;
    d.period_start = start_of(p.index);
    d.partial = p.index > evaluated_;
    d.value = p.value;
    d.samples = p.samples;
    d.breaching = p.breaching;
    tr.datapoints.push_back(d);
    for (const auto& id : p.bucket->contributors) tr.contributors.push_back(id);
    tr.contributors_omitted += p.bucket->omitted;
  }
  for (size_t i = 0; i < filled; ++i) {
    EvaluatedDatapoint d;
    d.present = false;
    d.breaching = filled_breaching;
    tr.datapoints.push_back(d);
  }

  const std::string thr = reason_number(a.threshold);
  const std::string fill_kind = filled_breaching ? "Breaching" : "NonBreaching";
  auto listing = [&](bool breaching) {
    std::vector<std::string> items;
    for (const Point& p : used)
      if (p.breaching == breaching)
        items.push_back(fmt::format("{} ({})", reason_number(p.value), reason_time(start_of(p.index))));
    return std::make_pair(items.size(), fmt::format("[{}]", fmt::join(items, ", ")));
  };
  if (to == AlarmState::kInsufficientData) {
    const uint64_t unknown = static_cast<uint64_t>(a.evaluation_range()) - used.size();
    tr.reason = fmt::format("Insufficient Data: {} {} unknown.", plural(unknown, "datapoint"),
                            unknown == 1 ? "was" : "were");
    return tr;
  }
  const bool alarm = to == AlarmState::kAlarm;
  if (used.empty()) {
    tr.reason = fmt::format(
        "Threshold Crossed: no datapoints were received for {} and {} missing {} treated as [{}].",
        plural(filled, "period"), filled, filled == 1 ? "datapoint was" : "datapoints were",
        fill_kind);
    return tr;
  }
  auto [count, list] = listing(alarm);
  const uint64_t fills_counted = (filled_breaching == alarm) ? filled : 0;
  const uint64_t total = count + fills_counted;
  const uint64_t minimum = alarm ? static_cast<uint64_t>(a.datapoints_to_alarm)
                                 : static_cast<uint64_t>(a.evaluation_periods - a.datapoints_to_alarm + 1);
  std::string fills;
  if (filled > 0)
    fills = fmt::format(" ({} missing {} treated as [{}])", filled,
                        filled == 1 ? "datapoint was" : "datapoints were", fill_kind);
  tr.reason = fmt::format(
      "Threshold Crossed: {} out of the last {} datapoints {}{} {}{}{} the threshold ({}) (minimum {} for {} "
      "-> {} transition).",
      total, a.evaluation_periods, list,
      fills, total == 1 ? "was " : "were ", alarm ? "" : "not ", op_phrase(a.comparison), thr,
      plural(minimum, "datapoint"), state_name(state_), state_name(to));
  return tr;
}

std::optional<Transition> AlarmEvaluator::evaluate(int64_t end) {
  const AlarmSpec& a = spec_->alarm;
  const int64_t n = a.evaluation_periods;
  const int64_t m = a.datapoints_to_alarm;
  const int64_t first = end - a.evaluation_range() + 1;
  std::vector<Point> real;  // newest first
  for (int64_t i = end; i >= first; --i)
    if (auto p = point(i, false)) real.push_back(*p);

  AlarmState to = state_;
  std::vector<Point> used;
  size_t filled = 0;
  bool filled_breaching = false;
  const TreatMissingData treat = a.treat_missing_data;
  if (static_cast<int64_t>(real.size()) >= n) {
    // Enough real datapoints: the n most recent; missing ones do not matter.
    used.assign(real.begin(), real.begin() + n);
  } else if (real.empty()) {
    switch (treat) {
      case TreatMissingData::kMissing: to = AlarmState::kInsufficientData; break;
      case TreatMissingData::kIgnore: return std::nullopt;
      case TreatMissingData::kBreaching:
      case TreatMissingData::kNotBreaching:
        filled = static_cast<size_t>(n);
        filled_breaching = treat == TreatMissingData::kBreaching;
        break;
    }
  } else {
    used = real;
    if (treat == TreatMissingData::kBreaching || treat == TreatMissingData::kNotBreaching) {
      // Every real datapoint in the range, and as few filled ones as make up n.
      filled = static_cast<size_t>(n) - real.size();
      filled_breaching = treat == TreatMissingData::kBreaching;
    }
  }
  if (!(real.empty() && treat == TreatMissingData::kMissing)) {
    int64_t breaching = 0;
    bool any_ok = false;
    for (const Point& p : used) {
      breaching += p.breaching ? 1 : 0;
      any_ok = any_ok || !p.breaching;
    }
    if (filled_breaching) breaching += static_cast<int64_t>(filled);
    const bool fewer = !used.empty() && static_cast<int64_t>(used.size()) < n &&
                       (treat == TreatMissingData::kMissing || treat == TreatMissingData::kIgnore);
    if (breaching >= m) {
      to = AlarmState::kAlarm;
    } else if (!fewer || any_ok) {
      to = AlarmState::kOk;
    } else if (treat == TreatMissingData::kIgnore) {
      return std::nullopt;  // only breaching datapoints, too few: the state is kept
    } else {
      // treat missing: only breaching datapoints, fewer than M. AWS's table: ALARM when the
      // oldest period of the evaluation range holds one of them, INSUFFICIENT_DATA otherwise.
      to = real.back().index == first ? AlarmState::kAlarm : AlarmState::kInsufficientData;
    }
  }
  if (to == state_) return std::nullopt;
  Transition tr = make(to, end, used, filled, filled_breaching);
  state_ = to;
  return tr;
}

std::optional<Transition> AlarmEvaluator::check_early(int64_t index, EventTime t) {
  const AlarmSpec& a = spec_->alarm;
  const int64_t n = a.evaluation_periods;
  // Every range whose last N periods hold `index` may have become M-breaching with this
  // datapoint — also one ending after it, whose newer breaching periods came first (records
  // arrive out of order). The earliest such range fires: the fewest evaluations become moot.
  for (int64_t end = index; end < index + n; ++end) {
    std::vector<Point> shown;  // the breaching datapoints, newest first
    for (int64_t i = end; i > end - n; --i)
      if (auto p = point(i, true); p && p->breaching) shown.push_back(*p);
    // Breaching datapoints stay breaching whatever else arrives (fires_early); M of them among
    // the last N periods make every evaluation of the range ending here ALARM.
    if (static_cast<int64_t>(shown.size()) < a.datapoints_to_alarm) continue;
    Transition tr = make(AlarmState::kAlarm, end, shown, 0, false);
    tr.early = true;
    tr.state_change_time = t;
    state_ = AlarmState::kAlarm;
    early_ = end;
    has_early_ = true;
    return tr;
  }
  return std::nullopt;
}

std::vector<Transition> AlarmEvaluator::advance(EventTime watermark, AdvanceHooks* hooks) {
  std::vector<Transition> out;
  if (!started_) return out;
  const int64_t last_final = floor_div(to_ms(watermark), period_ms()) - 1;
  while (evaluated_ < last_final) {
    if (has_early_ && evaluated_ + 1 < early_) {
      // Ranges ending before the period of an early ALARM are superseded by it: not evaluated.
      evaluated_ = std::min(early_ - 1, last_final);
      continue;
    }
    const int64_t i = evaluated_ + 1;
    if (hooks) {
      if (!hooks->before_evaluation(*this, start_of(i - spec_->alarm.evaluation_range() + 1),
                                    start_of(i)))
        break;
      // The store's state was decided at or after this end (or by an early ALARM after it).
      if (evaluated_ >= i || (has_early_ && i < early_)) continue;
    }
    evaluated_ = i;
    if (auto tr = evaluate(i)) {
      using Outcome = AdvanceHooks::Outcome;
      const Outcome o = hooks ? hooks->after_transition(*this, *tr) : Outcome::kNotify;
      if (o == Outcome::kRetry) {
        state_ = tr->old_state;
        evaluated_ = i - 1;
        break;
      }
      if (o == Outcome::kNotify) out.push_back(std::move(*tr));
    }
    prune();
    // Once the range holds no period with data, every range up to the next period with data
    // is the same (all missing) and gives the same state: skipped.
    if (buckets_.empty() || buckets_.begin()->first > i) {
      auto next = buckets_.upper_bound(i);
      const int64_t next_data = next == buckets_.end() ? last_final + 1 : next->first;
      evaluated_ = std::max(evaluated_, std::min(last_final, next_data - 1));
    }
  }
  return out;
}

AlarmEvaluator::AddResult AlarmEvaluator::check(EventTime t) const {
  const int64_t index = index_of(t);
  if (!started_ || (index < origin_ && evaluated_ == origin_ - 1)) return AddResult::kAdded;
  if (index <= evaluated_) return AddResult::kLate;
  if (index - evaluated_ > max_open_periods() && !buckets_.count(index))
    return AddResult::kOverflow;
  return AddResult::kAdded;
}

void AlarmEvaluator::fill(Bucket& b, const PeriodAggregate& a) {
  b.count = a.count;
  b.sum = a.sum;
  b.min = a.min.value_or(0);
  b.max = a.max.value_or(0);
  b.active = true;  // a stored period exists only because records were seen in it
  b.contributors = a.contributors;
  std::sort(b.contributors.begin(), b.contributors.end());
  b.contributors.erase(std::unique(b.contributors.begin(), b.contributors.end()),
                       b.contributors.end());
  if (b.contributors.size() > kMaxContributors) b.contributors.resize(kMaxContributors);
  b.omitted = b.count > b.contributors.size() ? b.count - b.contributors.size() : 0;
}

AlarmEvaluator::AddOutcome AlarmEvaluator::set_period(const PeriodAggregate& totals, EventTime t) {
  AddOutcome out;
  const int64_t index = index_of(totals.period_start);
  out.result = admit(index);
  if (out.result != AddResult::kAdded) return out;
  fill(buckets_[index], totals);
  if (totals.count > 0 && spec_->fires_early() && state_ != AlarmState::kAlarm)
    out.transition = check_early(index, t);
  return out;
}

bool AlarmEvaluator::breaching(const PeriodAggregate& totals) const {
  if (totals.count == 0) return false;
  Bucket b;
  fill(b, totals);
  double v = 0;
  switch (spec_->alarm.statistic) {
    case Statistic::kSampleCount: v = static_cast<double>(b.count); break;
    case Statistic::kSum: v = b.sum; break;
    case Statistic::kMinimum: v = b.min; break;
    case Statistic::kMaximum: v = b.max; break;
    case Statistic::kAverage: v = b.sum / static_cast<double>(b.count); break;
  }
  return breaches(spec_->alarm.comparison, v, spec_->alarm.threshold);
}

void AlarmEvaluator::replace_periods(EventTime from, const std::vector<PeriodAggregate>& periods) {
  const int64_t first = index_of(from);
  buckets_.erase(buckets_.lower_bound(first), buckets_.end());
  for (const PeriodAggregate& p : periods) {
    const int64_t index = index_of(p.period_start);
    if (index < first) continue;
    if (!started_) begin(index);
    if (index < origin_ && evaluated_ == origin_ - 1) {
      origin_ = index;
      evaluated_ = index - 1;
    }
    if (index - evaluated_ > max_open_periods()) continue;  // as add() refuses it
    fill(buckets_[index], p);
  }
}

void AlarmEvaluator::adopt(AlarmState state, std::optional<EventTime> range_end, bool early) {
  state_ = state;
  if (!started_ || !range_end) return;
  const int64_t end = index_of(*range_end);
  if (early) {
    if (end > evaluated_ && (!has_early_ || end > early_)) {
      has_early_ = true;
      early_ = end;
    }
  } else if (end > evaluated_) {
    evaluated_ = end;
  }
}

void AlarmEvaluator::prune() {
  const int64_t keep_from = evaluated_ - spec_->alarm.evaluation_range() + 1;
  while (!buckets_.empty() && buckets_.begin()->first < keep_from) buckets_.erase(buckets_.begin());
}

std::string AlarmEvaluator::serialize() const {
  const AlarmSpec& a = spec_->alarm;
  std::string out;
  out.append(kMagic, sizeof kMagic);
  put_u8(out, kVersion);
  put_i64(out, a.period_seconds);
  put_i64(out, a.evaluation_periods);
  put_i64(out, a.datapoints_to_alarm);
  put_u8(out, static_cast<uint8_t>(a.statistic));
  put_i64(out, a.lateness_seconds);
  put_u8(out, static_cast<uint8_t>(state_));
  put_u8(out, started_ ? 1 : 0);
  put_i64(out, origin_);
  put_i64(out, evaluated_);
  put_u8(out, has_early_ ? 1 : 0);
  put_i64(out, early_);
  put_u64(out, late_);
  put_u64(out, overflow_);
  put_u64(out, buckets_.size());
  for (const auto& [index, b] : buckets_) {
    put_i64(out, index);
    put_u64(out, b.count);
    put_f64(out, b.sum);
    put_f64(out, b.min);
    put_f64(out, b.max);
    put_u8(out, b.active ? 1 : 0);
    put_u64(out, b.omitted);
    put_u64(out, b.contributors.size());
    for (const auto& c : b.contributors) put_str(out, c);
  }
  return out;
}

std::optional<AlarmEvaluator> AlarmEvaluator::restore(std::shared_ptr<const MetricAlarmSpec> spec,
                                                      std::string_view bytes, std::string* error) {
  auto fail = [&](std::string_view why) -> std::optional<AlarmEvaluator> {
    if (error) *error = fmt::format("alarm '{}': saved state refused: {}", spec->alarm.name, why);
    return std::nullopt;
  };
  ByteReader r(bytes);
  uint8_t version = 0;
  if (!r.bytes(std::string_view(kMagic, sizeof kMagic)) || !r.u8(version))
    return fail("not an alarm state");
  if (version != kVersion) return fail(fmt::format("version {} (this agent reads {})", version, kVersion));
  const AlarmSpec& a = spec->alarm;
  int64_t period = 0, n = 0, m = 0, lateness = 0;
  uint8_t statistic = 0;
  if (!r.i64(period) || !r.i64(n) || !r.i64(m) || !r.u8(statistic) || !r.i64(lateness))
    return fail("truncated");
  if (period != a.period_seconds || n != a.evaluation_periods || m != a.datapoints_to_alarm ||
      statistic != static_cast<uint8_t>(a.statistic) || lateness != a.lateness_seconds)
    return fail("written for a different alarm definition (period, evaluation_periods, "
                "datapoints_to_alarm, statistic or lateness_seconds changed)");
  AlarmEvaluator e(spec);
  uint8_t state = 0, started = 0, has_early = 0;
  uint64_t nbuckets = 0;
  if (!r.u8(state) || state > 2 || !r.u8(started) || started > 1 || !r.i64(e.origin_) ||
      !r.i64(e.evaluated_) || !r.u8(has_early) || has_early > 1 || !r.i64(e.early_) ||
      !r.u64(e.late_) || !r.u64(e.overflow_) || !r.u64(nbuckets))
    return fail("truncated or damaged header");
  // A period index is sane when its period's start is an event time (EventTime counts
  // nanoseconds: about ±292 years around 1970), with room for the next periods an evaluation
  // names; anything beyond would overflow when turned back into a time.
  const int64_t max_index = max_period_index(a.period_seconds);
  auto sane = [&](int64_t index) { return index > -max_index && index < max_index; };
  if (!sane(e.origin_) || !sane(e.evaluated_) || !sane(e.early_))
    return fail("period index out of range");
  e.state_ = static_cast<AlarmState>(state);
  e.started_ = started == 1;
  e.has_early_ = has_early == 1;
  const uint64_t max_buckets = static_cast<uint64_t>(a.evaluation_range() + e.max_open_periods());
  if (nbuckets > max_buckets) return fail("more periods than an alarm keeps");
  int64_t prev = 0;
  for (uint64_t i = 0; i < nbuckets; ++i) {
    int64_t index = 0;
    Bucket b;
    uint8_t active = 0;
    uint64_t ncontrib = 0;
    if (!r.i64(index) || !r.u64(b.count) || !r.f64(b.sum) || !r.f64(b.min) || !r.f64(b.max) ||
        !r.u8(active) || active > 1 || !r.u64(b.omitted) || !r.u64(ncontrib) ||
        ncontrib > kMaxContributors)
      return fail("truncated or damaged period");
    if (!sane(index)) return fail("period index out of range");
    if (i > 0 && index <= prev) return fail("periods out of order");
    prev = index;
    b.active = active == 1;
    for (uint64_t c = 0; c < ncontrib; ++c) {
      std::string id;
      if (!r.str(id, 4096)) return fail("truncated or damaged record id");
      b.contributors.push_back(std::move(id));
    }
    e.buckets_.emplace(index, std::move(b));
  }
  if (!r.done()) return fail("trailing bytes");
  return e;
}

}  // namespace trailwarden::alarms
