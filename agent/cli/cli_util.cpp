#include "agent/cli/cli_util.h"

#include <glob.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/http/http.h"
#include "agent/aws/names.h"
#include "agent/common/buffer.h"
#include "agent/common/logging.h"
#include "agent/decode/input.h"
#include "outputs/file/file_output.h"

namespace trailwarden::cli {

namespace {

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

}  // namespace

Config read_config(const Global& g) {
  Config c = g.config_path ? load_config_file(*g.config_path) : default_config();
  parse_outputs(c);
  return c;
}

Config load_config(const Global& g) {
  Config c = read_config(g);
  std::string error;
  if (!apply_logging(c, g, error)) usage_error(error);
  return c;
}

bool apply_logging(const Config& c, const Global& g, std::string& error) {
  LogOptions log;
  log.level = g.log_level ? *g.log_level : c.log_level;
  log.format = c.log_format;
  log.rate_limit_burst = c.log_rate_limit_burst;
  log.rate_limit_interval = std::chrono::seconds(c.log_rate_limit_interval_seconds);
  if (!setup_logging(log, error)) return false;
  for (const auto& secret : c.secrets) register_secret(secret);
  return true;
}

// Loads every configured pack and rule file and applies the selectors (cli_util.h).
std::vector<rules::Rule> load_rules(const Config& c, const std::vector<std::string>& extra_files,
                                    const std::vector<std::string>& enable,
                                    const std::vector<std::string>& disable,
                                    const std::vector<std::string>& enable_alarm,
                                    const std::vector<std::string>& disable_alarm,
                                    std::vector<std::string>* warnings) {
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
  std::vector<std::string> alarm_en = c.alarms.enable, alarm_dis = c.alarms.disable;
  alarm_en.insert(alarm_en.end(), enable_alarm.begin(), enable_alarm.end());
  alarm_dis.insert(alarm_dis.end(), disable_alarm.begin(), disable_alarm.end());
  for (const std::string& id : rules::apply_alarm_selectors(all, alarm_en, alarm_dis)) {
    std::string w = fmt::format(
        "the alarm of rule '{}' is switched on, but the rule is disabled: the alarm does not run "
        "(enable the rule too: [rules] enable or --enable)",
        id);
    if (warnings) warnings->push_back(std::move(w));
    else spdlog::warn("{}", w);
  }
  rules::check_alarm_names(all);
  return all;
}

// The outputs, as pipeline entries: `-o PATH` if given (a file, memory-buffered), else the
// configured ones, else stdout.
std::vector<DeliveryPipeline::Entry> make_outputs(const Config& c,
                                                const std::optional<std::string>& output_path,
                                                const OutputEnv& env) {
  std::vector<DeliveryPipeline::Entry> entries;
  auto file = [](const std::string& name, const std::string& path) {
    DeliveryPipeline::Entry e;
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
    for (auto& o : parse_outputs(c)) {
      std::unique_ptr<Output> output = make_output(o, env);
      entries.push_back({std::move(o), std::move(output)});
    }
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

// The region: [aws] region, AWS_REGION, AWS_DEFAULT_REGION, or the one in the queue URL
// (https://sqs.<region>.amazonaws.com/...).
std::string resolve_region(const Config& c) {
  if (!c.aws.region.empty()) return c.aws.region;
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (const char* v = std::getenv(var); v && *v) return v;
  return aws::sqs_region_from_queue_url(c.sqs.queue_url);
}

std::string region_problem(const std::string& region) {
  if (region.empty() || aws::is_valid_region(region)) return {};
  return fmt::format("the AWS region \"{}\" (from [aws] region, AWS_REGION, AWS_DEFAULT_REGION "
                     "or the queue URL) is not a region name like \"us-east-1\"",
                     http::printable_excerpt(region, 64));
}

std::shared_ptr<aws::CredentialsSource> make_aws_credentials(const Config& c,
                                                             const std::string& region,
                                                             std::shared_ptr<http::HttpClient> http,
                                                             const std::atomic<bool>* cancel) {
  aws::CredentialsOptions o;
  o.profile = c.aws.profile;
  o.region = region;
  o.sts_endpoint = first_of({&c.aws.sts_endpoint_url, &c.aws.endpoint_url});
  o.use_fips_endpoint = c.aws.use_fips_endpoint;
  o.use_dualstack_endpoint = c.aws.use_dualstack_endpoint;
  o.ignore_configured_endpoint_urls = c.aws.ignore_configured_endpoint_urls;
  o.role_arn = c.aws.role_arn;
  o.external_id = c.aws.external_id;
  o.role_session_name = c.aws.role_session_name;
  return aws::make_credentials_source(aws::make_process_context(std::move(http), cancel), o);
}

std::string first_of(std::initializer_list<const std::string*> values) {
  for (const std::string* v : values)
    if (!v->empty()) return *v;
  return {};
}

}  // namespace trailwarden::cli
