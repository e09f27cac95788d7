// `trailwarden check-config`: validates the configuration, the rules and every output's keys,
// and prints the effective configuration with secrets redacted. Creates nothing and connects
// to nothing, so it is safe as systemd's ExecStartPre and in CI. Warns (never fails) about what
// `run` would lack, and about files holding secrets that others can read.
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/config/secret_files.h"
#include "agent/kafka/client_config.h"
#include "agent/sources/cloudtrail_client.h"
#include "agent/sources/kafka/kafka_source_config.h"

namespace trailwarden::cli {

namespace {

// Files holding secrets (the configuration itself when it holds one inline, token files, key
// files) that users other than the agent's can read.
void check_secret_files(const std::string& config_path, std::vector<std::string>& warnings) {
  std::ifstream in(config_path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  for (const SecretFile& f : files_holding_secrets(ss.str(), config_path)) {
    struct stat st {};
    if (::stat(f.path.c_str(), &st) != 0) continue;  // a missing file is reported elsewhere
    bool ours = st.st_gid == ::getegid();
    std::string group_name = std::to_string(st.st_gid);
    if (const group* gr = ::getgrgid(st.st_gid)) group_name = gr->gr_name;
    std::string w = secret_file_warning(f, static_cast<unsigned>(st.st_mode), ours, group_name);
    if (!w.empty()) warnings.push_back(std::move(w));
  }
}

// The rules that have an alarm, one line each, as TOML comments after the effective
// configuration (which stays valid TOML): rule, alarm name, condition, on/off, alert, rule state.
std::string alarm_lines(const std::vector<rules::Rule>& all) {
  std::vector<const rules::Rule*> with;
  size_t id_w = 4, name_w = 5, cond_w = 9;
  for (const auto& r : all) {
    if (!r.metric_alarm) continue;
    with.push_back(&r);
    id_w = std::max(id_w, r.id.size());
    name_w = std::max(name_w, r.metric_alarm->alarm.name.size());
    cond_w = std::max(cond_w, rules::alarm_summary(r).size());
  }
  if (with.empty()) return "\n# alarms: no loaded rule has one\n";
  std::string out = "\n# alarms of the loaded rules ([alarms] enable/disable; docs/alarms.md)\n";
  out += fmt::format("# {:<{}}  {:<{}}  {:<{}}  {:<5}  {:<6}  {}\n", "RULE", id_w, "ALARM", name_w,
                     "CONDITION", cond_w, "STATE", "ALERT", "RULE STATE");
  for (const rules::Rule* r : with)
    out += fmt::format("# {:<{}}  {:<{}}  {:<{}}  {:<5}  {:<6}  {}\n", r->id, id_w,
                       r->metric_alarm->alarm.name, name_w, rules::alarm_summary(*r), cond_w,
                       rules::alarm_state(*r), rules::alert_on_name(r->alert_on),
                       r->enabled ? "enabled" : "disabled");
  return out;
}

}  // namespace

int cmd_check_config(Args& a, const Global& g) {
  bool quiet = false;
  while (!a.done()) {
    if (a.flag({"-q", "--quiet"})) quiet = true;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  Config c = load_config(g);
  // What `run` needs beyond a valid file: reported, not fatal (replay works without them).
  std::vector<std::string> warnings = config_advisories(c);
  std::vector<rules::Rule> all = load_rules(c, {}, {}, {}, {}, {}, &warnings);
  size_t enabled = 0;
  for (const auto& r : all) enabled += r.enabled ? 1 : 0;

  OutputEnv env;
  env.state_dir = c.state_dir;
  env.aws_region = resolve_region(c);
  env.aws_endpoints = endpoint_config(c);
  env.validate_only = true;
  for (const auto& o : parse_outputs(c)) make_output(o, env);
  // [source.kafka]: every key and librdkafka property checked as `run` checks them.
  if (c.kafka_source)
    kafka::parse_kafka_source_config(*c.kafka_source, c.source, resolve_region(c),
                                     process_secret_sources());

  if (enabled == 0) warnings.push_back("no rule is enabled: nothing can match");
  if (c.kafka_source && !c.sqs.queue_url.empty())
    warnings.push_back("both source.sqs.queue_url and [source.kafka] are set: `run` refuses to "
                       "start with both");
  else if (c.sqs.queue_url.empty() && !c.kafka_source)
    warnings.push_back("source.sqs.queue_url is not set: `run` needs it (or [source.kafka])");
  else if (!c.kafka_source && c.sqs.allowed_buckets.empty())
    warnings.push_back("source.sqs.allowed_buckets is empty: `run` refuses to start without it");
  if (!c.sqs.queue_url.empty() && resolve_region(c).empty())
    warnings.push_back("no AWS region: set [aws] region or AWS_REGION");
  if (std::string why = region_problem(resolve_region(c)); !why.empty())
    warnings.push_back(why + ": `run` refuses to start with it");
  else if (!c.sqs.queue_url.empty() && !resolve_region(c).empty()) {
    // Endpoints and the SQS signing region, as `run` will resolve them.
    AwsEndpoints endpoints;
    std::string problem;
    if (!plan_aws_endpoints(c, aws::process_environment(), endpoints, problem))
      warnings.push_back(problem + ": `run` refuses to start with it");
    for (const std::string& w : endpoints.warnings) warnings.push_back(w);
  }
  {
    // CloudTrail's endpoint (ListPublicKeys: `verify`, digest validation), as they resolve it.
    CloudTrailClientOptions cloudtrail;
    std::string problem;
    if (!cloudtrail_client_options(endpoint_config(c), aws::process_environment(), cloudtrail,
                                   problem))
      warnings.push_back(problem + (c.integrity.enabled
                                        ? ": `run` ([integrity]) and `verify` refuse to start with it"
                                        : ": `verify` refuses to start with it"));
  }
  {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path dir = c.state_dir;
    while (!dir.empty() && !fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path())
      dir = dir.parent_path();
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      warnings.push_back(fmt::format("general.state_dir {}: {} is not writable by this user",
                                     c.state_dir, dir.string()));
  }
  if (g.config_path) check_secret_files(*g.config_path, warnings);
  if (!quiet) fmt::print("{}{}", render_effective_config(c), alarm_lines(all));
  std::fflush(stdout);
  for (const auto& w : warnings) fmt::print(stderr, "trailwarden: warning: {}\n", w);
  if (!quiet)
    for (const auto& n : config_notes(c)) fmt::print(stderr, "trailwarden: note: {}\n", n);
  if (!quiet)
    fmt::print(stderr, "trailwarden: {}: configuration OK ({} rules, {} enabled; {} outputs)\n",
               c.source, all.size(), enabled, c.outputs.size());
  return kExitOk;
}

}  // namespace trailwarden::cli
