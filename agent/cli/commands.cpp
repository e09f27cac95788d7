#include "agent/cli/commands.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>
#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <memory>
#include <optional>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "agent/common/buffer.h"
#include "agent/common/logging.h"
#include "agent/config/config.h"
#include "agent/decode/cloudtrail.h"
#include "agent/decode/input.h"
#include "agent/normalize/ocsf.h"
#include "agent/http/curl_http_client.h"
#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/run_wiring.h"
#include "agent/engine/replay.h"
#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "outputs/factory.h"
#include "outputs/file/file_output.h"

namespace trailwarden::cli {

namespace {

constexpr const char* kUsage = R"(trailwarden - CloudTrail detections in the CloudWatch Logs filter-pattern language

Usage:
  trailwarden [GLOBAL OPTIONS] run [-o PATH]
  trailwarden [GLOBAL OPTIONS] replay [OPTIONS] PATH...
  trailwarden [GLOBAL OPTIONS] test-pattern --pattern PATTERN [PATH...]
  trailwarden [GLOBAL OPTIONS] rules list [--enable SEL] [--enable-alarm SEL] [--rules FILE] ...
  trailwarden [GLOBAL OPTIONS] rules show RULE_ID
  trailwarden [GLOBAL OPTIONS] check-config [-q]
  trailwarden [GLOBAL OPTIONS] healthcheck [--ready]
  trailwarden [GLOBAL OPTIONS] verify --bucket B --account A --region R --start T [OPTIONS]
  trailwarden --version | --help

Commands:
  run           The daemon: long-poll the SQS queue of [source.sqs] for notifications of new
                CloudTrail files, read them from S3, and deliver the alerts to the outputs.
                Messages are deleted only when all their alerts are delivered. SIGTERM stops
                it cleanly. See docs/aws.md.
  replay        Match CloudTrail files (.json.gz or .json; directories are read recursively,
                '-' is stdin) against the enabled rules and write one OCSF Detection Finding
                per match as a line of JSON. Also reads 'aws cloudtrail lookup-events' output,
                EventBridge events and NDJSON of records or events (gzip or not).
                Exit 0 if every input was read, 1 otherwise (or if nothing could be evaluated
                in one), 3 if an output failed (the alerts of the inputs named were not
                delivered).
  test-pattern  The local twin of 'aws logs test-metric-filter': print every event that
                PATTERN matches, one compact JSON line each (raw text lines as they are).
                Input: CloudTrail files or newline-delimited events (default: stdin).
                Exit 0 if any event matched, 1 if none, 2 on error.
  rules         List the rules of the configured packs and files with their state and alarm,
                or show one (list takes --enable, --disable, --enable-alarm, --disable-alarm
                and --rules as replay does).
  check-config  Check the configuration, its rules and outputs without connecting anywhere,
                and print the effective configuration (defaults filled in, secrets
                redacted; -q: only warnings). Exit 0 if valid, 2 if not.
  healthcheck   Ask the running agent's /healthz (--ready: /readyz) at [metrics] listen.
                Exit 0 if it answers 200, 1 otherwise (for container health checks).
  verify        Prove a trail whole for a time range, like 'aws cloudtrail validate-logs':
                the digest files' signatures and chain, and every log file they list
                against its hash (docs/integrity.md). Exit 0 if everything is whole, 1 if a
                file is invalid or missing or the chain has a gap, 4 if a check could not
                be made (S3 or CloudTrail refused or did not answer), 2 on bad arguments.

Global options:
  -c, --config FILE     Configuration file (default: the built-in configuration)
      --log-level LVL   trace, debug, info, warn, error or off (overrides the configuration)

replay options:
  -o, --output PATH     Write alerts to PATH ('-' = stdout) instead of the configured outputs
      --enable SEL      Also enable rules matching SEL (an id or a glob such as 'cis-*'); repeatable
      --disable SEL     Disable rules matching SEL; repeatable
      --enable-alarm SEL   Also switch on the alarms of rules matching SEL; repeatable
      --disable-alarm SEL  Switch off the alarms of rules matching SEL; repeatable
      --rules FILE      Also load rules from FILE; repeatable
  -w, --workers N       Files processed in parallel, 1-256 (default: [replay] workers, one per core)
      --no-raw-data     Leave the original record out of the alerts
      --give-up-after S Stop when an output has failed (retryable errors: down, busy, timing
                        out) for S seconds on one batch; exit 3 naming the first input whose
                        alerts were not delivered (default 300; 0 = retry for ever)
  -q, --quiet           No summary on stderr

verify options:
      --bucket B        The trail's bucket (only this bucket is read)
      --prefix P        The trail's S3 key prefix
      --account A       The account whose files are checked (12 digits)
      --region R        A region the trail delivers from; repeatable
      --org o-ID        The organization id of an organization trail
      --trail NAME      Only this trail's digests (default: every trail found)
      --start T, --end T  The range (ISO 8601, YYYY-MM-DD or epoch seconds; end: now)
      --grace D         How late a digest may be before it counts as missing (default 1h)
      --local DIR       Read a local copy of the bucket instead of S3 (signatures from the
                        next digest; the newest needs --signatures FILE)
      --public-keys F   CloudTrail public keys from F (list-public-keys output) instead of
                        ListPublicKeys
      --signatures F    {"<digest key>": "<hex x-amz-meta-signature>"} for a local copy
      --no-log-files    Check digests only
      --parallel N      Log files read at once, 1-64 (default 8)
  -v, --verbose         Also print the files that are valid
)";

int cmd_replay(Args& a, const Global& g) {
  std::optional<std::string> output_path;
  std::optional<size_t> workers;
  long give_up_seconds = 300;
  std::vector<std::string> enable, disable, enable_alarm, disable_alarm, rule_files, paths;
  bool quiet = false, no_raw = false;
  while (!a.done()) {
    std::string v;
    if (a.option({"-o", "--output"}, v)) output_path = v;
    else if (a.option({"--enable"}, v)) enable.push_back(v);
    else if (a.option({"--disable"}, v)) disable.push_back(v);
    else if (a.option({"--enable-alarm"}, v)) enable_alarm.push_back(v);
    else if (a.option({"--disable-alarm"}, v)) disable_alarm.push_back(v);
    else if (a.option({"--rules"}, v)) rule_files.push_back(v);
    else if (a.option({"-w", "--workers"}, v)) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || n < 1 || n > 256) usage_error("--workers takes a number from 1 to 256");
      workers = static_cast<size_t>(n);
    } else if (a.option({"--give-up-after"}, v)) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || !end || *end || n < 0 || n > 7 * 86400)
        usage_error("--give-up-after takes seconds, from 0 (never) to 604800");
      give_up_seconds = n;
    } else if (a.flag({"--no-raw-data"})) no_raw = true;
    else if (a.flag({"-q", "--quiet"})) quiet = true;
    else if (a.peek().starts_with("-") && a.peek() != "-") usage_error(fmt::format("unknown option {}", a.peek()));
    else paths.push_back(a.next());
  }
  if (paths.empty()) usage_error("replay needs at least one PATH (a file, a directory or '-')");

  Config c = load_config(g);
  std::vector<rules::Rule> all =
      load_rules(c, rule_files, enable, disable, enable_alarm, disable_alarm);
  std::vector<const rules::Rule*> enabled = enabled_rules(all);

  // Replay delivers synchronously: memory buffers, whatever the configuration says.
  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  if (!output_path) {  // Kafka outputs with msk_iam and SNS outputs sign with the agent's AWS credentials
    bool aws = false;
    for (const auto& o : parse_outputs(c)) aws = aws || o.type == "kafka" || o.type == "sns";
    if (aws) {
      output_env.aws_endpoints = endpoint_config(c);
      output_env.aws_ca_file = c.aws.ca_file;
      output_env.aws_region = resolve_region(c);
      http::CurlHttpOptions http;
      http.ca_file = c.aws.ca_file;
      output_env.aws_credentials =
          make_aws_credentials(c, output_env.aws_region, std::make_shared<http::CurlHttpClient>(http));
    }
  }
  DeliveryPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir,
                         /*force_memory=*/true);
  outputs.give_up_after(std::chrono::seconds(give_up_seconds));
  {
    std::string error;
    if (!outputs.start(error)) throw std::runtime_error(error);
  }

  ReplayOptions opts;
  opts.paths = paths;
  opts.workers = workers.value_or(c.replay_workers);
  if (opts.workers == 0) opts.workers = std::max(1u, std::thread::hardware_concurrency());
  opts.limits = c.limits;
  opts.ocsf.include_raw_data = c.include_raw_data && !no_raw;
  // Progress on a terminal (never when stderr is a file or a pipe), at most 5 times a second.
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO);
  std::chrono::steady_clock::time_point last_progress{};
  bool progress_shown = false;
  if (show_progress)
    opts.progress = [&](const ReplaySummary& p, size_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (p.files < total && now - last_progress < std::chrono::milliseconds(200)) return;
      last_progress = now;
      progress_shown = true;
      fmt::print(stderr, "\r\x1b[Kreplay: {}/{} files ({:.0f}%), {} records, {} alerts, {} failed, "
                 "{:.0f} MB/s",
                 p.files, total, total ? 100.0 * static_cast<double>(p.files) / static_cast<double>(total) : 100.0,
                 p.records, p.alerts, p.failed_files,
                 p.seconds > 0 ? static_cast<double>(p.bytes_decoded) / 1e6 / p.seconds : 0.0);
    };
  std::unique_ptr<alarms::AlarmStage> alarm_stage = make_alarm_stage(enabled);
  opts.stage = alarm_stage.get();
  ReplaySummary s = run_replay(opts, enabled, outputs);
  if (progress_shown) fmt::print(stderr, "\r\x1b[K");

  if (!quiet) {
    double mb = static_cast<double>(s.bytes_decoded) / 1e6;
    fmt::print(stderr,
               "replay: {} files ({} failed, {} skipped), {} records ({} evaluated), {} alerts in "
               "{:.2f} s ({:.0f} MB/s of JSON)\n",
               s.files, s.failed_files, s.skipped_files, s.records, s.evaluated, s.alerts,
               s.seconds, s.seconds > 0 ? mb / s.seconds : 0.0);
    for (size_t i = 0; i < enabled.size(); ++i)
      fmt::print(stderr, "  {:<16} {:>8}  {}\n", enabled[i]->id, s.matches_per_rule[i],
                 enabled[i]->title);
    if (alarm_stage) {
      const alarms::AlarmStageCounters& k = alarm_stage->counters();
      fmt::print(stderr, "replay: alarms: {} datapoints, {} state changes, {} alarm alerts ({} at "
                 "the end of the input), {} late, {} refused by the instance limit\n",
                 k.datapoints.load(), k.transitions.load(), k.alerts.load(), s.end_alerts,
                 k.late.load(), k.instances_refused.load());
    }
    if (s.failed_files)
      fmt::print(stderr, "replay: {} of {} files failed (the messages above name each one)\n",
                 s.failed_files, s.files);
    if (s.alerts_time_unparsed)
      fmt::print(stderr, "replay: {} alerts had no usable eventTime; their time is the processing "
                 "time (metadata.original_time keeps the text)\n",
                 s.alerts_time_unparsed);
    if (s.bad_records)
      fmt::print(stderr, "replay: {} bad records were not matched (the messages above name each "
                 "file and record index); the other records of their files were\n",
                 s.bad_records);
    if (s.shapes.size() > 1 || (s.shapes.size() == 1 && s.shapes.begin()->first != "a CloudTrail log file")) {
      std::string shapes;
      for (const auto& [shape, n] : s.shapes) shapes += fmt::format("{}{} ({})", shapes.empty() ? "" : ", ", shape, n);
      fmt::print(stderr, "replay: inputs read as {}\n", shapes);
    }
    if (s.unrecognised)
      fmt::print(stderr, "replay: warning: {} lines, documents or array elements are none of the "
                 "input shapes and were not matched (the messages above name the first of each file)\n",
                 s.unrecognised);
    if (s.unevaluated_files)
      fmt::print(stderr, "replay: warning: nothing could be evaluated in {} of {} inputs (none of "
                 "the input shapes, or no good record; the messages above name each one)\n",
                 s.unevaluated_files, s.files);
  }
  if (s.output_failed) {
    // Said even with --quiet: the user needs it to replay the rest.
    fmt::print(stderr,
               "replay: stopped, an output failed: the alerts of {} and of the inputs after it "
               "were not all delivered ({} inputs not read); those before it were\n",
               s.first_undelivered, s.unread_files);
    return kExitOutputFailed;
  }
  return s.failed_files || s.bad_records || s.unevaluated_files || s.unrecognised
             ? kExitInputFailed
             : kExitOk;
}

// True when the text starts like a CloudTrail log file: {"Records": ...
bool looks_like_cloudtrail(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || text[i] != '{') return false;
  i = text.find_first_not_of(" \t\r\n", i + 1);
  return i != std::string_view::npos && text.substr(i).starts_with("\"Records\"");
}

// Prints the pattern with a caret under the failing column.
void print_pattern_error(const std::string& pattern, const rules::ParseError& e) {
  fmt::print(stderr, "trailwarden: invalid filter pattern: {}\n  {}\n  {}^\n", e.to_string(),
             pattern, std::string(e.column > 0 ? e.column - 1 : 0, ' '));
}

int cmd_test_pattern(Args& a, const Global& g) {
  std::optional<std::string> pattern_text;
  std::vector<std::string> paths;
  while (!a.done()) {
    std::string v;
    if (a.option({"-p", "--pattern"}, v)) pattern_text = v;
    else if (a.peek().starts_with("-") && a.peek() != "-") usage_error(fmt::format("unknown option {}", a.peek()));
    else paths.push_back(a.next());
  }
  if (!pattern_text) usage_error("test-pattern needs --pattern PATTERN");
  Config c = load_config(g);
  rules::ParseError perr;
  auto pattern = rules::Pattern::parse(*pattern_text, &perr);
  if (!pattern) {
    print_pattern_error(*pattern_text, perr);
    return kExitUsage;
  }
  rules::Rule rule;
  rule.id = "test-pattern";
  rule.title = "test-pattern";
  rule.pattern_source = *pattern_text;
  rule.pattern = std::make_shared<const rules::Pattern>(std::move(*pattern));
  rules::RuleMatcher matcher({&rule});
  rules::MatchSession session(matcher, c.limits);
  if (paths.empty()) paths.push_back("-");

  std::vector<std::string> missing;
  std::vector<std::string> files = expand_inputs(paths, missing);
  bool error = !missing.empty();
  for (const auto& m : missing) fmt::print(stderr, "trailwarden: {}: no such file or directory\n", m);

  uint64_t matched = 0;
  std::string compact;
  Buffer raw, text;
  CloudTrailReader reader(c.limits, /*log_files_only=*/true);  // other text: one event per line
  // Prints a matching event: JSON events as compact single-line JSON, text events as they are.
  auto print_event = [&](std::string_view event, bool is_json) {
    ++matched;
    if (is_json) {
      compact.resize(event.size());
      size_t len = 0;
      if (simdjson::minify(event.data(), event.size(), compact.data(), len) == simdjson::SUCCESS)
        event = std::string_view(compact.data(), len);
    }
    std::fwrite(event.data(), 1, event.size(), stdout);
    std::fputc('\n', stdout);
  };
  const rules::MatchSession::OnMatch on_match =
      [&](size_t, std::string_view r, const simdjson::dom::element* e) { print_event(r, e != nullptr); };

  struct Visitor : RecordVisitor {
    rules::MatchSession* session;
    const rules::MatchSession::OnMatch* on_match;
    void on_record(std::string_view r) override {
      if (!session->match(r, *on_match)) {
        fmt::print(stderr, "trailwarden: {}: a record could not be parsed: {}\n", *name,
                   session->last_error());
        *bad = true;
      }
    }
    void on_bad_record(size_t index, std::string_view, const std::string& reason) override {
      fmt::print(stderr, "trailwarden: {}: record {}: {}\n", *name, index, reason);
      *bad = true;
    }
    const std::string* name;
    bool* bad;
  };

  for (const auto& f : files) {
    const std::string name = f == "-" ? "<stdin>" : f;
    std::string err;
    if (!read_input(f, c.limits.max_compressed_bytes, raw, err)) {
      fmt::print(stderr, "trailwarden: {}: {}\n", name, err);
      error = true;
      continue;
    }
    InputFormat format = detect_format(raw.view().substr(0, 64));
    if (format == InputFormat::kGzip) {
      if (!decode_to_json(raw.view(), c.limits, text, err)) {
        fmt::print(stderr, "trailwarden: {}: {}\n", name, err);
        error = true;
        continue;
      }
    } else {
      text.assign(raw.view());
    }
    // A CloudTrail log file: match its records (through the prefilter, as replay does).
    if (format != InputFormat::kUnknown) {
      ParseStats stats;
      Visitor v;
      v.session = &session;
      v.on_match = &on_match;
      v.name = &name;
      v.bad = &error;
      session.begin(text.view());
      const bool ok = reader.read(text, v, stats, err);
      if (ok && stats.kind == FileKind::kRecords) continue;
      if (!ok && looks_like_cloudtrail(text.view())) {
        fmt::print(stderr, "trailwarden: {}: {} ({} records read before the error)\n", name, err,
                   stats.records);
        error = true;
        continue;
      }
    }
    // Otherwise: one event per line; JSON objects are JSON events, anything else is text.
    std::string_view all = text.view();
    size_t pos = 0;
    while (pos < all.size()) {
      size_t nl = all.find('\n', pos);
      if (nl == std::string_view::npos) nl = all.size();
      std::string_view line = all.substr(pos, nl - pos);
      pos = nl + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      size_t first = line.find_first_not_of(" \t");
      if (first == std::string_view::npos) continue;
      session.match_event(line, line[first] == '{', on_match);
    }
  }
  std::fflush(stdout);
  if (error) return kExitUsage;
  return matched ? kExitOk : kExitInputFailed;
}

// `rules show`: the metric and alarm of a rule that has them, every key.
void print_metric_alarm(const rules::Rule& r) {
  const alarms::MetricSpec& m = r.metric_alarm->metric;
  const alarms::AlarmSpec& al = r.metric_alarm->alarm;
  std::string value = m.value.is_selector ? m.value.selector_text : fmt::format("{}", m.value.literal);
  std::vector<std::string> dims;
  for (const auto& d : m.dimensions) dims.push_back(fmt::format("{} = {}", d.name, d.selector_text));
  fmt::print("metric:      {}/{}, value {}{}, unit {}{}\n", m.namespace_, m.name, value,
             m.default_value ? fmt::format(" (default {})", *m.default_value) : std::string(),
             m.unit, dims.empty() ? std::string() : fmt::format(", dimensions {}", fmt::join(dims, ", ")));
  std::vector<std::string_view> notify;
  for (auto s : {alarms::AlarmState::kAlarm, alarms::AlarmState::kOk,
                 alarms::AlarmState::kInsufficientData})
    if (al.notify.contains(s)) notify.push_back(alarms::state_name(s));
  fmt::print("alarm:       {} ({}): {} ({}), missing data {}, lateness {}s, notify {}\n", al.name,
             rules::alarm_state(r), rules::alarm_summary(r), alarms::comparison_name(al.comparison),
             alarms::treat_missing_name(al.treat_missing_data), al.lateness_seconds,
             fmt::join(notify, ", "));
}

int cmd_rules(Args& a, const Global& g) {
  if (a.done()) usage_error("rules needs a sub-command: list or show RULE_ID");
  std::string sub = a.next();
  Config c = load_config(g);
  std::vector<std::string> enable, disable, enable_alarm, disable_alarm, files;
  if (sub == "list") {
    while (!a.done()) {
      std::string v;
      if (a.option({"--enable"}, v)) enable.push_back(v);
      else if (a.option({"--disable"}, v)) disable.push_back(v);
      else if (a.option({"--enable-alarm"}, v)) enable_alarm.push_back(v);
      else if (a.option({"--disable-alarm"}, v)) disable_alarm.push_back(v);
      else if (a.option({"--rules"}, v)) files.push_back(v);
      else usage_error(fmt::format("unexpected argument {}", a.peek()));
    }
    auto all = load_rules(c, files, enable, disable, enable_alarm, disable_alarm);
    // ALARM: "on: Sum 300s >= 1, 1 of 1" (its state and condition) or "-"; ALERT: the rule's
    // `alert` (a rule whose alarm is off or absent alerts per record).
    auto alarm_column = [](const rules::Rule& r) {
      return r.metric_alarm ? fmt::format("{}: {}", rules::alarm_state(r), rules::alarm_summary(r))
                            : std::string("-");
    };
    size_t id_width = 4, pack_width = 4, alarm_width = 5;
    for (const auto& r : all) {
      id_width = std::max(id_width, r.id.size());
      pack_width = std::max(pack_width, r.pack.size());
      alarm_width = std::max(alarm_width, alarm_column(r).size());
    }
    fmt::print("{:<{}}  {:<8}  {:<13}  {:<{}}  {:<{}}  {:<6}  {}\n", "ID", id_width, "STATE",
               "SEVERITY", "PACK", pack_width, "ALARM", alarm_width, "ALERT", "TITLE");
    for (const auto& r : all)
      fmt::print("{:<{}}  {:<8}  {:<13}  {:<{}}  {:<{}}  {:<6}  {}\n", r.id, id_width,
                 r.enabled ? "enabled" : "disabled", rules::severity_key(r.severity), r.pack,
                 pack_width, alarm_column(r), alarm_width, rules::alert_on_name(r.alert_on),
                 r.title);
    return kExitOk;
  }
  if (sub == "show") {
    if (a.done()) usage_error("rules show needs a RULE_ID");
    std::string id = a.next();
    auto all = load_rules(c, files, enable, disable);
    for (const auto& r : all) {
      if (r.id != id) continue;
      fmt::print("id:          {}\ntitle:       {}\nstate:       {}\nseverity:    {}\npack:        {}\n"
                 "defined at:  {}\npattern:     {}\n",
                 r.id, r.title, r.enabled ? "enabled" : "disabled", rules::severity_key(r.severity),
                 r.pack, r.origin, r.pattern_source);
      for (const auto& ref : r.references) fmt::print("reference:   {}\n", ref);
      if (!r.tags.empty()) fmt::print("tags:        {}\n", fmt::join(r.tags, ", "));
      if (r.metric_alarm) print_metric_alarm(r);
      fmt::print("alert:       {}\n", rules::alert_on_name(r.alert_on));
      fmt::print("\n{}\n", r.description);
      return kExitOk;
    }
    fmt::print(stderr, "trailwarden: no rule with id '{}' (see 'trailwarden rules list')\n", id);
    return kExitUsage;
  }
  usage_error(fmt::format("unknown rules sub-command '{}' (expected list or show)", sub));
}

}  // namespace

int run_cli(const std::vector<std::string>& args) {
  try {
    Args a(args);
    Global g;
    while (!a.done() && a.peek().starts_with("-")) {
      std::string v;
      if (a.flag({"-h", "--help"})) {
        fmt::print("{}", kUsage);
        return kExitOk;
      }
      if (a.flag({"-V", "--version"})) {
        fmt::print("trailwarden {}\n", TRAILWARDEN_VERSION);
        return kExitOk;
      }
      if (a.option({"-c", "--config"}, v)) g.config_path = v;
      else if (a.option({"--log-level"}, v)) g.log_level = v;
      else usage_error(fmt::format("unknown option {}", a.peek()));
    }
    if (a.done()) usage_error("missing command (run, replay, test-pattern, rules or check-config)");
    std::string cmd = a.next();
    setup_logging("info");
    if (cmd == "replay") return cmd_replay(a, g);
    if (cmd == "run") return cmd_run(a, g);
    if (cmd == "test-pattern") return cmd_test_pattern(a, g);
    if (cmd == "rules") return cmd_rules(a, g);
    if (cmd == "check-config") return cmd_check_config(a, g);
    if (cmd == "healthcheck") return cmd_healthcheck(a, g);
    if (cmd == "verify") return cmd_verify(a, g);
    if (cmd == "help") {
      fmt::print("{}", kUsage);
      return kExitOk;
    }
    if (cmd == "version") {
      fmt::print("trailwarden {}\n", TRAILWARDEN_VERSION);
      return kExitOk;
    }
    usage_error(fmt::format("unknown command '{}'", cmd));
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "trailwarden: {}\nRun 'trailwarden --help' for usage.\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::string message = e.what();
    mask_secrets(message);  // a message that quotes a configured value never shows a secret
    fmt::print(stderr, "trailwarden: {}\n", message);
    return kExitUsage;
  }
}

}  // namespace trailwarden::cli
