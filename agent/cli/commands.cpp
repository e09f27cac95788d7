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
#include "agent/aws/credentials.h"
#include "agent/aws/curl_http_client.h"
#include "agent/pipeline/daemon.h"
#include "agent/pipeline/replay.h"
#include "agent/sources/http_pool.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/sqs_client.h"
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
  trailwarden [GLOBAL OPTIONS] rules list
  trailwarden [GLOBAL OPTIONS] rules show RULE_ID
  trailwarden --version | --help

Commands:
  run           The daemon: long-poll the SQS queue of [source.sqs] for notifications of new
                CloudTrail files, read them from S3, and deliver the alerts to the outputs.
                Messages are deleted only when all their alerts are delivered. SIGTERM stops
                it cleanly. See docs/aws.md.
  replay        Match CloudTrail files (.json.gz or .json; directories are read recursively,
                '-' is stdin) against the enabled rules and write one OCSF Detection Finding
                per match as a line of JSON. Exit 0 if every input was read, 1 otherwise.
  test-pattern  The local twin of 'aws logs test-metric-filter': print every event that
                PATTERN matches, one compact JSON line each (raw text lines as they are).
                Input: CloudTrail files or newline-delimited events (default: stdin).
                Exit 0 if any event matched, 1 if none, 2 on error.
  rules         List the rules of the configured packs and files with their state, or show one.

Global options:
  -c, --config FILE     Configuration file (default: the built-in configuration)
      --log-level LVL   trace, debug, info, warn, error or off (overrides the configuration)

replay options:
  -o, --output PATH     Write alerts to PATH ('-' = stdout) instead of the configured outputs
      --enable SEL      Also enable rules matching SEL (an id or a glob such as 'cis-*'); repeatable
      --disable SEL     Disable rules matching SEL; repeatable
      --rules FILE      Also load rules from FILE; repeatable
  -w, --workers N       Files processed in parallel, 1-256 (default: [replay] workers, one per core)
      --no-raw-data     Leave the original record out of the alerts
  -q, --quiet           No summary on stderr
)";

[[noreturn]] void usage_error(const std::string& msg) {
  throw std::invalid_argument(msg);
}

// Minimal argument cursor: long options with "--opt value" or "--opt=value".
class Args {
 public:
  explicit Args(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  std::string next() { return args_[i_++]; }
  // If the current argument is one of the names, consumes it and its value.
  bool option(std::initializer_list<const char*> names, std::string& value) {
    if (done()) return false;
    const std::string& a = args_[i_];
    for (const char* n : names) {
      std::string name(n);
      if (a == name) {
        if (i_ + 1 >= args_.size()) usage_error(fmt::format("option {} needs a value", name));
        value = args_[i_ + 1];
        i_ += 2;
        return true;
      }
      if (name.starts_with("--") && a.starts_with(name + "=")) {
        value = a.substr(name.size() + 1);
        ++i_;
        return true;
      }
    }
    return false;
  }
  bool flag(std::initializer_list<const char*> names) {
    if (done()) return false;
    for (const char* n : names) {
      if (args_[i_] == n) {
        ++i_;
        return true;
      }
    }
    return false;
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
};

struct Global {
  std::optional<std::string> config_path;
  std::optional<std::string> log_level;
};

Config load_config(const Global& g) {
  Config c = g.config_path ? load_config_file(*g.config_path) : default_config();
  const std::string& level = g.log_level ? *g.log_level : c.log_level;
  if (!setup_logging(level)) usage_error(fmt::format("unknown log level '{}'", level));
  return c;
}

std::vector<std::string> expand_globs(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const auto& p : patterns) {
    glob_t g{};
    int rc = ::glob(p.c_str(), GLOB_NOCHECK, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}

// Loads every configured pack and rule file and applies the selectors.
std::vector<rules::Rule> load_rules(const Config& c, const std::vector<std::string>& extra_files,
                                    const std::vector<std::string>& enable,
                                    const std::vector<std::string>& disable) {
  std::vector<rules::Rule> all;
  for (const auto& pack : c.rules.packs) {
    auto r = rules::load_builtin_pack(pack);
    all.insert(all.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  }
  std::vector<std::string> files = expand_globs(c.rules.files);
  files.insert(files.end(), extra_files.begin(), extra_files.end());
  for (const auto& f : files) {
    Buffer content;
    std::string error;
    if (!read_input(f, size_t{16} << 20, content, error))
      throw std::runtime_error(fmt::format("{}: {}", f, error));
    auto r = rules::load_rule_file(content.view(), f, /*default_enabled=*/true);
    all.insert(all.end(), std::make_move_iterator(r.begin()), std::make_move_iterator(r.end()));
  }
  for (size_t i = 0; i < all.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (all[i].id == all[j].id)
        throw std::runtime_error(fmt::format("{}: rule id '{}' is already defined at {}",
                                             all[i].origin, all[i].id, all[j].origin));
  std::vector<std::string> en = c.rules.enable, dis = c.rules.disable;
  en.insert(en.end(), enable.begin(), enable.end());
  dis.insert(dis.end(), disable.begin(), disable.end());
  rules::apply_selectors(all, en, dis);
  return all;
}

// The outputs, as pipeline entries: `-o PATH` if given (a file, memory-buffered), else the
// configured ones, else stdout.
std::vector<OutputPipeline::Entry> make_outputs(const Config& c,
                                                const std::optional<std::string>& output_path,
                                                const OutputEnv& env = {}) {
  std::vector<OutputPipeline::Entry> entries;
  auto file = [](const std::string& name, const std::string& path) {
    OutputPipeline::Entry e;
    e.settings.name = name;
    e.settings.type = "file";
    e.settings.buffer = OutputSettings::BufferType::kMemory;
    e.output = std::make_unique<FileOutput>(name, path);
    return e;
  };
  if (output_path) {
    entries.push_back(file("output", *output_path));
  } else if (c.outputs.empty()) {
    entries.push_back(file("stdout", "-"));
  } else {
    for (const auto& o : c.outputs) entries.push_back({o, make_output(o, env)});
  }
  return entries;
}

std::vector<const rules::Rule*> enabled_rules(const std::vector<rules::Rule>& all) {
  std::vector<const rules::Rule*> enabled;
  for (const auto& r : all)
    if (r.enabled) enabled.push_back(&r);
  if (enabled.empty()) spdlog::warn("no rule is enabled: nothing can match");
  return enabled;
}

int cmd_replay(Args& a, const Global& g) {
  std::optional<std::string> output_path;
  std::optional<size_t> workers;
  std::vector<std::string> enable, disable, rule_files, paths;
  bool quiet = false, no_raw = false;
  while (!a.done()) {
    std::string v;
    if (a.option({"-o", "--output"}, v)) output_path = v;
    else if (a.option({"--enable"}, v)) enable.push_back(v);
    else if (a.option({"--disable"}, v)) disable.push_back(v);
    else if (a.option({"--rules"}, v)) rule_files.push_back(v);
    else if (a.option({"-w", "--workers"}, v)) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || n < 1 || n > 256) usage_error("--workers takes a number from 1 to 256");
      workers = static_cast<size_t>(n);
    } else if (a.flag({"--no-raw-data"})) no_raw = true;
    else if (a.flag({"-q", "--quiet"})) quiet = true;
    else if (a.peek().starts_with("-") && a.peek() != "-") usage_error(fmt::format("unknown option {}", a.peek()));
    else paths.push_back(a.next());
  }
  if (paths.empty()) usage_error("replay needs at least one PATH (a file, a directory or '-')");

  Config c = load_config(g);
  std::vector<rules::Rule> all = load_rules(c, rule_files, enable, disable);
  std::vector<const rules::Rule*> enabled = enabled_rules(all);

  // Replay delivers synchronously: memory buffers, whatever the configuration says.
  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  OutputPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir,
                         /*force_memory=*/true);
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
  ReplaySummary s = run_replay(opts, enabled, outputs);

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
  }
  if (s.output_failed) return kExitInputFailed;
  return s.failed_files ? kExitInputFailed : kExitOk;
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
  CloudTrailReader reader(c.limits);
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
    void on_record(std::string_view r) override { session->match(r, *on_match); }
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

// The region: [aws] region, AWS_REGION, AWS_DEFAULT_REGION, or the one in the queue URL
// (https://sqs.<region>.amazonaws.com/...).
std::string resolve_region(const Config& c) {
  if (!c.aws.region.empty()) return c.aws.region;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (const char* v = std::getenv(var); v && *v) return v;
  std::string_view url = c.sqs.queue_url;
  size_t p = url.find("://sqs.");
  if (p != std::string_view::npos) {
    size_t start = p + 7, end = url.find('.', start);
    if (end != std::string_view::npos) return std::string(url.substr(start, end - start));
  }
  return {};
}

std::string first_of(std::initializer_list<const std::string*> values) {
  for (const std::string* v : values)
    if (!v->empty()) return *v;
  return {};
}

int cmd_run(Args& a, const Global& g) {
  std::optional<std::string> output_path;
  while (!a.done()) {
    std::string v;
    if (a.option({"-o", "--output"}, v)) output_path = v;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  // Signals are taken by one thread with sigwait(); block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Config c = load_config(g);
  if (c.sqs.queue_url.empty())
    throw std::runtime_error(fmt::format("{}: source.sqs.queue_url is not set", c.source));
  if (c.sqs.allowed_buckets.empty())
    throw std::runtime_error(fmt::format(
        "{}: source.sqs.allowed_buckets is empty: name the buckets trailwarden may read", c.source));
  const std::string region = resolve_region(c);
  if (region.empty())
    throw std::runtime_error("no AWS region: set [aws] region or AWS_REGION");

  std::vector<rules::Rule> all = load_rules(c, {}, {}, {});
  std::vector<const rules::Rule*> enabled = enabled_rules(all);

  OutputEnv output_env;
  output_env.state_dir = c.state_dir;
  output_env.aws_region = region;

  std::error_code ec;
  std::filesystem::create_directories(c.state_dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("general.state_dir {}: {}", c.state_dir, ec.message()));

  const size_t workers = c.sqs.workers ? c.sqs.workers
                                       : std::max(1u, std::thread::hardware_concurrency());
  aws::CurlHttpOptions small;
  small.ca_file = c.aws.ca_file;
  aws::CurlHttpOptions large = small;
  large.max_response_bytes = c.limits.max_compressed_bytes + 1;
  auto pool = [](aws::CurlHttpOptions o, size_t max) {
    return std::make_shared<HttpClientPool>(
        [o] { return std::make_unique<aws::CurlHttpClient>(o); }, max);
  };
  auto control_http = pool(small, 4);  // SQS long poll, deletes/heartbeats, STS, metadata
  auto object_http = pool(large, workers);

  aws::CredentialsOptions cred_options;
  cred_options.profile = c.aws.profile;
  cred_options.region = region;
  cred_options.sts_endpoint = first_of({&c.aws.sts_endpoint_url, &c.aws.endpoint_url});
  cred_options.role_arn = c.aws.role_arn;
  cred_options.external_id = c.aws.external_id;
  cred_options.role_session_name = c.aws.role_session_name;
  auto credentials = aws::make_credentials_source(aws::make_process_context(control_http), cred_options);
  {
    aws::Credentials probe;
    std::string error;
    if (!credentials->get(probe, error)) throw std::runtime_error(error);
  }

  SqsClientOptions sqs_options;
  sqs_options.queue_url = c.sqs.queue_url;
  sqs_options.region = region;
  sqs_options.endpoint_url = first_of({&c.aws.sqs_endpoint_url, &c.aws.endpoint_url});
  SqsClient sqs(sqs_options, control_http, credentials);
  S3ClientOptions s3_options;
  s3_options.region = region;
  s3_options.endpoint_url = first_of({&c.aws.s3_endpoint_url, &c.aws.endpoint_url});
  s3_options.expected_bucket_owner = c.sqs.expected_bucket_owner;
  S3Client s3(s3_options, object_http, credentials);

  DaemonOptions d;
  d.max_messages = c.sqs.max_messages;
  d.wait_time = std::chrono::seconds(c.sqs.wait_time_seconds);
  d.visibility_timeout = std::chrono::seconds(c.sqs.visibility_timeout_seconds);
  d.heartbeat_interval = std::chrono::seconds(c.sqs.heartbeat_seconds);
  d.max_in_flight = c.sqs.max_in_flight_messages;
  d.workers = workers;
  d.shutdown_deadline = std::chrono::seconds(c.sqs.shutdown_timeout_seconds);
  d.allowed_buckets = c.sqs.allowed_buckets;
  d.key_prefixes = c.sqs.key_prefixes;
  d.include_digest = c.sqs.include_digest;
  d.include_insights = c.sqs.include_insights;
  d.max_object_bytes = c.limits.max_compressed_bytes;
  d.limits = c.limits;
  d.ocsf.include_raw_data = c.include_raw_data;
  d.dedup_path = (std::filesystem::path(c.state_dir) / "dedup.log").string();
  d.dedup_capacity = c.sqs.dedup_window;

  output_env.aws_credentials = credentials;
  OutputPipeline outputs(make_outputs(c, output_path, output_env), c.state_dir);
  {
    std::string error;
    if (!outputs.start(error)) throw std::runtime_error(error);
  }
  Daemon daemon(d, sqs, s3, enabled, outputs);
  std::atomic<bool> stop{false};
  std::thread signal_thread([&] {
    while (!stop) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (stop) break;  // woken by ourselves after a fatal error
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reopening output files (configuration and rules are not reloaded: "
                     "restart to apply changes)");
        outputs.reopen();
        continue;
      }
      spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      stop = true;
    }
  });
  spdlog::info("trailwarden {} running: queue {} (region {}), {} rules, {} workers, buckets {}",
               TRAILWARDEN_VERSION, c.sqs.queue_url, region, enabled.size(), workers,
               fmt::join(c.sqs.allowed_buckets, ", "));
  int rc = daemon.run(stop);
  outputs.stop(std::chrono::seconds(c.sqs.shutdown_timeout_seconds));
  if (outputs.failed()) rc = 1;
  if (!stop) {  // a fatal error ended the run: wake the signal thread
    stop = true;
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  const DaemonCounters& k = daemon.counters();
  spdlog::info(
      "stopped: {} messages received, {} deleted, {} failed, {} unknown; {} objects, {} records, "
      "{} alerts sent, {} duplicates suppressed, {} refused",
      k.messages_received.load(), k.messages_deleted.load(), k.messages_failed.load(),
      k.messages_unknown.load(), k.objects_fetched.load(), k.records.load(), k.alerts_sent.load(),
      k.alerts_suppressed.load(), k.notifications_refused.load());
  return rc;
}

int cmd_rules(Args& a, const Global& g) {
  if (a.done()) usage_error("rules needs a sub-command: list or show RULE_ID");
  std::string sub = a.next();
  Config c = load_config(g);
  std::vector<std::string> enable, disable, files;
  if (sub == "list") {
    while (!a.done()) {
      std::string v;
      if (a.option({"--enable"}, v)) enable.push_back(v);
      else if (a.option({"--disable"}, v)) disable.push_back(v);
      else if (a.option({"--rules"}, v)) files.push_back(v);
      else usage_error(fmt::format("unexpected argument {}", a.peek()));
    }
    auto all = load_rules(c, files, enable, disable);
    size_t id_width = 4, pack_width = 4;
    for (const auto& r : all) {
      id_width = std::max(id_width, r.id.size());
      pack_width = std::max(pack_width, r.pack.size());
    }
    fmt::print("{:<{}}  {:<8}  {:<13}  {:<{}}  {}\n", "ID", id_width, "STATE", "SEVERITY", "PACK",
               pack_width, "TITLE");
    for (const auto& r : all)
      fmt::print("{:<{}}  {:<8}  {:<13}  {:<{}}  {}\n", r.id, id_width,
                 r.enabled ? "enabled" : "disabled", rules::severity_key(r.severity), r.pack,
                 pack_width, r.title);
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
    if (a.done()) usage_error("missing command (replay, test-pattern or rules)");
    std::string cmd = a.next();
    setup_logging("info");
    if (cmd == "replay") return cmd_replay(a, g);
    if (cmd == "run") return cmd_run(a, g);
    if (cmd == "test-pattern") return cmd_test_pattern(a, g);
    if (cmd == "rules") return cmd_rules(a, g);
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
    fmt::print(stderr, "trailwarden: {}\n", e.what());
    return kExitUsage;
  }
}

}  // namespace trailwarden::cli
