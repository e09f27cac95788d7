#include "agent/metrics/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace trailwarden {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + value, std::memory_order_relaxed)) {
  }
}

std::vector<double> Histogram::latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

void PrometheusWriter::family(std::string_view name, std::string_view type,
                              std::string_view help) {
  out_ += fmt::format("# HELP {} ", name);
  for (char c : help) {  // HELP escapes backslash and newline
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_.push_back(c);
  }
  out_ += fmt::format("\n# TYPE {} {}\n", name, type);
}

void PrometheusWriter::labels(Labels labels, std::string_view extra_name,
                              std::string_view extra_value) {
  if (labels.size() == 0 && extra_name.empty()) return;
  out_.push_back('{');
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_.push_back(',');
    first = false;
    out_.append(k);
    out_ += "=\"";
    for (char c : v) {  // label values escape backslash, quote and newline
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_.push_back(c);
    }
    out_.push_back('"');
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_.push_back('}');
}

void PrometheusWriter::sample(std::string_view name, double value, Labels l) {
  out_.append(name);
  labels(l);
  out_ += fmt::format(" {}\n", format_metric_value(value));
}

void PrometheusWriter::sample(std::string_view name, uint64_t value, Labels l) {
  out_.append(name);
  labels(l);
  out_ += fmt::format(" {}\n", value);
}

void PrometheusWriter::histogram(std::string_view name, const Histogram& h, Labels l) {
  uint64_t cumulative = 0;
  const auto& bounds = h.bounds();
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += h.bucket(i);
    out_ += fmt::format("{}_bucket", name);
    labels(l, "le", i < bounds.size() ? format_metric_value(bounds[i]) : "+Inf");
    out_ += fmt::format(" {}\n", cumulative);
  }
  out_ += fmt::format("{}_sum", name);
  labels(l);
  out_ += fmt::format(" {}\n", format_metric_value(h.sum()));
  out_ += fmt::format("{}_count", name);
  labels(l);
  // The +Inf bucket and _count must agree within one scrape: use the buckets' total.
  out_ += fmt::format(" {}\n", cumulative);
}

void PrometheusWriter::counter(std::string_view name, std::string_view help, uint64_t value) {
  family(name, "counter", help);
  sample(name, value);
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, double value) {
  family(name, "gauge", help);
  sample(name, value);
}

std::string MetricsRegistry::render() const {
  PrometheusWriter w;
  for (const auto& c : collectors_) c(w);
  return w.text();
}

}  // namespace trailwarden
