// IntegrityStage: `run` checks CloudTrail's digest files as they arrive (docs/integrity.md,
// "In run"), as an engine stage (agent/engine/stage.h) that wants objects: it sees every log
// file the agent reads (its SHA-256) and every digest file (its text and metadata).
//
// - A digest is checked as `trailwarden verify` checks it (check_digest, digest_check.h:
//   location, algorithms, the signature by its region's key from CloudTrail ListPublicKeys).
//   Invalid → integrity.digest_invalid; its log files are an untrusted list (nothing more).
//   Keys unavailable (CloudTrail does not answer) → the unit fails and comes again (SQS).
// - The chain: a digest that names a predecessor is compared with it (previousDigestHashValue,
//   previousDigestSignature); a predecessor the stage has not seen is read from S3 (its bucket
//   must be allowed) and checked like a notified one, and its log files join the ledger. Not
//   there → integrity.digest_chain_broken; a link that does not match → the same. A starting
//   digest after an earlier digest of its chain → integrity.digest_chain_restarted (the gap),
//   whichever of the two arrived first.
// - The ledger: each log file a valid digest lists is compared with what the agent read:
//   another hash → integrity.log_file_modified; not read yet → after backfill_delay it is
//   handed to the BackfillSource (read and matched like a notified file, counted as
//   backfilled); given up (not found, denied, not gzip) → integrity.log_file_unreadable.
// - The clock: a chain (not a backfill chain) with no digest for an hour plus digest_grace
//   after its last one → integrity.digest_delivery_stopped, once per last digest. While a
//   backlog is read (old digests still coming), it runs from the last one's arrival instead.
//
// Findings are deterministic (integrity_finding_uid): a unit that comes again, or a finding made
// again after a restart, has the same uid and the de-duplication window drops the copy. What a
// unit finds goes out with the unit (its alerts); what the clock and backfill find goes out from
// tick(), and is made again at the next tick until delivered() says it is in the outputs.
//
// State: the ledger (integrity_ledger.h: log files read and not yet listed, log files listed,
// digests per chain, findings not yet delivered), bounded by `retention` and max_entries. With a
// journal (state_dir_integrity_store.h, `<state_dir>/integrity.journal`), what a unit changed is
// on disk before the unit is acknowledged (process() fails the unit, which comes again, when it
// cannot be saved), and a restart (load()) takes it back: the chains keep their clocks (each gets
// the grace again from the restart, for digests that waited in the queue), listed log files not
// read yet are backfilled when due, undelivered findings are sent. Without one, a restart forgets
// it: log files listed by digests whose hour began before the start
// (IntegrityOptions::coverage_from_ms) are checked only if read again, and a chain's clock starts
// with its next digest.
//
// Several agents on one queue (`[integrity] store = "dynamodb"`): each sees part of the log files
// and digests, so the part of the ledger that matters across agents is shared
// (shared_integrity_ledger.h): a read is added to it before its unit is acknowledged (a
// backfill's read once its unit is done, since nothing would bring it again); a digest
// compares the log files it lists with the reads of every agent, links to a predecessor another
// agent read without reading it from S3, and finds gaps with the digests of every agent; a listed
// file nobody read is backfilled by the agent that claims it; each chain's clock follows the
// newest digest any agent read (heads read every minute), and delivery stopped is reported by
// the agent that claims it. The journal still keeps this agent's part (its outbox, its
// expectations). No network call is made under the stage's lock. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "agent/engine/stage.h"
#include "agent/integrity/public_key_cache.h"
#include "agent/integrity/shared_integrity_ledger.h"
#include "agent/integrity/state_dir_integrity_store.h"
#include "agent/metrics/metrics.h"
#include "agent/normalize/integrity_finding.h"
#include "agent/sources/backfill/backfill_source.h"
#include "agent/sources/queue.h"

namespace trailwarden::integrity {

struct IntegrityOptions {
  std::chrono::seconds digest_grace{3600};     // a digest is late after its hour plus this
  std::chrono::seconds backfill_delay{900};    // a listed file not read by then is backfilled
  std::chrono::seconds retention{6 * 3600};    // state older than this is dropped (within 10 s)
  size_t max_entries = 1'000'000;              // log files remembered (read or expected)
  size_t max_digest_bytes = size_t{16} << 20;  // a predecessor read from S3
  // Log files listed by digests whose period begins before this (epoch ms) are checked when the
  // agent read them, and otherwise neither backfilled nor reported (counted not checked): an
  // earlier run may have read them. 0: when the stage was made.
  int64_t coverage_from_ms = 0;
  // Buckets the stage may read (a predecessor digest, a backfilled log file); empty: any.
  std::vector<std::string> allowed_buckets;
  // With a shared ledger: how long a backfill claim holds (the backfill's attempts and the pauses
  // between them); another agent that expects the same file waits that long, then looks again.
  std::chrono::seconds backfill_lease{30 * 60};
  // With a shared ledger: how often the chains' heads are read (every agent clocks every chain).
  std::chrono::seconds heads_every{60};
};

struct IntegrityCounters {
  std::atomic<uint64_t> digests_valid{0}, digests_invalid{0}, digests_unchecked{0};
  std::atomic<uint64_t> log_files_valid{0}, log_files_modified{0}, log_files_unreadable{0};
  std::atomic<uint64_t> log_files_not_checked{0};  // expected but dropped (bounds, bucket)
  std::atomic<uint64_t> predecessors_read{0};      // digests read from S3 for the chain
  std::atomic<uint64_t> findings{0};
  std::atomic<uint64_t> shared_failures{0};        // calls to the shared ledger that failed
  std::atomic<uint64_t> shared_reads_used{0};      // listed files compared with another's read
  std::atomic<uint64_t> backfill_claims_lost{0};   // listed files another agent backfills
  std::atomic<int64_t> chains{0};                  // gauge
};

class IntegrityStage final : public Stage {
 public:
  // `keys`, `store`, `backfill`, `journal` and `shared` must outlive the stage; `backfill` may be
  // null (then a listed file never read is reported as integrity.log_file_unreadable "not read
  // by the agent"); `journal` may be null (the ledger is not kept across restarts); `shared` may
  // be null (one agent per queue).
  IntegrityStage(IntegrityOptions options, PublicKeyCache& keys, ObjectStore& store,
                 BackfillSource* backfill, const Clock& clock = system_clock(),
                 StateDirIntegrityStore* journal = nullptr,
                 SharedIntegrityLedger* shared = nullptr);
  ~IntegrityStage() override;

  // Opens the journal and takes the ledger it holds; once, before the engine starts. True
  // without a journal; false with `error` naming the file when it cannot be read or written.
  bool load(std::string& error);

  bool wants_objects() const override { return true; }
  bool wants_unit_identity() const override { return true; }
  std::string process(StageUnit& unit) override;
  void tick(Clock::Wall now, std::vector<AlertRecord>& out) override;
  void finish(std::vector<AlertRecord>& out) override;
  void delivered(const std::vector<AlertRecord>& alerts) override;

  const IntegrityCounters& counters() const;

 private:
  std::string persist_unit();  // the unit's changes on disk: "" or why not

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// trailwarden_integrity_* (docs/monitoring.md). `stage` must outlive `registry`.
void register_integrity_metrics(MetricsRegistry& registry, const IntegrityStage& stage);

}  // namespace trailwarden::integrity
