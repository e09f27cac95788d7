// hec_tool: drives the splunk_hec output (the real factory, the real libcurl client) for
// test_splunk_hec.py, the way the pipeline does: send, and on kRetry send what is concerned
// again after a backoff, on kReject set the rejected alerts aside and send the retry_items
// again, stop on kFatal.
//
//   hec_tool CONFIG --count N [--state-dir DIR] [--batch N] [--max-attempts N]
//                   [--invalid I]... [--blank I]... [--uid-prefix P] [--log-level L]
//
// CONFIG is a TOML file with one [[outputs]] table. The tool makes N alerts with uids
// "<P>-<i>" (P defaults to "alert"); --invalid I makes alert I's JSON malformed, --blank I
// makes its event an empty string, both of which Splunk refuses. --max-attempts bounds the
// consecutive retries of one batch (default 50). Backoff: 20 ms doubling to 500 ms.
//
// Prints one JSON object on stdout: {"ok":..,"fatal":..,"message":..,"delivered":N,
// "rejected":[uids],"sends":N,"retries":N}; each non-delivered result is also logged on stderr
// (which the test checks for the token). Exit status: 0 every alert delivered or rejected,
// 1 fatal or out of attempts, 2 usage or configuration error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "outputs/factory.h"
#include "outputs/settings.h"

using namespace trailwarden;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: hec_tool CONFIG --count N [--state-dir DIR] [--batch N] "
               "[--max-attempts N] [--invalid I]... [--blank I]... [--uid-prefix P] "
               "[--log-level L]\n");
  return 2;
}

bool number(const std::string& s, long& out) {
  char* end = nullptr;
  out = std::strtol(s.c_str(), &end, 10);
  return !s.empty() && *end == '\0' && out >= 0;
}

AlertRecord make_alert(const std::string& uid, long i) {
  AlertRecord a;
  a.uid = uid;
  a.rule_id = "cis-4.9";
  a.rule_title = "AWS Config configuration changes";
  a.severity_id = 3;
  a.time_ms = 1700000000000 + i;
  a.event_name = "StopConfigurationRecorder";
  a.event_id = "event-" + std::to_string(i);
  // Alternately read from an S3 object and taken from an inline EventBridge event.
  if (i % 2 == 0) {
    a.route = AlertRoute::kS3Object;
    a.bucket = "trail-bucket";
    a.key = "AWSLogs/123456789012/CloudTrail/us-east-1/" + std::to_string(i) + ".json.gz";
    a.notification = "sns/s3";
  } else {
    a.route = AlertRoute::kInlineEvent;
    a.eventbridge_event_id = "eb-" + std::to_string(i);
    a.notification = "eventbridge/cloudtrail";
  }
  {
    JsonWriter w(a.ocsf);
    w.begin_object().field("class_uid", 2004).field("message", std::string_view("alert " + uid));
    w.key("metadata").begin_object().field("uid", std::string_view(uid)).end_object();
    w.key("finding_info").begin_object().field("uid", std::string_view(uid)).end_object();
    w.end_object();
  }
  {
    JsonWriter w(a.raw);
    w.begin_object()
        .field("eventVersion", std::string_view("1.08"))
        .field("eventName", std::string_view("StopConfigurationRecorder"))
        .field("eventSource", std::string_view("config.amazonaws.com"))
        .field("eventID", std::string_view(a.event_id))
        .field("eventTime", std::string_view("2023-11-14T22:13:20Z"))
        .end_object();
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string config = argv[1];
  std::string state_dir, prefix = "alert", level = "info";
  long count = -1, batch_size = 0, max_attempts = 50;
  std::set<long> invalid, blank;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    long n = 0;
    if (a == "--count" && number(v, n))
      count = n;
    else if (a == "--state-dir")
      state_dir = v;
    else if (a == "--batch" && number(v, n) && n > 0)
      batch_size = n;
    else if (a == "--max-attempts" && number(v, n) && n > 0)
      max_attempts = n;
    else if (a == "--invalid" && number(v, n))
      invalid.insert(n);
    else if (a == "--blank" && number(v, n))
      blank.insert(n);
    else if (a == "--uid-prefix")
      prefix = v;
    else if (a == "--log-level")
      level = v;
    else
      return usage();
  }
  if (count < 0 || !setup_logging(level)) return usage();

  std::unique_ptr<Output> output;
  try {
    std::ifstream in(config);
    if (!in) throw std::runtime_error("cannot read " + config);
    std::stringstream ss;
    ss << in.rdbuf();
    const toml::table doc = parse_toml(ss.str(), config);
    const toml::array* outputs = doc["outputs"].as_array();
    if (!outputs || outputs->size() != 1 || !outputs->front().is_table())
      throw std::runtime_error(config + ": expected exactly one [[outputs]] table");
    OutputSettings settings = parse_output_settings(*outputs->front().as_table(), config, 0);
    OutputEnv env;
    env.state_dir = state_dir;
    output = make_output(settings, env);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hec_tool: %s\n", e.what());
    return 2;
  }

  std::vector<AlertRecord> alerts;
  for (long i = 0; i < count; ++i) {
    alerts.push_back(make_alert(prefix + "-" + std::to_string(i), i));
    if (invalid.count(i)) alerts.back().ocsf = alerts.back().raw = "{\"broken\": [1, 2";
    if (blank.count(i)) alerts.back().ocsf = alerts.back().raw = "\"\"";
  }
  std::vector<size_t> pending;
  for (size_t i = 0; i < alerts.size(); ++i) pending.push_back(i);
  const size_t max_batch = batch_size > 0 ? static_cast<size_t>(batch_size) : output->max_batch();

  std::vector<std::string> rejected;
  size_t delivered = 0, sends = 0, retries = 0;
  long attempts = 0;
  auto backoff = std::chrono::milliseconds(20);
  bool ok = true, fatal = false;
  std::string last_message;
  while (!pending.empty()) {
    const size_t n = std::min(max_batch, pending.size());
    std::vector<size_t> ids(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
    std::vector<const AlertRecord*> batch;
    for (size_t id : ids) batch.push_back(&alerts[id]);
    ++sends;
    const DeliveryResult r = output->send(batch);
    using Status = DeliveryResult::Status;
    std::vector<size_t> again;  // batch indexes to send again
    if (r.status != Status::kDelivered) {
      last_message = r.message;
      std::fprintf(stderr, "hec_tool: send of %zu alerts: status %d: %s\n", n,
                   static_cast<int>(r.status), r.message.c_str());
    }
    if (r.status == Status::kFatal) {
      ok = false;
      fatal = true;
      break;
    }
    if (r.status == Status::kRetry) {
      if (r.items.empty())
        for (size_t i = 0; i < n; ++i) again.push_back(i);
      else
        again = r.items;
    } else if (r.status == Status::kReject) {
      std::vector<size_t> gone = r.items;
      if (gone.empty())
        for (size_t i = 0; i < n; ++i) gone.push_back(i);
      for (size_t i : gone) rejected.push_back(alerts[ids[i]].uid);
      again = r.retry_items;
    }
    delivered += n - again.size() -
                 (r.status == Status::kReject ? (r.items.empty() ? n : r.items.size()) : 0);
    std::vector<size_t> next;
    for (size_t i : again) next.push_back(ids[i]);
    next.insert(next.end(), pending.begin() + static_cast<ptrdiff_t>(n), pending.end());
    pending = std::move(next);
    if (r.status == Status::kRetry) {
      ++retries;
      if (++attempts >= max_attempts) {
        ok = false;
        break;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    } else {
      attempts = 0;
      backoff = std::chrono::milliseconds(20);
    }
  }

  std::string out;
  JsonWriter w(out);
  w.begin_object()
      .field("ok", ok)
      .field("fatal", fatal)
      .field("message", std::string_view(last_message))
      .field("delivered", static_cast<uint64_t>(delivered));
  w.key("rejected").begin_array();
  for (const auto& uid : rejected) w.value(std::string_view(uid));
  w.end_array();
  w.field("sends", static_cast<uint64_t>(sends)).field("retries", static_cast<uint64_t>(retries));
  w.end_object();
  std::printf("%s\n", out.c_str());
  return ok ? 0 : 1;
}
