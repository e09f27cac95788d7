#include "agent/metrics/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

using namespace trailwarden;

TEST_CASE("prometheus text: families, labels and escaping") {
  PrometheusWriter w;
  w.family("x_total", "counter", "Things.\nWith a \\ backslash.");
  w.sample("x_total", uint64_t{3}, {{"output", "a\"b\\c\nd"}});
  w.sample("x_total", uint64_t{4}, {{"output", "plain"}, {"kind", "k"}});
  w.gauge("g", "A gauge.", 1.5);
  w.gauge("n", "Not yet.", std::numeric_limits<double>::quiet_NaN());
  CHECK(w.text() ==
        "# HELP x_total Things.\\nWith a \\\\ backslash.\n"
        "# TYPE x_total counter\n"
        "x_total{output=\"a\\\"b\\\\c\\nd\"} 3\n"
        "x_total{output=\"plain\",kind=\"k\"} 4\n"
        "# HELP g A gauge.\n# TYPE g gauge\ng 1.5\n"
        "# HELP n Not yet.\n# TYPE n gauge\nn NaN\n");
}

TEST_CASE("histogram: cumulative buckets, sum and count agree") {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.observe(v);
  PrometheusWriter w;
  w.family("lat_seconds", "histogram", "Latency.");
  w.histogram("lat_seconds", h);
  CHECK(w.text() ==
        "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{le=\"0.1\"} 2\n"
        "lat_seconds_bucket{le=\"1\"} 3\n"
        "lat_seconds_bucket{le=\"10\"} 4\n"
        "lat_seconds_bucket{le=\"+Inf\"} 5\n"
        "lat_seconds_sum 55.65\n"
        "lat_seconds_count 5\n");
}

TEST_CASE("histogram: concurrent observations are all counted") {
  Histogram h(Histogram::latency_buckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(0.001 * (i % 100));
    });
  for (auto& t : threads) t.join();
  CHECK(h.count() == 40000);
  uint64_t total = 0;
  for (size_t i = 0; i <= h.bounds().size(); ++i) total += h.bucket(i);
  CHECK(total == 40000);
  CHECK(std::fabs(h.sum() - 4 * 100 * 4.95) < 1e-6);
}

TEST_CASE("registry renders its collectors in order") {
  MetricsRegistry r;
  uint64_t n = 7;
  r.add([&n](PrometheusWriter& w) { w.counter("a_total", "A.", n); });
  r.add([](PrometheusWriter& w) { w.gauge("b", "B.", 2); });
  CHECK(r.render() == "# HELP a_total A.\n# TYPE a_total counter\na_total 7\n"
                      "# HELP b B.\n# TYPE b gauge\nb 2\n");
  n = 8;
  CHECK(r.render().find("a_total 8\n") != std::string::npos);
}
