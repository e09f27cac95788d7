#include "agent/cli/run_integrity.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "agent/aws/time_util.h"
#include "agent/cli/aws_endpoints.h"

namespace trailwarden::cli {

RunIntegrity make_run_integrity(const Config& c, Source& main, AwsClients& clients,
                                const HttpPools& http,
                                std::shared_ptr<aws::CredentialsSource> credentials) {
  RunIntegrity parts;
  if (!c.integrity.enabled) return parts;
  if (!clients.s3)
    throw std::runtime_error(fmt::format(
        "{}: [integrity] enabled checks CloudTrail's S3 objects, and this source reads none "
        "(set [integrity] enabled = false with [source.kafka])",
        c.source));
  CloudTrailClientOptions ct_options;
  std::string error;
  if (!cloudtrail_client_options(endpoint_config(c), aws::process_environment(), ct_options, error))
    throw std::runtime_error(fmt::format("{}: [integrity]: {}", c.source, error));
  parts.cloudtrail = std::make_unique<CloudTrailClient>(ct_options, http.control, credentials);
  parts.keys = std::make_unique<integrity::PublicKeyCache>(*parts.cloudtrail);

  const IntegrityConfig& ic = c.integrity;
  BackfillOptions b;
  b.attempts = static_cast<int>(ic.backfill_attempts);
  b.retry_after = ic.backfill_retry_after;
  b.max_pending = ic.backfill_max_pending;
  parts.backfill = std::make_unique<BackfillSource>(b);
  parts.merged = std::make_unique<MergedSource>(main, *parts.backfill);

  integrity::IntegrityOptions o;
  o.digest_grace = std::chrono::duration_cast<std::chrono::seconds>(ic.digest_grace);
  o.backfill_delay = std::chrono::duration_cast<std::chrono::seconds>(ic.backfill_delay);
  o.retention = std::chrono::duration_cast<std::chrono::seconds>(ic.retention);
  o.max_entries = ic.max_entries;
  o.allowed_buckets = c.sqs.allowed_buckets;
  if (aws::TimePoint since; !ic.since.empty() && aws::parse_iso8601(ic.since, since))
    o.coverage_from_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count();
  ensure_state_dir(c);
  // Under 1 KB per remembered log file when rewritten: room for max_entries of them and the
  // appends until the next rewrite.
  store::JournalFileOptions jo;
  jo.max_journal_bytes =
      std::max<uint64_t>(jo.max_journal_bytes, uint64_t{ic.max_entries} * 2048);
  parts.journal = std::make_unique<integrity::StateDirIntegrityStore>(
      (std::filesystem::path(c.state_dir) / "integrity.journal").string(), jo);
  parts.stage = std::make_unique<integrity::IntegrityStage>(
      o, *parts.keys, *clients.s3, parts.backfill.get(), system_clock(), parts.journal.get());
  if (std::string why; !parts.stage->load(why)) throw std::runtime_error(why);
  return parts;
}

void register_run_integrity_metrics(MetricsRegistry& registry, const RunIntegrity& parts) {
  if (!parts.stage) return;
  integrity::register_integrity_metrics(registry, *parts.stage);
  register_backfill_metrics(registry, parts.backfill->counters());
}

}  // namespace trailwarden::cli
