// DynamoDbIntegrityLedger: the SharedIntegrityLedger (shared_integrity_ledger.h) of agents
// sharing one queue, in the DynamoDB table of the alarms' shared store (pk S / sk S, TTL on
// expires_at: store/dynamodb_table_check.h). Every item expires `retention` after its last
// write (expires_at = now + retention, epoch seconds). hash(x): the first 32 hex of SHA-256(x).
//
//   pk "ig#lf#<hash(name)>"  sk "r"  a log file's reads and listing: name (S, checked on
//        read), h (SS of "<64 hex SHA-256> <unit>", at most kMaxReads elements), the listing
//        of the digest that lists it (ls SHA-256, lk digest key, lc chain, la account, lr
//        region, lf fingerprint, lb/le the digest's period), expires_at.
//        add_read: one UpdateItem ADD h SET name, expires_at on the condition
//        attribute_not_exists(h) OR size(h) < kMaxReads OR contains(h, element), returning the
//        item (ALL_NEW: the listing); a content beyond kMaxReads is not kept
//        (ConditionalCheckFailed is ok, like the local ledger; the listing is then read with a
//        consistent GetItem). list_file: one UpdateItem SET of the listing's attributes, each
//        if_not_exists (the first listing is kept), returning the item (the reads). Both are
//        single-item atomic steps: of a read and a listing written at once, the second sees
//        the first.
//        reads: BatchGetItem (ConsistentRead; 100 keys a request, the client's job).
//                            sk "b"  the backfill claim: until (N, epoch ms), expires_at.
//        claim_backfill: PutItem (until, owner: the agent id) on the condition
//        attribute_not_exists(pk) OR until < now OR owner = this agent;
//        refused: one consistent GetItem reads the holder's until (gone meanwhile: once more).
//   pk "ig#coverage"  sk "c"  the agents' coverage: from, seen (epoch ms), expires_at.
//        coverage: UpdateItem SET seen = now, from = if_not_exists(from, now) on the condition
//        attribute_not_exists(seen) OR seen >= now - stale; refused (stale): SET from = now on
//        the condition seen < now - stale.
//   pk "ig#chains"  sk "c#<hash(chain)>"  a chain's head: chain, bucket, account, region,
//        backfill (BOOL), last_end, last_key, arrival (ms), alerted_end, expires_at.
//        add_digest: PutItem of the digest item (unconditional, idempotent), then UpdateItem of
//        the head on the condition attribute_not_exists(last_end) OR last_end < end (refused:
//        the head is newer, ok). The head's alerted_end is never written by add_digest.
//        heads: Query of the partition (every page).
//        claim_stopped: UpdateItem SET alerted_end = e, alerted_by = this agent on the
//        condition last_end = e AND (attribute_not_exists(alerted_end) OR alerted_end < e OR
//        (alerted_end = e AND alerted_by = this agent)) (a retried try wins its own claim);
//        refused means lost, unless a consistent GetItem finds no head at all (won: nobody
//        else can claim it).
//   pk "ig#ch#<hash(chain)>"  sk "d#<end, 20 digits zero-padded>"  a digest: chain, key, sha,
//        sig, start, end, starting (BOOL), expires_at.
//        digest: GetItem (consistent); neighbours: two Queries of one item each (sk < d#end
//        descending, sk > d#end ascending; consistent).
//
// The table is shared: everything read back is untrusted input. An item whose name or chain
// is not the one asked (or does not hash to its key), whose types, hex or bounds are wrong, or
// whose read set holds more than kMaxReads elements is ignored (counted; logged at WARN the
// first time for each kind of fault, then at DEBUG), never a crash; a read set with a bad
// element keeps its good ones. A failed call returns SharedStatus::failure naming the table,
// the action and the item (the log file's name or the chain), never credentials.
// Thread-safe (the client is; counters are atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/integrity/shared_integrity_ledger.h"
#include "agent/store/dynamodb_client.h"

namespace trailwarden::integrity {

struct DynamoDbIntegrityLedgerOptions {
  std::string table;
  std::chrono::seconds retention{6 * 3600};  // every item's expires_at = now + retention
  // This agent, kept across its restarts (<state_dir>/integrity.agent-id): a backfill claim
  // names it, and the agent wins its own claim again after a restart. "": claims name nobody.
  std::string agent_id;
};

// Requests and outcomes, for metrics (trailwarden_integrity_shared_requests_total,
// ..._failures_total).
struct DynamoDbIntegrityLedgerCounters {
  uint64_t requests = 0;  // HTTP requests, retries included
  uint64_t retries = 0;   // of those, repeats after a retryable failure
  uint64_t failures = 0;  // calls that returned !ok
  uint64_t ignored = 0;   // items (or read elements) read back and ignored as invalid
};

// The table's keys of the ledger's items (for tests and tools).
std::string ledger_hash(std::string_view s);                 // first 32 hex of SHA-256
std::string read_partition_key(const std::string& name);     // "ig#lf#<hash>"
std::string chain_head_sort_key(const std::string& chain);   // "c#<hash>"
std::string digest_partition_key(const std::string& chain);  // "ig#ch#<hash>"
std::string digest_sort_key(int64_t end);                    // "d#<20 digits>"
inline constexpr const char* kChainsPartitionKey = "ig#chains";

class DynamoDbIntegrityLedger final : public SharedIntegrityLedger {
 public:
  // Throws std::invalid_argument for an empty table name or a retention that is not positive.
  DynamoDbIntegrityLedger(DynamoDbIntegrityLedgerOptions options,
                          std::shared_ptr<store::DynamoDbClient> client);

  // The start-up check (store::check_dynamodb_table); `retryable` set when !ok.
  SharedStatus check_table(std::vector<std::string>& warnings, bool& retryable);

  SharedStatus add_read(const std::string& name, const SharedRead& read, int64_t now_ms,
                        std::optional<SharedListing>& listed) override;
  SharedStatus list_file(const std::string& name, const SharedListing& listing, int64_t now_ms,
                         std::vector<SharedRead>& reads) override;
  SharedStatus coverage(int64_t now_ms, int64_t stale_after_ms, int64_t& from_ms) override;
  SharedStatus reads(const std::vector<std::string>& names,
                     std::map<std::string, std::vector<SharedRead>>& out) override;
  SharedStatus claim_backfill(const std::string& name, int64_t now_ms, int64_t lease_until_ms,
                              bool& won, int64_t& held_until_ms) override;
  SharedStatus add_digest(const SharedChainHead& head, const KnownDigest& digest,
                          int64_t now_ms) override;
  SharedStatus digest(const std::string& chain, int64_t end,
                      std::optional<KnownDigest>& out) override;
  SharedStatus neighbours(const std::string& chain, int64_t end, std::optional<KnownDigest>& before,
                          std::optional<KnownDigest>& after) override;
  SharedStatus heads(std::vector<SharedChainHead>& out) override;
  SharedStatus claim_stopped(const std::string& chain, int64_t last_end, int64_t now_ms,
                             bool& won) override;

  DynamoDbIntegrityLedgerCounters counters() const;

 private:
  void count(const store::DynamoResult& r);
  SharedStatus fail(std::string_view action, std::string_view item, std::string_view why);
  SharedStatus fail(const store::DynamoResult& r, std::string_view action, std::string_view item);
  // Counts an ignored item; logs at WARN the first time for `kind`, then at DEBUG.
  void ignore(std::string_view kind, std::string_view detail);
  int64_t expires_at(int64_t now_ms) const;
  // The listing in a read item (list_file), if it has one and it is as an agent writes it.
  std::optional<SharedListing> parse_listing(const store::Item& item, const std::string& name);
  // The reads in a read item's h: true when there is one valid read at least.
  bool parse_reads(const store::Item& item, const std::string& name,
                   std::vector<SharedRead>& found);
  // The digest of `chain` in `item`, if it is one (else ignored, nullopt).
  std::optional<KnownDigest> parse_digest(const store::Item& item, const std::string& chain,
                                          std::optional<int64_t> end);
  SharedStatus neighbour(const std::string& chain, int64_t end, bool before,
                         std::optional<KnownDigest>& out);

  DynamoDbIntegrityLedgerOptions options_;
  std::shared_ptr<store::DynamoDbClient> client_;
  std::atomic<uint64_t> requests_{0}, retries_{0}, failures_{0}, ignored_{0};
  std::mutex logged_mutex_;
  std::set<std::string, std::less<>> logged_;  // kinds of ignored items logged at WARN
};

}  // namespace trailwarden::integrity
