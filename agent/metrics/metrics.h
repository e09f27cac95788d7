// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// Counters stay where the work is counted (plain std::atomic fields of SqsSourceCounters,
// EngineCounters, OutputCounters, ...), and each component registers the metrics of its own
// counters (register_engine_metrics, register_sqs_source_metrics, ...): a MetricsRegistry holds
// collectors, functions that read those values at scrape time and write them through a
// PrometheusWriter. Histogram is the one metric type kept
// here, because it needs bucket bookkeeping.
//
// Thread-safety: Histogram::observe() is lock-free and may be called from any thread.
// MetricsRegistry::add() must happen before the first render(); render() may then be called
// from any thread (collectors must be thread-safe readers).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trailwarden {

class Histogram {
 public:
  // `bounds`: increasing upper bounds of the buckets (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size() is the +Inf bucket).
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

  // Buckets for latencies in seconds, 5 ms to 10 min.
  static std::vector<double> latency_buckets();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Writes one scrape. Samples of a family must follow its family() call.
class PrometheusWriter {
 public:
  // type: "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, double value, Labels labels = {});
  void sample(std::string_view name, uint64_t value, Labels labels = {});
  // The _bucket, _sum and _count samples of a histogram family.
  void histogram(std::string_view name, const Histogram& h, Labels labels = {});
  // Shortcuts: a family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return out_; }

 private:
  void labels(Labels labels, std::string_view extra_name = {}, std::string_view extra_value = {});
  std::string out_;
};

class MetricsRegistry {
 public:
  using Collector = std::function<void(PrometheusWriter&)>;
  void add(Collector c) { collectors_.push_back(std::move(c)); }
  std::string render() const;

 private:
  std::vector<Collector> collectors_;
};

// Formats a sample value as Prometheus does (integers without a fraction, +Inf, NaN).
std::string format_metric_value(double v);

}  // namespace trailwarden
