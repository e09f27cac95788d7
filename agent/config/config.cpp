#include "agent/config/config.h"

#include <fmt/format.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "agent/aws/names.h"
#include "agent/config/embedded.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

const toml::table* section(const std::string& origin, const toml::table& doc, std::string_view name) {
  const toml::node* n = doc.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) {
    const auto& r = n->source();
    throw std::runtime_error(fmt::format("{}:{}:{}: [{}] must be a table", origin, r.begin.line,
                                         r.begin.column, name));
  }
  return n->as_table();
}

// Secret-looking keys (token, "sasl.password", ...) anywhere in the document: their values are
// secrets whether written inline or interpolated.
void collect_secret_values(const toml::table& t, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    if (const auto* sub = v.as_table()) {
      collect_secret_values(*sub, out);
    } else if (const auto* arr = v.as_array()) {
      for (const auto& el : *arr)
        if (const auto* st = el.as_table()) collect_secret_values(*st, out);
    } else if (const auto* s = v.as_string()) {
      const std::string& value = s->get();
      if (is_secret_name(k.str()) && !value.empty() && !value.starts_with("@file:"))
        out.push_back(value);
    }
  }
}

}  // namespace

bool split_host_port(std::string_view text, std::string& host, int& port) {
  size_t colon;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(text.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs [brackets]
  }
  std::string_view digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return false;
  port = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return false;
    port = port * 10 + (ch - '0');
  }
  return port <= 65535 && !host.empty();
}

void scrub_secrets(std::string& text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 10))
      text.replace(pos, secret.size(), "[redacted]");
  }
}

namespace {

void parse_config_document(const std::shared_ptr<toml::table>& root, const std::string& origin,
                           Config& c);

}  // namespace

Config parse_config(std::string_view content, const std::string& origin, const EnvLookup& env) {
  // Shared, so that output tables can point into it (keeping the positions of their values).
  auto root = std::make_shared<toml::table>(parse_toml(content, origin));
  Config c;
  c.source = origin;
  interpolate_env(*root, origin, env, c.secrets);
  collect_secret_values(*root, c.secrets);
  try {
    parse_config_document(root, origin, c);
  } catch (const std::runtime_error& e) {
    // A message that quotes a value (an unknown format, a bad address) must not show a secret
    // that reached it through ${VAR} or was written in a secret's place.
    std::string message = e.what();
    scrub_secrets(message, c.secrets);
    throw std::runtime_error(message);
  }
  return c;
}

namespace {

void parse_config_document(const std::shared_ptr<toml::table>& root, const std::string& origin,
                           Config& c) {
  const toml::table& doc = *root;
  TomlReader top(origin, doc, "top level");
  for (auto name : {"general", "limits", "rules", "alerts", "replay", "outputs", "aws", "source",
                    "metrics"})
    top.get(name);
  top.finish();

  if (const auto* t = section(origin, doc, "general")) {
    TomlReader r(origin, *t, "general");
    r.read("log_level", c.log_level);
    r.read("log_format", c.log_format);
    r.read("log_rate_limit_burst", c.log_rate_limit_burst, 0);
    r.read("log_rate_limit_interval_seconds", c.log_rate_limit_interval_seconds, 1);
    r.read("state_dir", c.state_dir);
    r.read("allow_core_dumps", c.allow_core_dumps);
    r.finish();
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    bool ok = false;
    for (auto l : kLevels) ok = ok || c.log_level == l;
    if (!ok) r.fail(*t->get("log_level"), fmt::format("unknown log level '{}'", c.log_level));
    static const char* kFormats[] = {"auto", "text", "json", "journal"};
    ok = false;
    for (auto f : kFormats) ok = ok || c.log_format == f;
    if (!ok)
      r.fail(*t->get("log_format"),
             fmt::format("unknown log format '{}' (auto, text, json, journal)", c.log_format));
    if (c.state_dir.empty()) r.fail(*t->get("state_dir"), "general.state_dir must not be empty");
  }
  if (const auto* t = section(origin, doc, "metrics")) {
    TomlReader r(origin, *t, "metrics");
    r.read("listen", c.metrics.listen);
    r.read("ready_poll_timeout_seconds", c.metrics.ready_poll_timeout_seconds, 1);
    r.finish();
    if (!c.metrics.listen.empty()) {
      std::string host;
      int port = 0;
      if (!split_host_port(c.metrics.listen, host, port))
        r.fail(*t->get("listen"),
               fmt::format("metrics.listen must be HOST:PORT (\"127.0.0.1:9731\", "
                           "\"[::1]:9731\") or \"\" to turn the endpoint off, not \"{}\"",
                           c.metrics.listen));
    }
  }
  if (const auto* t = section(origin, doc, "aws")) {
    TomlReader r(origin, *t, "aws");
    r.read("region", c.aws.region);
    r.read("profile", c.aws.profile);
    r.read("role_arn", c.aws.role_arn);
    r.read("external_id", c.aws.external_id);
    r.read("role_session_name", c.aws.role_session_name);
    r.read("endpoint_url", c.aws.endpoint_url);
    r.read("sqs_endpoint_url", c.aws.sqs_endpoint_url);
    r.read("s3_endpoint_url", c.aws.s3_endpoint_url);
    r.read("sts_endpoint_url", c.aws.sts_endpoint_url);
    r.read("use_fips_endpoint", c.aws.use_fips_endpoint);
    r.read("use_dualstack_endpoint", c.aws.use_dualstack_endpoint);
    r.read("ignore_configured_endpoint_urls", c.aws.ignore_configured_endpoint_urls);
    r.read("ca_file", c.aws.ca_file);
    r.finish();
    if (!c.aws.region.empty() && !aws::is_valid_region(c.aws.region))
      r.fail(*t->get("region"), fmt::format("aws.region \"{}\" is not an AWS region name like "
                                            "\"us-east-1\" (S3 and STS host names are built from it)",
                                            c.aws.region));
  }
  if (const auto* src = section(origin, doc, "source")) {
    TomlReader outer(origin, *src, "source");
    outer.get("sqs");
    outer.finish();
    if (const auto* t = section(origin, *src, "sqs")) {
      TomlReader r(origin, *t, "source.sqs");
      SqsSourceConfig& q = c.sqs;
      r.read("queue_url", q.queue_url);
      r.read("max_messages", q.max_messages, 1);
      r.read("wait_time_seconds", q.wait_time_seconds, 0);
      r.read("visibility_timeout_seconds", q.visibility_timeout_seconds, 1);
      r.read("heartbeat_seconds", q.heartbeat_seconds, 0);
      r.read("max_in_flight_messages", q.max_in_flight_messages, 1);
      r.read("workers", q.workers, 0);
      r.read("allowed_buckets", q.allowed_buckets);
      r.read("key_prefixes", q.key_prefixes);
      r.read("include_digest", q.include_digest);
      r.read("include_insights", q.include_insights);
      r.read("expected_bucket_owner", q.expected_bucket_owner);
      r.read("inline_events", q.inline_events);
      r.read("inline_events_via_sns", q.inline_events_via_sns);
      r.read("inline_accounts", q.inline_accounts);
      r.read("inline_regions", q.inline_regions);
      r.read("shutdown_timeout_seconds", q.shutdown_timeout_seconds, 0);
      r.read("dedup_window", q.dedup_window, 1);
      r.finish();
      if (q.max_messages > 10) r.fail(*t->get("max_messages"), "source.sqs.max_messages must be 1 to 10");
      if (q.wait_time_seconds > 20)
        r.fail(*t->get("wait_time_seconds"), "source.sqs.wait_time_seconds must be 0 to 20");
      if (q.visibility_timeout_seconds > 43200)
        r.fail(*t->get("visibility_timeout_seconds"),
               "source.sqs.visibility_timeout_seconds must be at most 43200 (12 hours)");
      // Each element of a list of names must pass `valid`; the error points at the element.
      auto check_each = [&](std::string_view key, bool (*valid)(std::string_view),
                            std::string_view what) {
        const toml::array* arr = t->get(key) ? t->get(key)->as_array() : nullptr;
        if (!arr) return;
        for (const auto& el : *arr)
          if (!valid(*el.value<std::string>()))
            r.fail(el, fmt::format("source.sqs.{}: \"{}\" is not {}", key,
                                   *el.value<std::string>(), what));
      };
      check_each("allowed_buckets", aws::is_valid_bucket_name, "a valid S3 bucket name");
      check_each("inline_accounts", aws::is_valid_account_id, "a 12-digit account id");
      check_each("inline_regions", aws::is_valid_region, "an AWS region name like \"us-east-1\"");
      if (!q.expected_bucket_owner.empty() && !aws::is_valid_account_id(q.expected_bucket_owner))
        r.fail(*t->get("expected_bucket_owner"),
               "source.sqs.expected_bucket_owner must be a 12-digit account id");
      if (q.inline_events && q.inline_accounts.empty())
        r.fail(*t->get("inline_events"),
               "source.sqs.inline_events = true needs source.sqs.inline_accounts: the accounts "
               "whose EventBridge CloudTrail events may be matched without reading S3");
    }
  }
  if (const auto* t = section(origin, doc, "limits")) {
    TomlReader r(origin, *t, "limits");
    r.read("max_compressed_bytes", c.limits.max_compressed_bytes, 1024);
    r.read("max_decompressed_bytes", c.limits.max_decompressed_bytes, 1024);
    r.read("max_records_per_file", c.limits.max_records_per_file, 1);
    r.read("max_record_bytes", c.limits.max_record_bytes, 1024);
    r.read("max_depth", c.limits.max_depth, 4);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "rules")) {
    TomlReader r(origin, *t, "rules");
    r.read("packs", c.rules.packs);
    r.read("files", c.rules.files);
    r.read("enable", c.rules.enable);
    r.read("disable", c.rules.disable);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "alerts")) {
    TomlReader r(origin, *t, "alerts");
    r.read("include_raw_data", c.include_raw_data);
    r.finish();
  }
  if (const auto* t = section(origin, doc, "replay")) {
    TomlReader r(origin, *t, "replay");
    r.read("workers", c.replay_workers, 0);
    r.finish();
  }
  if (const toml::node* n = doc.get("outputs")) {
    const toml::array* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      const auto& src = n->source();
      throw std::runtime_error(fmt::format("{}:{}:{}: 'outputs' must be written as [[outputs]] tables",
                                           origin, src.begin.line, src.begin.column));
    }
    for (const auto& el : *arr) {
      OutputTable o;
      o.index = c.outputs.size();
      o.config_file = origin;
      o.origin = toml_where(origin, el.source());
      o.table = std::shared_ptr<const toml::table>(root, el.as_table());
      c.outputs.push_back(std::move(o));
    }
  }
}

}  // namespace

Config load_config_file(const std::string& path) {
  // O_CLOEXEC ("e"): a reload (SIGHUP) runs while helpers may be spawned.
  std::FILE* in = std::fopen(path.c_str(), "rbe");
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open configuration file", path));
  std::string text;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
  const bool bad = std::ferror(in) != 0;
  std::fclose(in);
  if (bad) throw std::runtime_error(fmt::format("{}: cannot read configuration file", path));
  return parse_config(text, path);
}

std::vector<std::string> config_advisories(const Config& c) {
  std::vector<std::string> out;
  const SqsSourceConfig& q = c.sqs;
  if (!q.inline_events && (!q.inline_accounts.empty() || !q.inline_regions.empty() ||
                           q.inline_events_via_sns))
    out.push_back(
        "source.sqs.inline_accounts/inline_regions/inline_events_via_sns are set but "
        "source.sqs.inline_events is false: EventBridge CloudTrail events on the queue are "
        "refused and deleted (set inline_events = true to match them; docs/aws.md, \"The inline "
        "route's trust model\")");
  return out;
}

Config default_config() {
  return parse_config(embedded::find("trailwarden.toml"), "builtin:trailwarden.toml");
}

}  // namespace trailwarden
