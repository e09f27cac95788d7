// SharedIntegrityLedger: the part of the integrity stage's ledger (integrity_stage.h) that
// agents sharing one queue share (`[integrity] store = "dynamodb"`, docs/integrity.md "Several
// agents on one queue"), so that a log file read by one agent and listed in a digest another
// agent reads is neither fetched nor reported twice, and a chain is clocked by all of them and
// reported stopped by one.
//
// What is shared:
// - reads and listings: which contents (SHA-256) of a log file some agent read, added before
//   the reading unit is acknowledged, and what the valid digest listing it says (its hash), in
//   one item: the agent that adds the second of the two compares them (a read after the digest
//   is compared by the reading agent);
// - coverage: since when the agents have been adding their reads (listed files of earlier
//   digests, if nobody read them, are not backfilled);
// - backfill claims: a lease, so that one agent fetches a listed file no notification brought;
// - digests: each valid digest of a chain (its hash and signature for the next one's link, its
//   period and whether it starts the chain, for gaps), and the chain's head (its newest digest,
//   which every agent's clock follows), with a claim so that one agent reports it stopped.
// Names are "s3://bucket/key", chain ids "bucket|<DigestKey::chain()>", times epoch ms unless
// said (digest periods: epoch seconds). Everything kept expires after the stage's retention.
//
// Every call may go over the network: the stage makes none under its lock. A failed call
// (SharedStatus !ok: DynamoDB unreachable, throttled past its retries, refused) is retryable
// from the stage's point of view: the unit fails and comes again, or the tick tries again.
// Implementations are thread-safe. The DynamoDB one: dynamodb_integrity_ledger.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/integrity/integrity_ledger.h"

namespace trailwarden::integrity {

struct SharedStatus {
  bool ok = true;
  std::string message;  // why not: names the table, the action and the item

  static SharedStatus failure(std::string m) { return {false, std::move(m)}; }
};

// A content of a log file some agent read.
struct SharedRead {
  std::string sha256;  // 64 lowercase hex
  std::string unit;    // the reading unit's identity (evidence in a finding)
};

// What a valid digest says of one log file it lists (enough for a finding about the file).
struct SharedListing {
  std::string sha256;  // the digest's hashValue, 64 lowercase hex
  std::string digest_key, chain, account, region, fingerprint;
  int64_t digest_start = 0, digest_end = 0;  // epoch seconds
};

// A chain's head: its newest valid digest as far as any agent knows.
struct SharedChainHead {
  std::string chain;  // "bucket|<DigestKey::chain()>"
  std::string bucket, account, region;
  bool backfill = false;  // a backfill chain (never clocked)
  int64_t last_end = 0;   // epoch seconds: the newest digest's end
  std::string last_key;
  int64_t arrival_ms = 0;   // when an agent read that digest
  int64_t alerted_end = 0;  // delivery stopped was claimed while last_end was this (0: never)
};

class SharedIntegrityLedger {
 public:
  virtual ~SharedIntegrityLedger() = default;

  // Adds a read of log file `name`. At most kMaxReads distinct contents are kept per file;
  // one more is not an error (and not kept), like the local ledger. `listed`: the listing a
  // digest wrote for the file (list_file), if any, read in the same atomic step.
  virtual SharedStatus add_read(const std::string& name, const SharedRead& read, int64_t now_ms,
                                std::optional<SharedListing>& listed) = 0;

  // Writes that a valid digest lists `name` (a listing already there is kept), and gives back
  // the reads added so far, in the same atomic step: of an agent adding a read and one listing
  // the file at once, one sees the other.
  virtual SharedStatus list_file(const std::string& name, const SharedListing& listing,
                                 int64_t now_ms, std::vector<SharedRead>& reads) = 0;

  // Since when (epoch ms) the agents have been adding their reads without a pause longer than
  // `stale_after_ms`: started at now_ms when there is no such record or it is stale, refreshed
  // (now_ms as the last sign of life) otherwise.
  virtual SharedStatus coverage(int64_t now_ms, int64_t stale_after_ms, int64_t& from_ms) = 0;

  // The reads any agent added for each of `names` (strongly consistent; a name with none is
  // absent from `out`). Any number of names in one call (the listed files due for backfill).
  virtual SharedStatus reads(const std::vector<std::string>& names,
                             std::map<std::string, std::vector<SharedRead>>& out) = 0;

  // Claims the backfill of `name` until `lease_until_ms`. won: no claim of another call held
  // at `now_ms` (none, or expired); else `held_until_ms` says until when the other one holds.
  virtual SharedStatus claim_backfill(const std::string& name, int64_t now_ms,
                                      int64_t lease_until_ms, bool& won,
                                      int64_t& held_until_ms) = 0;

  // A valid digest of `head.chain`: kept (for the links and gaps of its neighbours), and the
  // chain's head moves to it when it is newer than the head (head.last_end, last_key,
  // arrival_ms; the other fields name the chain). Idempotent.
  virtual SharedStatus add_digest(const SharedChainHead& head, const KnownDigest& digest,
                                  int64_t now_ms) = 0;

  // The digest of `chain` that ends at `end` (epoch seconds), if some agent added it.
  virtual SharedStatus digest(const std::string& chain, int64_t end,
                              std::optional<KnownDigest>& out) = 0;

  // The newest digest of `chain` that ends before `end` and the oldest that ends after it.
  virtual SharedStatus neighbours(const std::string& chain, int64_t end,
                                  std::optional<KnownDigest>& before,
                                  std::optional<KnownDigest>& after) = 0;

  // Every chain's head (all agents' chains).
  virtual SharedStatus heads(std::vector<SharedChainHead>& out) = 0;

  // Claims the delivery-stopped finding of `chain` while its head is `last_end`: won by the
  // first call for that head only (false also when the head has moved past last_end).
  virtual SharedStatus claim_stopped(const std::string& chain, int64_t last_end, int64_t now_ms,
                                     bool& won) = 0;
};

}  // namespace trailwarden::integrity
