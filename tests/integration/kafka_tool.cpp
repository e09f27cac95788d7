// kafka_tool: drives the Kafka output (outputs/kafka) the way the pipeline does, for
// test_kafka.py: builds the output from the first [[outputs]] table of a TOML file through the
// output factory, generates alerts, and sends them in batches, sending again what a kRetry
// names (with a capped backoff) until every alert is delivered or rejected.
//
//   kafka_tool CONFIG.toml [--count N] [--first I] [--batch B] [--interval-ms MS]
//              [--value-bytes N] [--big I]... [--pause-after N] [--log-level LEVEL]
//
// Alert i (I <= i < I+N): uid "uid-<i>", rule_id "rule-<i % 5>", account "11112222333<i % 3>"
// except that every fourth alert (i % 4 == 3) has no account; OCSF text
// {"i":<i>,"uid":"uid-<i>","pad":"xxx..."} padded to about --value-bytes; --big I makes alert I
// 2 MB (for the message-size rejection). --pause-after N: once N alerts are delivered, at the
// end of a batch, print "paused delivered=<n>" and wait for a line on stdin before going on (so
// a test can change the cluster at a known point of the stream, however slow the machine).
//
// stdout, one line per event, flushed at once (the test waits on these lines):
//   ready
//   send batch=<b> status=<delivered|retry|reject|fatal> items=<n> message=<text>
//   progress delivered=<alerts delivered so far> rejected=<n>
//   rejected <uid>
//   paused delivered=<n>
//   done delivered=<n> rejected=<n> retries=<n>
// Exit status: 0 when every alert is delivered or rejected, 4 on kFatal, 2 on bad arguments or
// configuration. AWS credentials for msk_iam come from the environment (AWS_ACCESS_KEY_ID, ...),
// the region from AWS_REGION.
#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/http/curl_http_client.h"
#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "outputs/factory.h"
#include "outputs/settings.h"

using namespace trailwarden;

namespace {

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

AlertRecord make_alert(long i, size_t value_bytes, bool big) {
  AlertRecord a;
  a.uid = fmt::format("uid-{}", i);
  a.rule_id = fmt::format("rule-{}", i % 5);
  a.rule_title = "test rule";
  if (i % 4 != 3) a.account = fmt::format("11112222333{}", i % 3);
  a.region = "us-east-1";
  a.event_name = "StopConfigurationRecorder";
  std::string head = fmt::format(R"({{"i":{},"uid":"{}","pad":")", i, a.uid);
  const size_t want = big ? (size_t{2} << 20) : value_bytes;
  const size_t pad = want > head.size() + 2 ? want - head.size() - 2 : 0;
  a.ocsf = head + std::string(pad, 'x') + "\"}";
  a.raw = "{}";
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: kafka_tool CONFIG.toml [--count N] [--first I] [--batch B] "
                 "[--interval-ms MS] [--value-bytes N] [--big I]... [--pause-after N] [--log-level L]\n");
    return 2;
  }
  const std::string config_path = argv[1];
  long count = 100, first = 0;
  size_t batch_size = 50, value_bytes = 200;
  long interval_ms = 0, pause_after = -1;
  std::vector<long> big;
  std::string log_level = "info";
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "kafka_tool: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--count")
      count = std::atol(v);
    else if (a == "--first")
      first = std::atol(v);
    else if (a == "--batch")
      batch_size = static_cast<size_t>(std::max(1L, std::atol(v)));
    else if (a == "--interval-ms")
      interval_ms = std::atol(v);
    else if (a == "--value-bytes")
      value_bytes = static_cast<size_t>(std::atol(v));
    else if (a == "--big")
      big.push_back(std::atol(v));
    else if (a == "--pause-after")
      pause_after = std::atol(v);
    else if (a == "--log-level")
      log_level = v;
    else {
      std::fprintf(stderr, "kafka_tool: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  setup_logging(log_level);

  std::unique_ptr<Output> output;
  try {
    std::ifstream in(config_path);
    if (!in) throw std::runtime_error("cannot open " + config_path);
    std::stringstream ss;
    ss << in.rdbuf();
    const toml::table doc = parse_toml(ss.str(), config_path);
    const toml::array* outputs = doc["outputs"].as_array();
    if (!outputs || outputs->empty() || !outputs->front().is_table())
      throw std::runtime_error(config_path + ": no [[outputs]] table");
    OutputSettings settings = parse_output_settings(*outputs->front().as_table(), config_path, 0);
    OutputEnv env;
    if (const char* r = std::getenv("AWS_REGION")) env.aws_region = r;
    if (std::getenv("AWS_ACCESS_KEY_ID")) {
      auto ctx = aws::make_process_context(std::make_shared<http::CurlHttpClient>());
      std::vector<std::unique_ptr<aws::CredentialsProvider>> providers;
      providers.push_back(aws::make_environment_provider(ctx));
      env.aws_credentials = std::make_shared<aws::CredentialsChain>(
          "no AWS credentials", std::move(providers), ctx->now, std::chrono::seconds(300),
          std::chrono::seconds(10));
    }
    output = make_output(settings, env);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_tool: %s\n", e.what());
    return 2;
  }
  say("ready");

  std::vector<AlertRecord> alerts;
  alerts.reserve(static_cast<size_t>(count));
  for (long i = first; i < first + count; ++i)
    alerts.push_back(make_alert(i, value_bytes, std::find(big.begin(), big.end(), i) != big.end()));

  size_t delivered = 0, rejected = 0, retries = 0, batch_no = 0;
  for (size_t start = 0; start < alerts.size(); start += batch_size) {
    std::vector<const AlertRecord*> batch;
    for (size_t i = start; i < std::min(alerts.size(), start + batch_size); ++i)
      batch.push_back(&alerts[i]);
    ++batch_no;
    std::chrono::milliseconds backoff(100);
    while (!batch.empty()) {
      DeliveryResult r = output->send(batch);
      say(fmt::format("send batch={} status={} items={} message={}", batch_no,
                      delivery_status_name(r.status), r.items.size(), r.message));
      std::vector<const AlertRecord*> concerned;
      if (r.status != DeliveryResult::Status::kDelivered) {
        if (r.items.empty())
          concerned = batch;
        else
          for (size_t i : r.items)
            if (i < batch.size()) concerned.push_back(batch[i]);
      }
      delivered += batch.size() - concerned.size();
      if (r.status == DeliveryResult::Status::kFatal) {
        say(fmt::format("progress delivered={} rejected={}", delivered, rejected));
        return 4;
      }
      if (r.status == DeliveryResult::Status::kReject) {
        for (const AlertRecord* a : concerned) say("rejected " + a->uid);
        rejected += concerned.size();
        concerned.clear();
      }
      say(fmt::format("progress delivered={} rejected={}", delivered, rejected));
      batch = std::move(concerned);
      if (!batch.empty()) {
        ++retries;
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      }
    }
    if (pause_after >= 0 && delivered >= static_cast<size_t>(pause_after)) {
      pause_after = -1;
      say(fmt::format("paused delivered={}", delivered));
      char line[64];
      if (!std::fgets(line, sizeof line, stdin)) {
        std::fprintf(stderr, "kafka_tool: stdin closed while paused\n");
        return 2;
      }
    }
    if (interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  say(fmt::format("done delivered={} rejected={} retries={}", delivered, rejected, retries));
  return 0;
}
