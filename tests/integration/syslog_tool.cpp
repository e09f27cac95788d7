// syslog_tool: drives the syslog output (outputs/syslog) against a real receiver, for
// test_syslog.py.
//
//   syslog_tool CONFIG.toml
//
// CONFIG holds one [[outputs]] table. The tool builds the output as the agent does
// (parse_output_settings, make_output), prints {"ready":true,"pid":N} (or {"error":...} and
// exits 2), then reads commands from stdin, one a line, and answers each with one JSON line:
//
//   send KIND COUNT FIRST   COUNT alerts of KIND, numbered FIRST, FIRST+1, ..., in one batch
//   resend                  the last batch again
//   counters                the output's counters
//   bench KIND COUNT BATCH  COUNT alerts of KIND sent BATCH at a time, as the pipeline does (a
//                           batch given back as kRetry is sent again at once, up to 50 times),
//                           for tests/bench/bench_outputs.py; answers {"delivered":N,
//                           "retries":N,"alert_bytes":N,"seconds":S}: alert_bytes is the mean
//                           size of an alert in the output's format, seconds the time spent
//                           sending (the alerts are made before)
//   reopen                  Output::reopen() (SIGHUP)
//   cancel-after MS         Output::cancel() (the pipeline stopping) MS milliseconds from now,
//                           from another thread, while the next command runs
//   quit
//
// KIND: normal | hostile (attacker-controlled values: newlines, '"', '\', ']', '|', '=', forged
// syslog headers, invalid UTF-8) | big (a 20 KB request parameter) | huge (200 KB) | padded
// (a 1000-byte request parameter: an alert of about 3 KB, as in the other output benchmarks).
// Alerts are made by the real normalizer (make_alert) from a CloudTrail record built here; by
// seq % 3 they came by no route (replay), an S3 object, or an inline EventBridge event.
// The answer to send/resend:
//   {"status":"delivered"|"retry"|"reject"|"fatal","message":..,"items":[..],"alerts":[
//     {"seq":n,"uid":..,"severity_id":..,"time_ms":..,"rule_id_hex":..,"account_hex":..,
//      "route":""|"s3"|"eventbridge","verified":..,"msg_hex":..}]}
// *_hex are the exact bytes (they may be invalid UTF-8); msg_hex is the alert in the output's
// format, i.e. the MSG expected when the message fits.
#include <unistd.h>

#include <simdjson.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/common/logging.h"
#include "agent/config/toml_util.h"
#include "agent/normalize/ocsf.h"
#include "agent/rules/rule.h"
#include "outputs/factory.h"
#include "outputs/format.h"
#include "outputs/settings.h"
#include "outputs/syslog/syslog_output.h"

using namespace trailwarden;

namespace {

std::string hex(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(c) & 0xF]);
  }
  return out;
}

std::string uuid(long seq, int variant) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012ld", variant, seq);
  return buf;
}

AlertRecord make(const std::string& kind, long seq) {
  rules::Rule rule;
  // Rule ids come from rule files (the operator's), but must not break the header either.
  rule.id = kind == "hostile" ? "custom rule \"x\"]\\\n|=\xc3\xa9" : "cis-4.9";
  rule.title = "AWS Config configuration changes";
  rule.severity = static_cast<rules::Severity>(1 + seq % 5);
  rule.tags = {"cis"};
  std::string raw;
  JsonWriter w(raw);
  w.begin_object();
  w.field("eventVersion", "1.08");
  w.key("userIdentity").begin_object();
  w.field("type", "IAMUser");
  w.field("accountId", "123456789012");
  if (kind == "hostile") {
    w.field("arn", "arn:aws:iam::123456789012:user/a|b=c\\d\"e]f\nCEF:0|forged|x|1|2|3|10|");
  } else {
    w.field("arn", "arn:aws:iam::123456789012:user/alice");
  }
  w.end_object();
  w.field("eventTime", "2026-11-26T10:00:00Z");
  w.field("eventSource", "config.amazonaws.com");
  if (kind == "hostile") {
    w.field("eventName",
            "StopConfigurationRecorder\n<13>1 2026-11-26T10:00:00Z forged app - - - "
            "injected\r\n12 <13>1 - - - -");
    w.field("awsRegion", "us-east-1\"] [forged@1 a=\"b\\");
    w.field("sourceIPAddress", "AWS Internal\n|x=y");
    w.field("recipientAccountId", "1234\"] [forged@1 x=\"y\"]\n5678\\");
  } else {
    w.field("eventName", "StopConfigurationRecorder");
    w.field("awsRegion", "us-east-1");
    w.field("sourceIPAddress", "192.0.2.10");
    w.field("recipientAccountId", "123456789012");
  }
  w.field("eventID", uuid(seq, 0xc7));
  w.key("requestParameters").begin_object();
  w.field("seq", static_cast<int64_t>(seq));
  if (kind == "big") w.field("blob", std::string(20000, 'b'));
  if (kind == "huge") w.field("blob", std::string(200000, 'h'));
  if (kind == "padded") w.field("pad", std::string(1000, 'p'));
  if (kind == "hostile") {
    w.field("note", "line1\nline2\r\n<14>Nov 26 10:00:00 forged sshd[1]: x\n\x01\x7f end");
    w.field("tab", "\t|=\\]\"");
  }
  w.end_object();
  w.end_object();

  simdjson::dom::parser parser;
  simdjson::dom::element record;
  if (parser.parse(raw).get(record)) {
    std::fprintf(stderr, "syslog_tool: generated record does not parse\n");
    std::exit(2);
  }
  RecordOrigin origin;
  if (seq % 3 == 1) {
    origin.route = RecordOrigin::Route::kS3Object;
    origin.notification = "s3";
    origin.bucket = "trail-bucket";
    // Keys are chosen by whoever writes to the bucket.
    origin.key = kind == "hostile" ? "AWSLogs/a=b|c\\d\"e]f\n<13>1 forged.json.gz"
                                   : "AWSLogs/123456789012/CloudTrail/us-east-1/x.json.gz";
  } else if (seq % 3 == 2) {
    origin.route = RecordOrigin::Route::kInlineEvent;
    origin.notification = "eventbridge/cloudtrail";
    origin.event_id = "eb-" + std::to_string(seq);
  }
  AlertRecord a = make_alert(rule, raw, &record, OcsfOptions{}, origin);
  if (kind == "hostile") {
    // Values that cannot come through the JSON decoder, but must not break the output either.
    a.account += "\xff\xfe";
    a.actor += "\xc3(\xff";
    a.rule_title += " | with \\ pipe = and\nnewline \xff";
  }
  return a;
}

void print(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string error_json(std::string_view message) {
  std::string out;
  JsonWriter(out).begin_object().field("error", message).end_object();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: syslog_tool CONFIG.toml   (commands on stdin)\n");
    return 2;
  }
  setup_logging(std::getenv("SYSLOG_TOOL_LOG") ? std::getenv("SYSLOG_TOOL_LOG") : "warn");
  std::unique_ptr<Output> output;
  OutputSettings settings;
  try {
    std::ifstream in(argv[1]);
    std::stringstream ss;
    ss << in.rdbuf();
    const toml::table doc = parse_toml(ss.str(), argv[1]);
    const toml::array* outputs = doc["outputs"].as_array();
    if (!outputs || outputs->empty() || !outputs->front().is_table())
      throw std::runtime_error("no [[outputs]] table");
    settings = parse_output_settings(*outputs->front().as_table(), argv[1], 0);
    output = make_output(settings, OutputEnv{});
  } catch (const std::exception& e) {
    print(error_json(e.what()));
    return 2;
  }
  {
    std::string out;
    JsonWriter(out)
        .begin_object()
        .field("ready", true)
        .field("pid", static_cast<int64_t>(getpid()))
        .end_object();
    print(out);
  }

  std::vector<AlertRecord> alerts;
  std::vector<long> seqs;
  std::thread canceller;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string cmd;
    words >> cmd;
    if (cmd == "quit") break;
    if (cmd == "reopen") {
      output->reopen();
      print("{\"ok\":true}");
      continue;
    }
    if (cmd == "cancel-after") {
      long ms = 0;
      words >> ms;
      Output* o = output.get();
      canceller = std::thread([o, ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // the stimulus's timing
        o->cancel();
      });
      print("{\"ok\":true}");
      continue;
    }
    if (cmd == "counters") {
      auto* s = dynamic_cast<SyslogOutput*>(output.get());
      if (!s) {
        print(error_json("not a syslog output"));
        continue;
      }
      const SyslogCounters& c = s->counters();
      std::string out;
      JsonWriter(out)
          .begin_object()
          .field("sent", static_cast<uint64_t>(c.sent))
          .field("summarized", static_cast<uint64_t>(c.summarized))
          .field("too_large", static_cast<uint64_t>(c.too_large))
          .field("connects", static_cast<uint64_t>(c.connects))
          .field("connect_failures", static_cast<uint64_t>(c.connect_failures))
          .field("resets", static_cast<uint64_t>(c.resets))
          .field("write_failures", static_cast<uint64_t>(c.write_failures))
          .field("refused", static_cast<uint64_t>(c.refused))
          .end_object();
      print(out);
      continue;
    }
    if (cmd == "bench") {
      std::string kind;
      long count = 0, batch_size = 0;
      words >> kind >> count >> batch_size;
      if (!words || count <= 0 || batch_size <= 0) {
        print(error_json("usage: bench KIND COUNT BATCH"));
        continue;
      }
      std::vector<AlertRecord> all;
      size_t bytes = 0;
      std::string msg;
      for (long i = 0; i < count; ++i) {
        all.push_back(make(kind, i));
        msg.clear();
        format_alert(all.back(), settings.format, msg);
        bytes += msg.size();
      }
      uint64_t delivered = 0, retries = 0;
      std::string failure;
      const auto started = std::chrono::steady_clock::now();
      for (long first = 0; first < count && failure.empty(); first += batch_size) {
        std::vector<const AlertRecord*> batch;
        for (long i = first; i < std::min(count, first + batch_size); ++i) batch.push_back(&all[i]);
        for (int attempt = 0;; ++attempt) {
          const DeliveryResult r = output->send(batch);
          if (r.status == DeliveryResult::Status::kDelivered) {
            delivered += batch.size();
            break;
          }
          if (r.status != DeliveryResult::Status::kRetry || attempt == 50) {
            failure = std::string(delivery_status_name(r.status)) + ": " + r.message;
            break;
          }
          ++retries;
          if (!r.items.empty()) {
            std::vector<const AlertRecord*> again;
            for (size_t i : r.items) again.push_back(batch[i]);
            delivered += batch.size() - again.size();
            batch = std::move(again);
          }
        }
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::string out;
      JsonWriter w(out);
      w.begin_object()
          .field("delivered", delivered)
          .field("retries", retries)
          .field("alert_bytes", static_cast<uint64_t>(bytes / static_cast<size_t>(count)))
          .field("seconds", seconds);
      if (!failure.empty()) w.field("error", std::string_view(failure));
      w.end_object();
      print(out);
      continue;
    }
    if (cmd == "send") {
      std::string kind;
      long count = 0, first = 0;
      words >> kind >> count >> first;
      if (!words || count <= 0 ||
          (kind != "normal" && kind != "hostile" && kind != "big" && kind != "huge" &&
           kind != "padded")) {
        print(error_json("usage: send normal|hostile|big|huge|padded COUNT FIRST"));
        continue;
      }
      alerts.clear();
      seqs.clear();
      for (long i = 0; i < count; ++i) {
        alerts.push_back(make(kind, first + i));
        seqs.push_back(first + i);
      }
    } else if (cmd != "resend") {
      print(error_json("unknown command"));
      continue;
    }
    if (alerts.empty()) {
      print(error_json("nothing to resend"));
      continue;
    }
    std::vector<const AlertRecord*> batch;
    for (const auto& a : alerts) batch.push_back(&a);
    const DeliveryResult r = output->send(batch);
    std::string out;
    JsonWriter w(out);
    w.begin_object();
    w.field("status", delivery_status_name(r.status));
    w.field("message", std::string_view(r.message));
    w.key("items").begin_array();
    for (size_t i : r.items) w.value(static_cast<uint64_t>(i));
    w.end_array();
    w.key("alerts").begin_array();
    for (size_t i = 0; i < alerts.size(); ++i) {
      const AlertRecord& a = alerts[i];
      std::string msg;
      format_alert(a, settings.format, msg);
      w.begin_object();
      w.field("seq", static_cast<int64_t>(seqs[i]));
      w.field("uid", std::string_view(a.uid));
      w.field("severity_id", a.severity_id);
      w.field("time_ms", a.time_ms);
      w.field("rule_id_hex", std::string_view(hex(a.rule_id)));
      w.field("account_hex", std::string_view(hex(a.account)));
      w.field("route", a.route_name());
      w.field("verified", a.verified());
      w.field("msg_hex", std::string_view(hex(msg)));
      w.end_object();
    }
    w.end_array();
    w.end_object();
    print(out);
  }
  if (canceller.joinable()) canceller.join();
  return 0;
}
