// render_effective_config(): the configuration as the agent will use it, for `check-config`.
#include <fmt/format.h>

#include <string>

#include "agent/config/config.h"
#include "agent/config/toml_emitter.h"

namespace trailwarden {

std::string render_effective_config(const Config& c, const OutputRenderer& render_output) {
  TomlEmitter e(c.secrets);
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

  for (const OutputTable& o : c.outputs) {
    if (render_output) {
      render_output(o, e);
    } else {  // as written
      e.section(fmt::format("[[outputs]]  # {}", o.origin));
      if (o.table) e.keys_as_written(*o.table, "outputs");
    }
  }
  std::string out = e.take();
  return fmt::format("# effective configuration of {}\n{}", c.source,
                     out.empty() ? out : out.substr(1));
}

}  // namespace trailwarden
