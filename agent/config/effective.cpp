// render_effective_config(): the configuration as the agent will use it, for `check-config`.
#include <fmt/format.h>

#include <sstream>
#include <string>
#include <toml++/toml.h>

#include "agent/config/config.h"
#include "agent/config/interpolate.h"
#include "agent/rules/rule.h"

namespace trailwarden {

namespace {

constexpr const char* kRedacted = "<redacted>";

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", c);
        else out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

// A key as TOML writes it: bare when it can be, quoted otherwise ("sasl.password").
std::string key(std::string_view k) {
  bool bare = !k.empty();
  for (char c : k)
    bare = bare && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-');
  return bare ? std::string(k) : quote(k);
}

class Emitter {
 public:
  explicit Emitter(const std::vector<std::string>& secrets) : secrets_(secrets) {}

  void section(std::string_view header) { out_ += fmt::format("\n{}\n", header); }
  void str(std::string_view k, const std::string& v) {
    out_ += fmt::format("{} = {}\n", key(k), redacted(k, v) ? quote(kRedacted) : quote(v));
  }
  void num(std::string_view k, uint64_t v) { out_ += fmt::format("{} = {}\n", key(k), v); }
  void boolean(std::string_view k, bool v) { out_ += fmt::format("{} = {}\n", key(k), v); }
  void list(std::string_view k, const std::vector<std::string>& v) {
    std::vector<std::string> q;
    for (const auto& s : v) q.push_back(redacted(k, s) ? quote(kRedacted) : quote(s));
    out_ += fmt::format("{} = [{}]\n", key(k), fmt::join(q, ", "));
  }
  // Any TOML node (an output's own keys).
  void node(std::string_view k, const toml::node& n) {
    if (const auto* s = n.as_string()) return str(k, s->get());
    if (const auto* a = n.as_array()) {
      std::vector<std::string> items;
      for (const auto& el : *a) items.push_back(scalar(k, el));
      out_ += fmt::format("{} = [{}]\n", key(k), fmt::join(items, ", "));
      return;
    }
    out_ += fmt::format("{} = {}\n", key(k), scalar(k, n));
  }
  std::string take() { return std::move(out_); }

 private:
  bool redacted(std::string_view k, const std::string& v) const {
    if (v.empty()) return false;
    if (is_secret_name(k) && !v.starts_with("@file:")) return true;
    for (const auto& s : secrets_)
      if (!s.empty() && v.find(s) != std::string::npos) return true;
    return false;
  }
  std::string scalar(std::string_view k, const toml::node& n) const {
    if (const auto* s = n.as_string()) return redacted(k, s->get()) ? quote(kRedacted) : quote(s->get());
    if (const auto* i = n.as_integer()) return fmt::format("{}", i->get());
    if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
    if (const auto* f = n.as_floating_point()) return fmt::format("{}", f->get());
    std::ostringstream os;  // dates and times, inline tables: as toml++ prints them
    os << toml::toml_formatter(n);
    return os.str();
  }

  const std::vector<std::string>& secrets_;
  std::string out_;
};

std::string severity_name(int id) {
  return std::string(rules::severity_key(static_cast<rules::Severity>(id)));
}

}  // namespace

std::string render_effective_config(const Config& c) {
  Emitter e(c.secrets);
  e.section("[general]");
  e.str("log_level", c.log_level);
  e.str("log_format", c.log_format);
  e.num("log_rate_limit_burst", c.log_rate_limit_burst);
  e.num("log_rate_limit_interval_seconds", c.log_rate_limit_interval_seconds);
  e.str("state_dir", c.state_dir);
  e.boolean("allow_core_dumps", c.allow_core_dumps);

  e.section("[metrics]");
  e.str("listen", c.metrics.listen);
  e.num("ready_poll_timeout_seconds", c.metrics.ready_poll_timeout_seconds);

  e.section("[aws]");
  e.str("region", c.aws.region);
  e.str("profile", c.aws.profile);
  e.str("role_arn", c.aws.role_arn);
  e.str("external_id", c.aws.external_id);
  e.str("role_session_name", c.aws.role_session_name);
  e.str("endpoint_url", c.aws.endpoint_url);
  e.str("sqs_endpoint_url", c.aws.sqs_endpoint_url);
  e.str("s3_endpoint_url", c.aws.s3_endpoint_url);
  e.str("sts_endpoint_url", c.aws.sts_endpoint_url);
  e.boolean("use_fips_endpoint", c.aws.use_fips_endpoint);
  e.boolean("use_dualstack_endpoint", c.aws.use_dualstack_endpoint);
  e.boolean("ignore_configured_endpoint_urls", c.aws.ignore_configured_endpoint_urls);
  e.str("ca_file", c.aws.ca_file);

  const SqsSourceConfig& q = c.sqs;
  e.section("[source.sqs]");
  e.str("queue_url", q.queue_url);
  e.num("max_messages", q.max_messages);
  e.num("wait_time_seconds", q.wait_time_seconds);
  e.num("visibility_timeout_seconds", q.visibility_timeout_seconds);
  e.num("heartbeat_seconds", q.heartbeat_seconds);
  e.num("max_in_flight_messages", q.max_in_flight_messages);
  e.num("workers", q.workers);
  e.list("allowed_buckets", q.allowed_buckets);
  e.list("key_prefixes", q.key_prefixes);
  e.boolean("include_digest", q.include_digest);
  e.boolean("include_insights", q.include_insights);
  e.str("expected_bucket_owner", q.expected_bucket_owner);
  e.boolean("inline_events", q.inline_events);
  e.boolean("inline_events_via_sns", q.inline_events_via_sns);
  e.list("inline_accounts", q.inline_accounts);
  e.list("inline_regions", q.inline_regions);
  e.num("shutdown_timeout_seconds", q.shutdown_timeout_seconds);
  e.num("dedup_window", q.dedup_window);

  e.section("[limits]");
  e.num("max_compressed_bytes", c.limits.max_compressed_bytes);
  e.num("max_decompressed_bytes", c.limits.max_decompressed_bytes);
  e.num("max_records_per_file", c.limits.max_records_per_file);
  e.num("max_record_bytes", c.limits.max_record_bytes);
  e.num("max_depth", c.limits.max_depth);

  e.section("[rules]");
  e.list("packs", c.rules.packs);
  e.list("files", c.rules.files);
  e.list("enable", c.rules.enable);
  e.list("disable", c.rules.disable);

  e.section("[alerts]");
  e.boolean("include_raw_data", c.include_raw_data);

  e.section("[replay]");
  e.num("workers", c.replay_workers);

  for (const auto& o : c.outputs) {
    e.section(fmt::format("[[outputs]]  # {}", o.origin));
    e.str("name", o.name);
    e.str("type", o.type);
    e.str("format", std::string(alert_format_name(o.format)));
    e.str("min_severity", severity_name(o.min_severity));
    e.list("rules", o.rules);
    e.list("tags", o.tags);
    e.str("buffer", o.buffer == OutputSettings::BufferType::kDisk ? "disk" : "memory");
    e.num("buffer_max_bytes", o.buffer_max_bytes);
    e.str("when_full", o.when_full == OutputSettings::WhenFull::kBlock ? "block" : "drop_newest");
    e.str("fsync", o.fsync == OutputSettings::Fsync::kAlways ? "always" : "never");
    e.num("batch_max_events", o.batch_max_events);
    e.num("batch_timeout_ms", static_cast<uint64_t>(o.batch_timeout.count()));
    e.num("retry_initial_ms", static_cast<uint64_t>(o.retry_initial.count()));
    e.num("retry_max_ms", static_cast<uint64_t>(o.retry_max.count()));
    if (!o.table) continue;
    static const char* kCommon[] = {"name", "type", "format", "min_severity", "rules", "tags",
                                    "buffer", "buffer_max_bytes", "when_full", "fsync",
                                    "batch_max_events", "batch_timeout_ms", "retry_initial_ms",
                                    "retry_max_ms"};
    std::vector<std::pair<std::string, const toml::table*>> subtables;
    for (auto&& [k, v] : *o.table) {
      bool common = false;
      for (const char* ck : kCommon) common = common || k.str() == ck;
      if (common) continue;
      if (const auto* t = v.as_table()) subtables.emplace_back(std::string(k.str()), t);
      else e.node(k.str(), v);
    }
    for (const auto& [name, t] : subtables) {
      e.section(fmt::format("[outputs.{}]", key(name)));
      for (auto&& [k, v] : *t) e.node(k.str(), v);
    }
  }
  std::string out = e.take();
  return fmt::format("# effective configuration of {}\n{}", c.source,
                     out.empty() ? out : out.substr(1));
}

}  // namespace trailwarden
