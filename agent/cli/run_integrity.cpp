#include "agent/cli/run_integrity.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/aws/time_util.h"
#include "agent/cli/aws_endpoints.h"

namespace trailwarden::cli {

namespace {

// This agent's id for the shared ledger's claims, kept across restarts in
// <state_dir>/integrity.agent-id (32 hex digits, made once, mode 0600). The file is read only
// if it is a regular file (not followed if it is a symlink), 64 bytes at most; one that is not
// an id is made again.
std::string integrity_agent_id(const Config& c) {
  const std::string path = (std::filesystem::path(c.state_dir) / "integrity.agent-id").string();
  auto valid = [](const std::string& id) {
    return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char ch) {
             return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
           });
  };
  if (int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC); fd >= 0) {
    struct stat st {};
    char buf[64];
    ssize_t n = 0;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    std::string id(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
    if (valid(id)) return id;
  }
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) id += fmt::format("{:08x}", random());
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());  // a leftover, or something planted: never written through
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  const std::string line = id + "\n";
  const bool written = fd >= 0 && ::write(fd, line.data(), line.size()) ==
                                      static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(
        fmt::format("{}: cannot be written: {}", path, std::strerror(errno)));
  return id;
}

// The ledger shared in the table of [alarms.dynamodb], its table checked before anything is read
// from the queue (a missing table is a start-up error, not a stream of failed units).
std::unique_ptr<integrity::DynamoDbIntegrityLedger> make_shared_ledger(
    const Config& c, const std::string& region, const HttpPools& http,
    std::shared_ptr<aws::CredentialsSource> credentials) {
  integrity::DynamoDbIntegrityLedgerOptions o;
  o.table = c.alarms.dynamodb.table;
  o.retention = std::chrono::duration_cast<std::chrono::seconds>(c.integrity.retention);
  o.agent_id = integrity_agent_id(c);
  auto ledger = std::make_unique<integrity::DynamoDbIntegrityLedger>(
      o, make_shared_table_client(c, region, http.table, std::move(credentials),
                                  "integrity.store"));
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> warnings;
    bool retryable = false;
    integrity::SharedStatus st = ledger->check_table(warnings, retryable);
    for (const std::string& w : warnings) spdlog::warn("{}", w);
    if (st.ok) break;
    if (!retryable || attempt >= 10) throw std::runtime_error(st.message);
    spdlog::warn("{}; checking again in {} s", st.message, attempt);
    std::this_thread::sleep_for(std::chrono::seconds(attempt));
  }
  spdlog::info("integrity: the ledger is shared in DynamoDB table {} (this agent: {})", o.table,
               o.agent_id);
  return ledger;
}

}  // namespace

RunIntegrity make_run_integrity(const Config& c, Source& main, AwsClients& clients,
                                const HttpPools& http, const std::string& region,
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
  // A claim outlives the backfill's tries and the pauses between them.
  o.backfill_lease = std::max<std::chrono::seconds>(
      std::chrono::minutes(30),
      std::chrono::duration_cast<std::chrono::seconds>(ic.backfill_retry_after) *
              static_cast<int64_t>(ic.backfill_attempts) +
          std::chrono::minutes(5));
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
  if (ic.store == "dynamodb") parts.shared = make_shared_ledger(c, region, http, credentials);
  parts.stage = std::make_unique<integrity::IntegrityStage>(
      o, *parts.keys, *clients.s3, parts.backfill.get(), system_clock(), parts.journal.get(),
      parts.shared.get());
  if (std::string why; !parts.stage->load(why)) throw std::runtime_error(why);
  return parts;
}

void register_run_integrity_metrics(MetricsRegistry& registry, const RunIntegrity& parts) {
  if (!parts.stage) return;
  integrity::register_integrity_metrics(registry, *parts.stage);
  register_backfill_metrics(registry, parts.backfill->counters());
  if (!parts.shared) return;
  registry.add([&ledger = *parts.shared](PrometheusWriter& w) {
    const integrity::DynamoDbIntegrityLedgerCounters k = ledger.counters();
    w.counter("trailwarden_integrity_shared_requests_total",
              "HTTP requests to the shared ledger's DynamoDB table, retries included.",
              k.requests);
    w.counter("trailwarden_integrity_shared_items_ignored_total",
              "Items of the shared ledger read back and ignored as invalid.", k.ignored);
  });
}

}  // namespace trailwarden::cli
