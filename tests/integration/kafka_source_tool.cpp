// kafka_source_tool: drives the Kafka source (agent/sources/kafka) the way the engine will, for
// test_kafka_source.py. A unit is "delivered" by writing its payload to stdout (the test's
// durable output: lines already written survive a kill -9 of this process) and only then done().
//
//   kafka_source_tool consume BROKERS TOPIC GROUP [--max-in-flight N] [--batch B]
//                     [--delay-ms MS] [--commit-interval-ms MS]
//       Units are taken in batches of up to B (default 16), delivered in reverse order with
//       MS (default 0) between two, and done(ok) each right after its line. Runs until stdin
//       ends (then close() and exit 0) or the source is fatal (exit 4).
//   kafka_source_tool committed BROKERS TOPIC GROUP PARTITIONS
//       One line per partition: "partition=<p> committed=<offset> end=<high watermark>".
//
// stdout lines, flushed at once:
//   ready
//   delivered <name> <payload>
//   released received=<n> done=<n> ignored=<n> rebalances=<n>
// Exit status: 0, 2 on bad arguments, 3 when the source cannot start, 4 on a fatal source.
#include <librdkafka/rdkafka.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "agent/common/logging.h"
#include "agent/sources/kafka/kafka_source.h"

using namespace trailwarden;
using namespace trailwarden::kafka;

namespace {

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int committed(const std::string& brokers, const std::string& topic, const std::string& group,
              int partitions) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    std::fprintf(stderr, "%s\n", errstr);
    return 3;
  }
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l, topic.c_str(), p);
  int rc = 0;
  if (rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, 10000)) {
    std::fprintf(stderr, "committed: %s\n", rd_kafka_err2str(err));
    rc = 3;
  }
  for (int p = 0; rc == 0 && p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000)) {
      std::fprintf(stderr, "watermarks: %s\n", rd_kafka_err2str(err));
      rc = 3;
      break;
    }
    say(fmt::format("partition={} committed={} end={}", p, l->elems[p].offset, high));
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: kafka_source_tool consume BROKERS TOPIC GROUP [--max-in-flight N] "
                 "[--batch B] [--delay-ms MS] [--commit-interval-ms MS]\n"
                 "       kafka_source_tool committed BROKERS TOPIC GROUP PARTITIONS\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "committed") {
    if (argc != 6) return 2;
    return committed(argv[2], argv[3], argv[4], std::atoi(argv[5]));
  }
  if (mode != "consume") return 2;
  KafkaSourceConfig c;
  c.brokers = argv[2];
  c.topics = {argv[3]};
  c.group_id = argv[4];
  c.properties.push_back({"session.timeout.ms", "6000", false});
  c.properties.push_back({"heartbeat.interval.ms", "200", false});
  size_t batch = 16;
  int delay_ms = 0;
  for (int i = 5; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return 2;
    const long v = std::atol(argv[++i]);
    if (a == "--max-in-flight" && v > 0)
      c.max_in_flight = static_cast<size_t>(v);
    else if (a == "--batch" && v > 0)
      batch = static_cast<size_t>(v);
    else if (a == "--delay-ms" && v >= 0)
      delay_ms = static_cast<int>(v);
    else if (a == "--commit-interval-ms" && v > 0)
      c.commit_interval = std::chrono::milliseconds(v);
    else
      return 2;
  }
  setup_logging("warn");
  KafkaSource::Options o;
  o.wait = std::chrono::milliseconds(100);
  KafkaSource source(std::move(c), std::move(o));
  std::string error;
  if (!source.start(error)) {
    std::fprintf(stderr, "kafka_source_tool: %s\n", error.c_str());
    return 3;
  }
  std::atomic<bool> stop{false};
  std::thread input([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    stop = true;
  });
  say("ready");
  int rc = 0;
  while (!stop.load()) {
    std::vector<WorkUnit> units;
    if (source.next(batch, stop, units, error) == Source::Status::kFatal) {
      std::fprintf(stderr, "kafka_source_tool: fatal: %s\n", error.c_str());
      rc = 4;
      break;
    }
    for (auto it = units.rbegin(); it != units.rend(); ++it) {  // done out of order
      say(fmt::format("delivered {} {}", it->name, it->bytes));
      source.done(it->token, true, {});
      if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
  }
  source.close();
  const KafkaSourceStats& s = source.stats();
  say(fmt::format("released received={} done={} ignored={} rebalances={}", s.received.load(),
                  s.done_ok.load(), s.done_ignored.load(), s.rebalances.load()));
  if (rc != 0) std::_Exit(rc);  // the input thread may still wait on stdin
  input.join();
  return rc;
}
