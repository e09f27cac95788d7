// `run` with [integrity] enabled (docs/integrity.md, "In run"): the parts that check digests as
// they arrive, built from the configuration — CloudTrail's ListPublicKeys client and its key
// cache, the backfill queue, the source the engine reads (the main source merged with the
// backfill queue), the ledger's journal (`<state_dir>/integrity.journal`, read back at start),
// with `[integrity] store = "dynamodb"` the ledger shared in the table of [alarms.dynamodb] (its
// table checked at start), and the integrity stage. Nothing is built when [integrity] is off: the engine reads the main
// source and pays nothing.
#pragma once

#include <memory>

#include "agent/aws/credentials.h"
#include "agent/cli/run_wiring.h"
#include "agent/config/config.h"
#include "agent/integrity/dynamodb_integrity_ledger.h"
#include "agent/integrity/integrity_stage.h"
#include "agent/integrity/public_key_cache.h"
#include "agent/metrics/metrics.h"
#include "agent/sources/backfill/backfill_source.h"
#include "agent/sources/cloudtrail_client.h"
#include "agent/sources/merged_source.h"

namespace trailwarden::cli {

struct RunIntegrity {
  std::unique_ptr<CloudTrailClient> cloudtrail;
  std::unique_ptr<integrity::PublicKeyCache> keys;
  std::unique_ptr<BackfillSource> backfill;
  std::unique_ptr<MergedSource> merged;  // main + backfill: what the engine reads
  std::unique_ptr<integrity::StateDirIntegrityStore> journal;  // <state_dir>/integrity.journal
  std::unique_ptr<integrity::DynamoDbIntegrityLedger> shared;  // store = "dynamodb", else null
  std::unique_ptr<integrity::IntegrityStage> stage;  // uses the parts above: last, destroyed first
};

// The parts when c.integrity.enabled (else all null). `main` and `clients` must outlive them.
// Throws std::runtime_error when they cannot be built (no S3 client: the Kafka source; a bad
// CloudTrail endpoint; a journal that cannot be read or written, or another agent's; the shared
// table missing or not as documented). `region`: the agent's ([aws] region, AWS_REGION, ...).
RunIntegrity make_run_integrity(const Config& c, Source& main, AwsClients& clients,
                                const HttpPools& http, const std::string& region,
                                std::shared_ptr<aws::CredentialsSource> credentials);

// Its metrics (the stage's and the backfill queue's); none when it is off.
void register_run_integrity_metrics(MetricsRegistry& registry, const RunIntegrity& parts);

}  // namespace trailwarden::cli
