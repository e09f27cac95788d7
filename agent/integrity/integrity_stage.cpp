#include "agent/integrity/integrity_stage.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/common/buffer.h"
#include "agent/common/failpoint.h"
#include "agent/decode/gzip.h"
#include "agent/http/http.h"
#include "agent/integrity/digest_check.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/integrity_journal_format.h"

namespace trailwarden::integrity {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kExpiryEveryMs = 10'000;
constexpr int64_t kRewriteRetryMs = 10'000;
constexpr int64_t kSharedRetryMs = 10'000;  // a shared-ledger call that failed in a tick
// Listed files a tick hands to the shared ledger at most (the tick runs on the engine's polling
// loop: the rest wait for the next tick, half a second later).
constexpr size_t kSharedDuePerTick = 64;
// Heads a table writer could have made up: a digest period ending this far ahead, an arrival
// in the future.
constexpr int64_t kHeadAheadS = 2 * 3600;
constexpr int64_t kArrivalAheadMs = 5 * 60'000;

int64_t to_ms(Clock::Wall t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string uri(std::string_view bucket, std::string_view key) {
  std::string s = "s3://";
  s.append(bucket).append("/").append(key);
  return s;
}

// A digest as read: from a unit, or a predecessor read from S3.
struct ReadDigest {
  std::string bucket, key;
  DigestKey id;
  DigestCheck check;
};

// What the shared ledger says about a valid digest, asked before the stage's lock is taken.
struct SharedView {
  std::optional<KnownDigest> previous;       // the predecessor it names, as another agent read it
  std::optional<KnownDigest> before, after;  // its chain's neighbours
  std::map<std::string, std::vector<SharedRead>> reads;  // its listed files other agents read
};

// A delivery-stopped finding made by a tick, waiting for the shared claim.
struct StoppedClaim {
  std::string chain;
  int64_t last_end = 0;
  std::string uid;
};

}  // namespace

struct IntegrityStage::Impl {
  Impl(IntegrityOptions o, PublicKeyCache& k, ObjectStore& s, BackfillSource* b, const Clock& c,
       StateDirIntegrityStore* j, SharedIntegrityLedger* sh)
      : opt(std::move(o)), keys(k), store(s), backfill(b), clock(c), journal(j), shared(sh) {
    ledger.coverage_from_ms = opt.coverage_from_ms ? opt.coverage_from_ms : to_ms(c.wall_now());
    if (backfill) {
      backfill->on_finished([this](const ObjectRef& object, bool ok, const std::string& why) {
        std::lock_guard<std::mutex> l(finished_mu);
        finished.push_back({uri(object.bucket, object.key), ok, why});
      });
    }
  }

  struct Finished {
    std::string name;
    bool ok = false;
    std::string why;
  };

  IntegrityOptions opt;
  PublicKeyCache& keys;
  ObjectStore& store;
  BackfillSource* backfill;
  const Clock& clock;
  StateDirIntegrityStore* journal;  // null: the state is not kept across restarts
  SharedIntegrityLedger* shared;    // null: one agent per queue
  IntegrityCounters counters;
  int64_t next_heads_ms = 0;  // when the shared chain heads are read next (tick)
  // When a digest's unit of each chain last failed on the shared ledger: that chain is not
  // reported stopped within digest_grace of it (the digest comes again). Under mu.
  std::map<std::string, int64_t> chain_failed_ms;
  int64_t shared_pause_until_ms = 0;  // a tick's calls failed: the next ones wait until then

  std::mutex mu;
  // Log files listed by digests whose period began before ledger.coverage_from_ms were perhaps
  // read by an earlier run: without its state they are neither backfilled nor reported (counted
  // not checked).
  IntegrityLedger ledger;
  std::map<std::string, SeenLog>& seen = ledger.seen;          // "s3://b/k"
  std::map<std::string, ExpectedLog>& expected = ledger.expected;  // "s3://b/k"
  // Expected log files by the time they are due for backfill, so that a tick looks at the due
  // ones only (an entry whose file was read or dropped meanwhile is skipped when it comes up).
  std::multimap<int64_t, std::string> due;
  int64_t next_expiry_ms = 0;  // retention is applied at most every kExpiryEveryMs
  bool persist_failing = false;  // a tick could not save the ledger (logged once)
  int64_t next_rewrite_try_ms = 0;  // after a failed rewrite of a broken or full journal
  std::map<std::string, Chain>& chains = ledger.chains;          // bucket|chain
  std::map<std::string, AlertRecord>& outbox = ledger.outbox;    // by uid: tick findings
  // What changed since the last commit to the journal (kept until a commit succeeds).
  std::set<std::string> dirty_seen, dirty_expected, dirty_chains, dirty_outbox;
  bool dirty_coverage = false;

  std::mutex finished_mu;  // taken alone: the backfill source calls in with its own lock
  std::vector<Finished> finished;
  // Backfilled files read and compared whose unit is not done yet (memory only: a restart
  // backfills them again): their read, shared once done.
  std::map<std::string, SharedRead> backfill_reads;
  // Reads of finished backfills to add to the shared ledger (a tick, outside mu).
  std::vector<std::pair<std::string, SharedRead>> reads_to_share;

  bool bucket_allowed(std::string_view bucket) const {
    return opt.allowed_buckets.empty() ||
           std::find(opt.allowed_buckets.begin(), opt.allowed_buckets.end(), bucket) !=
               opt.allowed_buckets.end();
  }

  // "" or why the shared ledger failed (counted; the caller fails the unit or tries again).
  std::string shared_failed(const SharedStatus& st) {
    if (st.ok) return {};
    ++counters.shared_failures;
    return "the shared integrity ledger: " + st.message;
  }

  // A finding, counted and logged; quiet: made only (a claim decides whether it is reported).
  AlertRecord finding(IntegrityFindingInput in, bool quiet = false) {
    in.time_ms = to_ms(clock.wall_now());
    if (quiet) return make_integrity_alert(in);
    ++counters.findings;
    spdlog::warn("integrity: {}: {}: {}", integrity_rule_id(in.check), uri(in.bucket, in.key),
                 http::printable_excerpt(in.reason, 400));
    return make_integrity_alert(in);
  }

  // ---- log files ------------------------------------------------------------------------

  // True when the read is a backfill's (the file is queued for backfill): it stays queued, and
  // is shared, until the backfill source says the unit is done (its alerts delivered): a kill
  // before that backfills it again after the restart, nothing says it was read.
  bool log_file_read(const StageObject& o, std::string_view unit, std::vector<AlertRecord>& out) {
    if (o.sha256.empty()) return false;
    const std::string name = uri(o.bucket, o.key);
    const int64_t now = to_ms(clock.wall_now());
    std::lock_guard<std::mutex> l(mu);
    if (auto e = expected.find(name); e != expected.end()) {
      if (e->second.state != ExpectedLog::State::kQueued) {
        compare(e->second, std::string(o.sha256), std::string(unit), out);
        return false;
      }
      // Compared again (a retried backfill): counted once.
      if (backfill_reads.count(name)) e->second.state = ExpectedLog::State::kChecked;
      compare(e->second, std::string(o.sha256), std::string(unit), out);
      e->second.state = ExpectedLog::State::kQueued;
      backfill_reads[name] = {std::string(o.sha256), std::string(unit)};
      return true;
    }
    if (seen.size() + expected.size() >= opt.max_entries && !seen.count(name)) {
      ++counters.log_files_not_checked;
      return false;
    }
    SeenLog& s = seen[name];
    s.at_ms = now;
    dirty_seen.insert(name);
    for (const auto& [sha, u] : s.reads)
      if (sha == o.sha256) return false;
    if (s.reads.size() < kMaxReads) s.reads.emplace_back(std::string(o.sha256), std::string(unit));
    return false;
  }

  // Adds the read to the shared ledger (outside mu): "" or why the unit must come again.
  // A digest another agent read lists it already (the read comes after the digest): compared
  // here, the finding going out with the unit.
  std::string share_read(const StageObject& o, std::string_view unit,
                         std::vector<AlertRecord>& out) {
    if (!shared || o.sha256.empty()) return {};
    const std::string name = uri(o.bucket, o.key);
    std::optional<SharedListing> listed;
    if (std::string e = shared_failed(shared->add_read(
            name, {std::string(o.sha256), std::string(unit)}, to_ms(clock.wall_now()), listed));
        !e.empty())
      return e;
    if (!listed) return {};
    if (!is_hex(listed->sha256, 64) || http::ascii_lower(listed->sha256) != listed->sha256) {
      spdlog::warn("integrity: the shared listing of {} has no SHA-256: ignored", name);
      return {};
    }
    std::lock_guard<std::mutex> l(mu);
    if (expected.count(name)) return {};  // this agent read the digest: compared already
    ExpectedLog e;
    e.bucket = o.bucket;
    e.key = o.key;
    e.sha256 = listed->sha256;
    e.digest_key = listed->digest_key;
    e.chain = listed->chain;
    e.account = listed->account;
    e.region = listed->region;
    e.fingerprint = listed->fingerprint;
    e.digest_start = listed->digest_start;
    e.digest_end = listed->digest_end;
    e.listed_ms = to_ms(clock.wall_now());
    SeenLog read;
    if (auto it = seen.find(name); it != seen.end()) {
      read = std::move(it->second);
      seen.erase(it);
    } else {
      read.reads.emplace_back(std::string(o.sha256), std::string(unit));
    }
    ExpectedLog& kept = expected[name] = std::move(e);
    dirty_expected.insert(name);
    ++counters.shared_reads_used;
    for (const auto& [sha, u] : read.reads) compare(kept, sha, u, out);
    return {};
  }

  // The shared coverage (the ledger's, unless `since` says): since when every agent's reads are
  // in the table. Network outside mu; a failure keeps the one the agent has.
  void refresh_coverage(int64_t now_ms) {
    if (!shared || opt.coverage_from_ms != 0) return;
    int64_t from = 0;
    const int64_t stale =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.retention).count();
    if (std::string e = shared_failed(shared->coverage(now_ms, stale, from)); !e.empty()) {
      spdlog::warn("integrity: {}; the coverage start stays {}", e,
                   format_utc(ledger_coverage() / 1000));
      return;
    }
    std::lock_guard<std::mutex> l(mu);
    if (from > 0 && from != ledger.coverage_from_ms) {
      ledger.coverage_from_ms = from;
      dirty_coverage = true;
    }
  }

  int64_t ledger_coverage() {
    std::lock_guard<std::mutex> l(mu);
    return ledger.coverage_from_ms;
  }

  // The digest's hash for `e` against what was read. Kept checked (not erased): a unit that
  // comes again finds the same.
  void compare(ExpectedLog& e, const std::string& sha256, const std::string& unit,
               std::vector<AlertRecord>& out) {
    const bool first = e.state != ExpectedLog::State::kChecked;
    e.state = ExpectedLog::State::kChecked;
    touch(e);
    if (sha256 == e.sha256) {
      if (first) ++counters.log_files_valid;
      return;
    }
    bool known = false;
    for (const auto& [sha, u] : e.mismatches) known = known || sha == sha256;
    if (!known && e.mismatches.size() < kMaxReads) {
      e.mismatches.emplace_back(sha256, unit);
      ++counters.log_files_modified;
    }
    modified(e, sha256, unit, out);
  }

  void modified(const ExpectedLog& e, const std::string& sha256, const std::string& unit,
                std::vector<AlertRecord>& out) {
    IntegrityFindingInput in;
    in.check = IntegrityCheck::kLogFileModified;
    in.reason = "the log file's SHA-256 is not the one its digest lists (hash value doesn't match)";
    fill_listed(in, e);
    in.actual_sha256 = sha256;
    in.unit = unit;
    out.push_back(finding(std::move(in)));
  }

  static void fill_listed(IntegrityFindingInput& in, const ExpectedLog& e) {
    in.bucket = e.bucket;
    in.key = e.key;
    in.account = e.account;
    in.region = e.region;
    in.chain = e.chain;
    in.digest_key = e.digest_key;
    in.expected_sha256 = e.sha256;
    in.fingerprint = e.fingerprint;
    in.from_ms = e.digest_start * 1000;
    in.to_ms = e.digest_end * 1000;
  }

  // ---- digests --------------------------------------------------------------------------

  // Checks a digest's own content (signature, location, account). Network: ListPublicKeys.
  ReadDigest check(std::string_view bucket, std::string_view key, std::string_view content,
                   const ObjectMetadata* metadata, std::string& key_error) {
    ReadDigest d;
    d.bucket = bucket;
    d.key = key;
    if (!parse_digest_key(key, d.id, key_error)) return d;
    DigestCheckInput in;
    in.bucket = bucket;
    in.key = key;
    in.region = d.id.source_region;
    in.inflated = content;
    in.metadata = metadata;
    in.key_from = d.id.end - 2 * kHour;
    in.key_until = d.id.end + kHour;
    d.check = check_digest(in, keys);
    if (d.check.verdict == DigestVerdict::kValid && d.check.file.account != d.id.account) {
      d.check.verdict = DigestVerdict::kInvalid;
      d.check.reason = "its awsAccountId " + d.check.file.account + " is not the account of its key";
    }
    return d;
  }

  std::string chain_id(const ReadDigest& d) const { return d.bucket + "|" + d.id.chain(); }

  IntegrityFindingInput about_digest(const ReadDigest& d, IntegrityCheck c, std::string reason) {
    IntegrityFindingInput in;
    in.check = c;
    in.reason = std::move(reason);
    in.bucket = d.bucket;
    in.key = d.key;
    in.account = d.id.account;
    in.region = d.id.source_region;
    in.chain = chain_id(d);
    in.digest_key = d.key;
    if (d.check.parsed) {
      in.fingerprint = d.check.file.fingerprint;
      in.from_ms = d.check.file.start * 1000;
      in.to_ms = d.check.file.end * 1000;
    } else {
      in.to_ms = d.id.end * 1000;
    }
    return in;
  }

  std::string digest_read(const StageObject& o, std::vector<AlertRecord>& out) {
    std::string key_error;
    ReadDigest d = check(o.bucket, o.key, o.content, o.metadata, key_error);
    if (!key_error.empty()) {
      IntegrityFindingInput in;
      in.check = IntegrityCheck::kDigestInvalid;
      in.reason = "a digest file under a key that is not a digest key: " + key_error;
      in.bucket = o.bucket;
      in.key = o.key;
      in.digest_key = o.key;
      ++counters.digests_invalid;
      out.push_back(finding(std::move(in)));
      return {};
    }
    if (d.check.verdict == DigestVerdict::kUnchecked) {
      ++counters.digests_unchecked;
      return "its signature could not be checked (CloudTrail's public keys): " + d.check.reason;
    }
    if (d.check.verdict != DigestVerdict::kValid) {
      ++counters.digests_invalid;
      out.push_back(finding(about_digest(d, IntegrityCheck::kDigestInvalid, d.check.reason)));
      return {};
    }
    // What other agents know of it (outside the lock: network calls).
    const DigestFile& f = d.check.file;
    SharedView view;
    if (shared)
      if (std::string error = share_digest(d, view); !error.empty()) return chain_failed(d, error);
    // The predecessor: known (here, or to another agent), or read from S3.
    std::optional<ReadDigest> previous;
    bool previous_missing = false;
    if (!f.starting() && f.previous_bucket == d.bucket && !view.previous &&
        !knows(chain_id(d), f.previous_key)) {
      std::string error = read_previous(d, previous, previous_missing);
      if (!error.empty()) return error;
      // Read from S3 by this agent: the others link to it through the table.
      if (shared && previous && previous->check.verdict == DigestVerdict::kValid)
        if (std::string e = share_valid_digest(*previous); !e.empty()) return chain_failed(d, e);
    }
    std::lock_guard<std::mutex> l(mu);
    if (shared) adopt_view(d, view);
    if (previous) {
      if (previous->check.verdict == DigestVerdict::kValid) {
        add_digest(*previous, out);
      } else {
        ++counters.digests_invalid;
        out.push_back(
            finding(about_digest(*previous, IntegrityCheck::kDigestInvalid, previous->check.reason)));
      }
    }
    link(d, previous ? &*previous : nullptr, previous_missing, out);
    add_digest(d, out, shared ? &view.reads : nullptr);
    return {};
  }

  // Adds the valid digest `d` to the shared ledger, then asks it for d's neighbours, the
  // predecessor d names and the reads of the log files d lists that this agent has not read.
  // Added first: of two agents adding the two sides of a gap at once, one sees the other.
  std::string share_digest(const ReadDigest& d, SharedView& view) {
    const DigestFile& f = d.check.file;
    const std::string id = chain_id(d);
    if (std::string e = share_valid_digest(d); !e.empty()) return e;
    if (std::string e = shared_failed(shared->neighbours(id, f.end, view.before, view.after));
        !e.empty())
      return e;
    if (!f.starting() && f.previous_bucket == d.bucket) {
      if (view.before && view.before->key == f.previous_key) {
        view.previous = view.before;
      } else if (!knows(id, f.previous_key)) {
        DigestKey named;
        std::string ignored;
        // Only in its own chain (a predecessor of another chain is read from S3, as before).
        if (parse_digest_key(f.previous_key, named, ignored) && d.bucket + "|" + named.chain() == id) {
          if (std::string e = shared_failed(shared->digest(id, named.end, view.previous));
              !e.empty())
            return e;
          if (view.previous && view.previous->key != f.previous_key) view.previous.reset();
        }
      }
    }
    // Each listed file not listed here before: the listing written, the reads so far read.
    std::vector<const DigestLogFile*> files;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const DigestLogFile& lf : f.log_files)
        if (lf.hash_algorithm == "SHA-256" && bucket_allowed(lf.bucket) &&
            !expected.count(uri(lf.bucket, lf.key)))
          files.push_back(&lf);
    }
    const int64_t now = to_ms(clock.wall_now());
    for (const DigestLogFile* lf : files) {
      SharedListing listing;
      listing.sha256 = http::ascii_lower(lf->hash);
      listing.digest_key = d.key;
      listing.chain = id;
      listing.account = d.id.account;
      listing.region = d.id.source_region;
      listing.fingerprint = f.fingerprint;
      listing.digest_start = f.start;
      listing.digest_end = f.end;
      const std::string name = uri(lf->bucket, lf->key);
      std::vector<SharedRead> reads;
      if (std::string e = shared_failed(shared->list_file(name, listing, now, reads)); !e.empty())
        return e;
      if (!reads.empty()) view.reads[name] = std::move(reads);
    }
    return {};
  }

  // A valid digest's unit failed on the shared ledger: its chain's clock waits for it (it comes
  // again). Returns `error`.
  std::string chain_failed(const ReadDigest& d, std::string error) {
    std::lock_guard<std::mutex> l(mu);
    chain_failed_ms[chain_id(d)] = to_ms(clock.wall_now());
    return error;
  }

  // Adds the valid digest `d` to the shared ledger (its chain's head moves if it is newer).
  std::string share_valid_digest(const ReadDigest& d) {
    const DigestFile& f = d.check.file;
    const int64_t now = to_ms(clock.wall_now());
    SharedChainHead head;
    head.chain = chain_id(d);
    head.bucket = d.bucket;
    head.account = d.id.account;
    head.region = d.id.source_region;
    head.backfill = d.id.backfill;
    head.last_end = f.end;
    head.last_key = d.key;
    head.arrival_ms = now;
    const KnownDigest known{d.key, d.check.sha256, d.check.signature, f.start, f.end, f.starting()};
    return shared_failed(shared->add_digest(head, known, now));
  }

  // The digests other agents read, next to `d` in its chain, join the chain (under mu): link()
  // and restarts() then see them as if this agent had read them.
  void adopt_view(const ReadDigest& d, const SharedView& view) {
    Chain& ch = chains[chain_id(d)];
    const int64_t horizon = to_ms(clock.wall_now()) / 1000 + kHeadAheadS;
    for (const std::optional<KnownDigest>* k : {&view.before, &view.after, &view.previous})
      // A digest item ending in the future is none an agent read (a table writer's).
      if (*k && (*k)->end != d.check.file.end && (*k)->end <= horizon && (*k)->start >= 0 &&
          (*k)->start <= (*k)->end)
        ch.digests.try_emplace((*k)->end, **k);
  }

  bool knows(const std::string& chain, const std::string& key) {
    std::lock_guard<std::mutex> l(mu);
    auto c = chains.find(chain);
    if (c == chains.end()) return false;
    for (const auto& [end, k] : c->second.digests)
      if (k.key == key) return true;
    return false;
  }

  // Reads the digest `d` names as its predecessor. "" or why the unit must come again.
  std::string read_previous(const ReadDigest& d, std::optional<ReadDigest>& previous,
                            bool& missing) {
    const DigestFile& f = d.check.file;
    if (!bucket_allowed(f.previous_bucket)) return {};  // link() reports it
    ObjectRef ref;
    ref.bucket = f.previous_bucket;
    ref.key = f.previous_key;
    Buffer raw;
    ObjectMetadata meta;
    ++counters.predecessors_read;
    const RemoteStatus st = store.get_with_metadata(ref, opt.max_digest_bytes, raw, meta);
    if (st.code == RemoteStatus::Code::kNotFound || st.code == RemoteStatus::Code::kAccessDenied) {
      // 403 is how S3 says "no such key" without s3:ListBucket (docs/aws.md): the same finding.
      missing = true;
      return {};
    }
    if (st.code == RemoteStatus::Code::kRetry || st.code == RemoteStatus::Code::kFatal)
      // Not an answer about the object (no answer, throttled, credentials): retried.
      return "its predecessor " + uri(ref.bucket, ref.key) + " could not be read: " + st.message;
    Buffer inflated;
    std::string error;
    std::string key_error;
    if (!st.ok()) {
      error = "unreadable: " + st.message;
    } else if (inflate_gzip(raw.view(), opt.max_digest_bytes, inflated, error) !=
               InflateResult::kOk) {
      error = "invalid format (" + error + ")";
    }
    ReadDigest p;
    if (error.empty()) {
      p = check(ref.bucket, ref.key, inflated.view(), &meta, key_error);
      if (!key_error.empty()) error = "not a digest key: " + key_error;
    } else {
      p.bucket = ref.bucket;
      p.key = ref.key;
      if (!parse_digest_key(ref.key, p.id, key_error)) p.id = d.id;
    }
    if (!error.empty()) {
      p.check = {};
      p.check.verdict = DigestVerdict::kInvalid;
      p.check.reason = error;
    }
    if (p.check.verdict == DigestVerdict::kUnchecked)
      return "its predecessor's signature could not be checked: " + p.check.reason;
    previous = std::move(p);
    return {};
  }

  // The links of a valid digest `d` to its chain (under mu).
  void link(const ReadDigest& d, const ReadDigest* previous, bool previous_missing,
            std::vector<AlertRecord>& out) {
    const DigestFile& f = d.check.file;
    Chain& ch = chains[chain_id(d)];
    if (f.starting()) return;  // restarts(): a gap before it, whatever the order of arrival
    if (f.previous_bucket != d.bucket || !bucket_allowed(f.previous_bucket)) {
      IntegrityFindingInput in = about_digest(d, IntegrityCheck::kDigestChainBroken,
          "it names a predecessor in another bucket: " + uri(f.previous_bucket, f.previous_key));
      out.push_back(finding(std::move(in)));
      return;
    }
    if (previous_missing) {
      IntegrityFindingInput in = about_digest(d, IntegrityCheck::kDigestChainBroken,
          "the digest it names as its predecessor is not in the bucket (deleted, or not "
          "readable): " + uri(f.previous_bucket, f.previous_key));
      // About the missing digest, named by this one.
      in.key = f.previous_key;
      in.expected_sha256 = f.previous_hash;
      out.push_back(finding(std::move(in)));
      return;
    }
    std::string prev_sha, prev_signature;
    if (previous && previous->check.verdict == DigestVerdict::kValid) {
      // Read from S3 just now (it may belong to another chain: compared all the same).
      prev_sha = previous->check.sha256;
      prev_signature = previous->check.signature;
    } else {
      for (const auto& [end, k] : ch.digests)
        if (k.key == f.previous_key) {
          prev_sha = k.sha256;
          prev_signature = k.signature;
        }
    }
    if (prev_sha.empty()) return;  // the predecessor was invalid: reported as such
    std::string why;
    if (prev_sha != f.previous_hash)
      why = "its previousDigestHashValue is not the SHA-256 of the digest it names";
    else if (http::ascii_lower(prev_signature) != http::ascii_lower(f.previous_signature))
      why = "its previousDigestSignature is not the signature of the digest it names";
    if (why.empty()) return;
    IntegrityFindingInput in = about_digest(d, IntegrityCheck::kDigestChainBroken,
                                            why + " (" + uri(d.bucket, f.previous_key) + ")");
    in.key = f.previous_key;  // the digest the link does not match, named by this one
    in.expected_sha256 = f.previous_hash;
    in.actual_sha256 = prev_sha;
    out.push_back(finding(std::move(in)));
  }

  // Records a valid digest and compares or expects the log files it lists (under mu).
  // `shared_reads`: the listed files' reads by other agents (share_digest), or null.
  void add_digest(const ReadDigest& d, std::vector<AlertRecord>& out,
                  const std::map<std::string, std::vector<SharedRead>>* shared_reads = nullptr) {
    const DigestFile& f = d.check.file;
    const std::string id = chain_id(d);
    Chain& ch = chains[id];
    dirty_chains.insert(id);
    if (ch.bucket.empty()) {
      ch.bucket = d.bucket;
      ch.account = d.id.account;
      ch.region = d.id.source_region;
      ch.backfill = d.id.backfill;
      counters.chains = static_cast<int64_t>(chains.size());
    }
    auto [it, added] = ch.digests.try_emplace(f.end);
    if (added) ++counters.digests_valid;
    it->second = {d.key, d.check.sha256, d.check.signature, f.start, f.end, f.starting()};
    const int64_t now = to_ms(clock.wall_now());
    if (f.end > ch.last_end) {
      // Only a newer digest moves the clock: an old one notified again (by anyone who can send
      // to the queue) must not keep a stopped chain quiet.
      ch.last_end = f.end;
      ch.last_key = d.key;
      ch.last_arrival_ms = now;
    }
    restarts(ch, id, it, out);
    for (const DigestLogFile& lf : f.log_files) {
      const std::string name = uri(lf.bucket, lf.key);
      if (auto known = expected.find(name); known != expected.end()) {
        // Listed before (the digest's unit came again): what it found, found again.
        for (const auto& [sha, u] : known->second.mismatches) modified(known->second, sha, u, out);
        continue;
      }
      ExpectedLog e;
      e.bucket = lf.bucket;
      e.key = lf.key;
      e.sha256 = http::ascii_lower(lf.hash);
      e.digest_key = d.key;
      e.chain = id;
      e.account = d.id.account;
      e.region = d.id.source_region;
      e.fingerprint = f.fingerprint;
      e.digest_start = f.start;
      e.digest_end = f.end;
      e.listed_ms = now;
      const int64_t due_ms =
          now + std::chrono::duration_cast<std::chrono::milliseconds>(opt.backfill_delay).count();
      if (lf.hash_algorithm != "SHA-256" || !bucket_allowed(lf.bucket)) {
        ++counters.log_files_not_checked;
        spdlog::warn("integrity: {} lists {} ({}): not checked", d.key, name,
                     lf.hash_algorithm != "SHA-256" ? "hash algorithm " + lf.hash_algorithm
                                                    : std::string("a bucket not allowed"));
        continue;
      }
      if (auto s = seen.find(name); s != seen.end()) {
        SeenLog read = std::move(s->second);
        seen.erase(s);
        ExpectedLog& kept = expected[name] = std::move(e);
        dirty_expected.insert(name);
        for (const auto& [sha, u] : read.reads) compare(kept, sha, u, out);
        // And what other agents read of it (another content, perhaps).
        if (shared_reads)
          if (auto r = shared_reads->find(name); r != shared_reads->end())
            for (const SharedRead& other : r->second) compare(kept, other.sha256, other.unit, out);
        continue;
      }
      if (shared_reads && seen.size() + expected.size() < opt.max_entries) {
        if (auto r = shared_reads->find(name); r != shared_reads->end() && !r->second.empty()) {
          // Read by another agent: compared here, and neither backfilled nor read again.
          ExpectedLog& kept = expected[name] = std::move(e);
          dirty_expected.insert(name);
          ++counters.shared_reads_used;
          for (const SharedRead& read : r->second) compare(kept, read.sha256, read.unit, out);
          continue;
        }
      }
      if (f.start * 1000 < ledger.coverage_from_ms) {
        // Perhaps read before this agent started: without that run's state, not checked.
        ++counters.log_files_not_checked;
        continue;
      }
      if (seen.size() + expected.size() >= opt.max_entries) {
        ++counters.log_files_not_checked;
        continue;
      }
      due.emplace(due_ms, name);
      expected[name] = std::move(e);
      dirty_expected.insert(name);
    }
  }

  // A starting digest after an older digest of its chain is a gap (logging or validation
  // stopped, then started again). Worked out from the chain's digests whichever arrived first
  // (SQS does not order them), for the digest just added at `at` and its newer neighbour; the
  // finding is about the starting digest, so both ways give the same uid.
  void restarts(const Chain& ch, const std::string& id, std::map<int64_t, KnownDigest>::iterator at,
                std::vector<AlertRecord>& out) {
    auto gap = [&](const KnownDigest& older, const KnownDigest& started) {
      const int64_t to = std::max(started.start, older.end);
      IntegrityFindingInput in;
      in.check = IntegrityCheck::kChainRestarted;
      in.reason = "No log files were delivered by CloudTrail between " + format_utc(older.end) +
                  " and " + format_utc(to) +
                  " (logging or log file validation was stopped, then started again)";
      in.bucket = ch.bucket;
      in.key = started.key;
      in.account = ch.account;
      in.region = ch.region;
      in.chain = id;
      in.digest_key = started.key;
      in.from_ms = older.end * 1000;
      in.to_ms = to * 1000;
      out.push_back(finding(std::move(in)));
    };
    if (at->second.starting && at != ch.digests.begin()) gap(std::prev(at)->second, at->second);
    if (auto next = std::next(at); next != ch.digests.end() && next->second.starting)
      gap(at->second, next->second);
  }

  // ---- the clock ------------------------------------------------------------------------

  void tick(int64_t now_ms) {
    std::vector<Finished> done;
    {
      std::lock_guard<std::mutex> l(finished_mu);
      done.swap(finished);
    }
    // Every chain's head as the agents sharing the ledger know it (outside mu: a network call).
    std::vector<SharedChainHead> heads;
    bool have_heads = false;
    if (shared && now_ms >= next_heads_ms && now_ms >= shared_pause_until_ms) {
      const std::string error = shared_failed(shared->heads(heads));
      have_heads = error.empty();
      if (have_heads) refresh_coverage(now_ms);
      next_heads_ms =
          now_ms + (have_heads ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                     opt.heads_every).count()
                               : kSharedRetryMs);
      if (!have_heads) {
        shared_pause_until_ms = now_ms + kSharedRetryMs;
        spdlog::warn("integrity: {}; the chains' clocks follow this agent's digests until it "
                     "answers",
                     error);
      }
    }
    std::vector<StoppedClaim> stopped;  // shared: reported by the agent that claims them
    std::vector<std::string> due_names;  // shared: read by another agent, or claimed
    {
      std::lock_guard<std::mutex> l(mu);
      settle_finished(done);
      if (have_heads) adopt_heads(heads, now_ms);
      clock_chains(now_ms, stopped);
      take_due(now_ms, due_names);
      // On disk before they are claimed: an agent killed between the claim and the save sends
      // them after its restart (the uid is the same as another agent's copy would be). Not
      // saved: not claimed either (claimed at a later tick).
      if (!stopped.empty())
        if (std::string error = persist(true); !error.empty()) {
          spdlog::error("integrity: {}; delivery stopped is claimed at a later tick", error);
          for (const StoppedClaim& c : stopped) unclaim(c);
          stopped.clear();
        }
    }
    std::vector<std::string> withdrawn;
    if (!stopped.empty() || !due_names.empty())
      settle_shared(now_ms, stopped, due_names, withdrawn);
    share_backfill_reads(now_ms);
    std::lock_guard<std::mutex> l(mu);
    expire(now_ms);
    const std::string saved = persist(true);
    // The findings another agent reports, or claimed again later, leave the journal's outbox
    // once the chains' new state is on disk (a kill -9 in between sends a copy: the same uid).
    if (saved.empty() && journal && !withdrawn.empty()) journal->delivered(withdrawn, now_ms);
    if (const std::string& error = saved; !error.empty()) {
      if (!persist_failing)
        spdlog::error("integrity: {}; the ledger stays in memory and is saved again at the next "
                      "tick",
                      error);
      persist_failing = true;
    } else if (persist_failing) {
      spdlog::info("integrity: the ledger is saved again");
      persist_failing = false;
    }
  }

  // Backfills the backfill source finished (under mu).
  void settle_finished(std::vector<Finished>& done) {
    for (Finished& f : done) {
      auto e = expected.find(f.name);
      if (auto r = backfill_reads.find(f.name); r != backfill_reads.end()) {
        // Read and compared by this stage: checked now that the unit is done.
        if (shared && reads_to_share.size() < opt.max_entries)
          reads_to_share.emplace_back(f.name, std::move(r->second));
        backfill_reads.erase(r);
        if (e != expected.end()) {
          e->second.state = ExpectedLog::State::kChecked;
          touch(e->second);
        }
      }
      if (e == expected.end()) continue;
      if (f.ok) {
        // Read and delivered, but the stage saw no log file there (process() came first).
        if (e->second.state != ExpectedLog::State::kChecked)
          unreadable(e->second, "it was read, and is not a CloudTrail log file", "");
        continue;
      }
      // Read and compared already (a later step failed: the outputs, the ledger's save): not
      // unreadable. A content that was not the listed one made a finding that went with the
      // failed units only: it goes out from here now.
      if (e->second.state != ExpectedLog::State::kChecked) {
        unreadable(e->second, "it could not be read: " + f.why, f.why);
        continue;
      }
      std::vector<AlertRecord> found;
      for (const auto& [sha, u] : e->second.mismatches) modified(e->second, sha, u, found);
      for (AlertRecord& a : found) add_outbox(std::move(a));
    }
  }

  // The heads other agents moved (under mu): each chain's clock follows the newest digest any
  // agent read, and a chain another agent reported stopped is not reported again.
  void adopt_heads(const std::vector<SharedChainHead>& heads, int64_t now_ms) {
    for (const SharedChainHead& h : heads) {
      if (h.chain.empty() || h.bucket.empty() || h.last_end <= 0) continue;
      if (h.last_end > now_ms / 1000 + kHeadAheadS || h.arrival_ms > now_ms + kArrivalAheadMs ||
          !bucket_allowed(h.bucket) || h.chain.rfind(h.bucket + "|", 0) != 0) {
        spdlog::warn("integrity: the shared head of chain {:?} is in the future (digest end {}, "
                     "arrival {}), or of a bucket not allowed: ignored",
                     h.chain, format_utc(h.last_end), format_utc(h.arrival_ms / 1000));
        continue;
      }
      auto [it, added] = chains.try_emplace(h.chain);
      Chain& ch = it->second;
      bool changed = added;
      if (ch.bucket.empty()) {
        ch.bucket = h.bucket;
        ch.account = h.account;
        ch.region = h.region;
        ch.backfill = h.backfill;
        // A chain this agent learns now gets the grace from now, as after a restart: the
        // agents may all have been down, with its digests waiting in the queue.
        ch.last_arrival_ms = now_ms;
      }
      if (h.last_end > ch.last_end) {
        ch.last_end = h.last_end;
        ch.last_key = h.last_key;
        ch.last_arrival_ms = std::max(ch.last_arrival_ms, h.arrival_ms);
        changed = true;
      }
      if (h.alerted_end == ch.last_end && ch.alerted_stopped_end != ch.last_end) {
        ch.alerted_stopped_end = ch.last_end;
        changed = true;
      }
      if (changed) dirty_chains.insert(h.chain);
    }
    counters.chains = static_cast<int64_t>(chains.size());
  }

  // Chains with no digest for an hour plus the grace (under mu): a finding each, in the outbox;
  // with a shared ledger also in `stopped`, kept only if this agent wins the claim.
  void clock_chains(int64_t now_ms, std::vector<StoppedClaim>& stopped) {
    const int64_t grace = std::chrono::duration_cast<std::chrono::seconds>(opt.digest_grace).count();
    // With a shared ledger that failed lately: the digests whose units failed with it come
    // again within the grace; and a claim could not be made.
    if (shared && now_ms < shared_pause_until_ms) return;
    std::erase_if(chain_failed_ms,
                  [&](const auto& kv) { return now_ms > kv.second + grace * 1000; });
    for (auto& [id, ch] : chains) {
      if (ch.backfill || ch.last_end == 0 || ch.alerted_stopped_end == ch.last_end) continue;
      if (shared && chain_failed_ms.count(id)) continue;  // a digest of it comes again
      // The next digest ends an hour after the last and is late after the grace; while a
      // backlog is read (old digests still arriving) the clock runs from the last arrival.
      const int64_t deadline = ch.last_end + kHour + grace;
      if (now_ms / 1000 <= deadline || now_ms <= ch.last_arrival_ms + grace * 1000) continue;
      ch.alerted_stopped_end = ch.last_end;
      dirty_chains.insert(id);
      IntegrityFindingInput in;
      in.check = IntegrityCheck::kDeliveryStopped;
      in.reason = "no digest after " + format_utc(ch.last_end) + " by " + format_utc(now_ms / 1000) +
                  " (log file validation or logging was stopped, the newest digests were "
                  "deleted, or their notifications do not reach the agent)";
      in.bucket = ch.bucket;
      in.key = ch.last_key;
      in.account = ch.account;
      in.region = ch.region;
      in.chain = id;
      in.digest_key = ch.last_key;
      in.from_ms = ch.last_end * 1000;
      in.to_ms = deadline * 1000;
      AlertRecord a = finding(std::move(in), shared != nullptr);
      if (shared) stopped.push_back({id, ch.last_end, a.uid});
      add_outbox(std::move(a));
    }
  }

  // Listed log files due for backfill (under mu): queued; with a shared ledger put in
  // `due_names` instead (settle_shared: read by another agent, or claimed first).
  void take_due(int64_t now_ms, std::vector<std::string>& due_names) {
    if (shared && now_ms < shared_pause_until_ms) return;
    while (!due.empty() && due.begin()->first <= now_ms &&
           (!shared || due_names.size() < kSharedDuePerTick)) {
      std::string name = std::move(due.begin()->second);
      due.erase(due.begin());
      auto found = expected.find(name);
      if (found == expected.end() || found->second.state != ExpectedLog::State::kWaiting) continue;
      ExpectedLog& e = found->second;
      if (!bucket_allowed(e.bucket)) {
        // Listed before source.sqs.allowed_buckets changed (a restart): not fetched.
        e.state = ExpectedLog::State::kChecked;
        touch(e);
        ++counters.log_files_not_checked;
        continue;
      }
      if (shared)
        due_names.push_back(std::move(name));
      else
        queue_backfill(e);
    }
  }

  // Hands the listed file `e` to the backfill source (under mu).
  void queue_backfill(ExpectedLog& e) {
    if (!backfill) {
      unreadable(e, "listed by its digest and not read by the agent (no notification came)", "");
      return;
    }
    ObjectRef ref;
    ref.bucket = e.bucket;
    ref.key = e.key;
    e.state = ExpectedLog::State::kQueued;
    touch(e);
    const uint64_t dropped = backfill->counters().dropped.load();
    // false: already queued (it will say when it is done), or the queue is full (counted).
    if (!backfill->add(ref, "listed in " + e.digest_key) &&
        backfill->counters().dropped.load() != dropped) {
      e.state = ExpectedLog::State::kChecked;
      ++counters.log_files_not_checked;
    }
  }

  // The reads of finished backfills go to the shared ledger (outside mu; kept for the next tick
  // when the table fails).
  void share_backfill_reads(int64_t now_ms) {
    std::vector<std::pair<std::string, SharedRead>> todo;
    {
      std::lock_guard<std::mutex> l(mu);
      if (now_ms < shared_pause_until_ms) return;
      todo.swap(reads_to_share);
    }
    size_t i = 0;
    std::string error;
    for (; i < todo.size() && i < kSharedDuePerTick; ++i) {
      std::optional<SharedListing> listed;
      error = shared_failed(shared->add_read(todo[i].first, todo[i].second, now_ms, listed));
      if (!error.empty()) break;
    }
    if (i == todo.size()) return;
    std::lock_guard<std::mutex> l(mu);
    if (!error.empty()) {
      shared_pause_until_ms = now_ms + kSharedRetryMs;
      spdlog::warn("integrity: {}; {} backfilled reads are shared at a later tick", error,
                   todo.size() - i);
    }
    reads_to_share.insert(reads_to_share.begin(), todo.begin() + static_cast<std::ptrdiff_t>(i),
                          todo.end());
  }

  // A delivery-stopped finding not claimed (under mu): out of the outbox, and the chain's clock
  // reports it again at a later tick (saved so, so that a restart does too).
  void unclaim(const StoppedClaim& c) {
    outbox.erase(c.uid);
    if (auto ch = chains.find(c.chain);
        ch != chains.end() && ch->second.alerted_stopped_end == c.last_end) {
      ch->second.alerted_stopped_end = 0;
      dirty_chains.insert(c.chain);
    }
  }

  // The shared ledger's part of a tick (network calls outside mu, then their outcome under it):
  // the delivery-stopped claims, and the due files: compared with another agent's read, or
  // backfilled by the agent that claims them (the others look again when the claim ends). After
  // a failed call the tick makes no more: the rest wait kSharedRetryMs. `withdrawn`: the uids
  // of findings this agent does not report (lost or failed claims), to mark in the journal.
  void settle_shared(int64_t now_ms, const std::vector<StoppedClaim>& stopped,
                     const std::vector<std::string>& due_names,
                     std::vector<std::string>& withdrawn) {
    enum class Outcome { kWon, kLost, kFailed };
    std::string error;  // the first failure: no call after it
    auto call = [&](const SharedStatus& st) {
      std::string e = shared_failed(st);
      if (!e.empty() && error.empty()) error = std::move(e);
      return st.ok;
    };
    std::vector<Outcome> claims_stopped;
    for (size_t i = 0; i < stopped.size(); ++i) {
      const StoppedClaim& c = stopped[i];
      if (i >= kSharedDuePerTick) {  // the rest at the next tick (the tick's time is bounded)
        claims_stopped.push_back(Outcome::kFailed);
        continue;
      }
      bool won = false;
      const bool ok = error.empty() && call(shared->claim_stopped(c.chain, c.last_end, now_ms, won));
      claims_stopped.push_back(!ok ? Outcome::kFailed : won ? Outcome::kWon : Outcome::kLost);
    }
    std::map<std::string, std::vector<SharedRead>> reads;
    const bool reads_ok = due_names.empty() || (error.empty() && call(shared->reads(due_names, reads)));
    struct BackfillClaim {
      const std::string* name;
      Outcome outcome;
      int64_t held_until_ms;
    };
    std::vector<BackfillClaim> claims;
    const int64_t lease_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.backfill_lease).count();
    if (reads_ok) {
      for (const std::string& name : due_names) {
        if (reads.count(name)) continue;
        bool won = false;
        int64_t held = 0;
        const bool ok = error.empty() &&
                        call(shared->claim_backfill(name, now_ms, now_ms + lease_ms, won, held));
        // A lease longer than this agent would take is not believed (a table writer).
        claims.push_back({&name, !ok ? Outcome::kFailed : won ? Outcome::kWon : Outcome::kLost,
                          std::min(held, now_ms + lease_ms)});
      }
    }
    std::lock_guard<std::mutex> l(mu);
    if (!error.empty()) {
      shared_pause_until_ms = now_ms + kSharedRetryMs;
      spdlog::warn("integrity: {}; the shared ledger is asked again in {} s (delivery stopped "
                   "claims, listed log files due)",
                   error, kSharedRetryMs / 1000);
    }
    for (size_t i = 0; i < stopped.size(); ++i) {
      switch (claims_stopped[i]) {
        case Outcome::kWon:
          ++counters.findings;
          spdlog::warn("integrity: {}: chain {}: no digest after {} (this agent reports it for "
                       "every agent on the shared ledger)",
                       integrity_rule_id(IntegrityCheck::kDeliveryStopped), stopped[i].chain,
                       format_utc(stopped[i].last_end));
          break;
        case Outcome::kLost:  // another agent reports it, or the head moved on
          outbox.erase(stopped[i].uid);
          withdrawn.push_back(stopped[i].uid);
          break;
        case Outcome::kFailed:  // claimed again at a later tick
          unclaim(stopped[i]);
          withdrawn.push_back(stopped[i].uid);
          break;
      }
    }
    auto waiting = [&](const std::string& name) -> ExpectedLog* {
      auto e = expected.find(name);
      return e == expected.end() || e->second.state != ExpectedLog::State::kWaiting ? nullptr
                                                                                     : &e->second;
    };
    if (!reads_ok) {
      for (const std::string& name : due_names) due.emplace(now_ms + kSharedRetryMs, name);
      return;
    }
    for (const auto& [name, rs] : reads) {
      ExpectedLog* e = waiting(name);
      if (!e || rs.empty()) continue;
      ++counters.shared_reads_used;
      std::vector<AlertRecord> found;
      for (const SharedRead& r : rs) compare(*e, r.sha256, r.unit, found);
      for (AlertRecord& a : found) add_outbox(std::move(a));
    }
    for (const BackfillClaim& c : claims) {
      ExpectedLog* e = waiting(*c.name);
      if (!e) continue;
      switch (c.outcome) {
        case Outcome::kWon:
          queue_backfill(*e);
          break;
        case Outcome::kLost:
          // Another agent backfills it: its read is looked for when the claim ends.
          ++counters.backfill_claims_lost;
          due.emplace(std::max(c.held_until_ms, now_ms) + 1000, *c.name);
          break;
        case Outcome::kFailed:
          due.emplace(now_ms + kSharedRetryMs, *c.name);
          break;
      }
    }
  }

  void unreadable(ExpectedLog& e, std::string reason, const std::string& error) {
    if (e.state != ExpectedLog::State::kChecked) ++counters.log_files_unreadable;
    e.state = ExpectedLog::State::kChecked;
    touch(e);
    IntegrityFindingInput in;
    in.check = IntegrityCheck::kLogFileUnreadable;
    in.reason = std::move(reason);
    fill_listed(in, e);
    in.error = error;
    add_outbox(finding(std::move(in)));
  }

  void touch(const ExpectedLog& e) { dirty_expected.insert(uri(e.bucket, e.key)); }

  void add_outbox(AlertRecord a) {
    dirty_outbox.insert(a.uid);
    outbox[a.uid] = std::move(a);
  }

  // ---- the journal ----------------------------------------------------------------------

  void clear_dirty() {
    dirty_seen.clear();
    dirty_expected.clear();
    dirty_chains.clear();
    dirty_outbox.clear();
    dirty_coverage = false;
  }

  // Commits what changed since the last commit (under mu): "" or why it could not be saved
  // (what changed is kept and committed with the next try).
  std::string persist(bool sync) {
    if (!journal) {
      clear_dirty();
      return {};
    }
    journal::Entry e;
    e.saved_ms = to_ms(clock.wall_now());
    if (dirty_coverage) e.coverage_from_ms = ledger.coverage_from_ms;
    for (const std::string& name : dirty_seen)
      if (auto it = seen.find(name); it != seen.end()) e.seen.emplace_back(name, it->second);
    for (const std::string& name : dirty_expected)
      if (auto it = expected.find(name); it != expected.end())
        e.expected.emplace_back(name, it->second);
    for (const std::string& id : dirty_chains)
      if (auto it = chains.find(id); it != chains.end()) e.chains.emplace_back(id, it->second);
    for (const std::string& uid : dirty_outbox)
      if (auto it = outbox.find(uid); it != outbox.end()) e.findings.push_back(it->second);
    if (!e.empty()) {
      std::string error;
      if (!journal->commit(e, sync, error)) {
        // Broken or full: only a rewrite of the whole ledger (which holds these changes) helps;
        // tried at once, then at most every kRewriteRetryMs while it fails (a disk that was
        // full and is not any more: the agent recovers without a restart).
        if (!journal->needs_rewrite() || e.saved_ms < next_rewrite_try_ms) return error;
        std::string why;
        if (!journal->compact(ledger, why)) {
          next_rewrite_try_ms = e.saved_ms + kRewriteRetryMs;
          return error + "; rewriting it failed too: " + why;
        }
        spdlog::info("integrity state {}: rewritten ({} bytes) after a failed save; saved again",
                     journal->path(), journal->file_bytes());
      }
      ledger.saved_ms = e.saved_ms;
    }
    clear_dirty();
    if (journal->wants_compaction()) {
      std::string error;
      if (!journal->compact(ledger, error))
        spdlog::error("integrity: {}; tried again when the journal has doubled", error);
    }
    return {};
  }

  // A ledger read back with more log files than max_entries (the option was lowered, or the
  // journal is not this agent's): the oldest are dropped, read ones first; listed ones dropped
  // are counted not checked.
  void limit_entries() {
    if (seen.size() + expected.size() <= opt.max_entries) return;
    const size_t before = seen.size() + expected.size();
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [name, s] : seen) order.emplace_back(s.at_ms, name);
    std::sort(order.begin(), order.end());
    for (const auto& [at, name] : order) {
      if (seen.size() + expected.size() <= opt.max_entries) break;
      seen.erase(name);
    }
    order.clear();
    for (const auto& [name, e] : expected) order.emplace_back(e.listed_ms, name);
    std::sort(order.begin(), order.end());
    for (const auto& [at, name] : order) {
      if (seen.size() + expected.size() <= opt.max_entries) break;
      if (expected.at(name).state != ExpectedLog::State::kChecked) ++counters.log_files_not_checked;
      expected.erase(name);
    }
    spdlog::warn("integrity state {}: {} log files, more than [integrity] max_entries ({}): the "
                 "oldest {} are forgotten",
                 journal->path(), before, opt.max_entries, before - opt.max_entries);
  }

  // Takes the ledger read back from the journal (before the engine starts).
  void restore(IntegrityLedger saved) {
    std::lock_guard<std::mutex> l(mu);
    const int64_t now = to_ms(clock.wall_now());
    const int64_t retention_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.retention).count();
    int64_t coverage = ledger.coverage_from_ms;  // `since`, or now
    if (opt.coverage_from_ms == 0 && saved.coverage_from_ms != 0) {
      if (now - saved.saved_ms <= retention_ms) {
        coverage = saved.coverage_from_ms;
      } else {
        spdlog::warn("integrity state {}: last saved at {}, longer ago than [integrity] retention: "
                     "log files listed by digests of periods before now are checked only if read",
                     journal->path(), format_utc(saved.saved_ms / 1000));
      }
    }
    ledger = std::move(saved);
    ledger.coverage_from_ms = coverage;
    dirty_coverage = true;
    due.clear();
    const int64_t delay_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.backfill_delay).count();
    limit_entries();
    for (auto& [name, e] : expected) {
      if (e.state == ExpectedLog::State::kChecked) continue;
      e.state = ExpectedLog::State::kWaiting;  // the backfill queue did not survive the restart
      due.emplace(std::max(e.listed_ms + delay_ms, now), name);
    }
    // Digests may wait in the queue (the agent was down): the clock gives them the grace.
    for (auto& [id, ch] : chains) ch.last_arrival_ms = std::max(ch.last_arrival_ms, now);
    counters.chains = static_cast<int64_t>(chains.size());
    next_expiry_ms = 0;
    expire(now);
  }

  void expire(int64_t now_ms) {
    // A scan of every entry: not at every tick (twice a second) with a million of them.
    if (now_ms < next_expiry_ms) return;
    next_expiry_ms = now_ms + kExpiryEveryMs;
    const int64_t horizon =
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(opt.retention).count();
    std::erase_if(seen, [&](const auto& kv) { return kv.second.at_ms < horizon; });
    std::erase_if(expected, [&](const auto& kv) {
      if (kv.second.listed_ms >= horizon || kv.second.state == ExpectedLog::State::kQueued)
        return false;
      // Never read nor backfilled in all that time (a claim held by another agent): counted.
      if (kv.second.state == ExpectedLog::State::kWaiting) ++counters.log_files_not_checked;
      return true;
    });
    for (auto& [id, ch] : chains) {
      while (ch.digests.size() > 1 && ch.digests.begin()->first * 1000 < horizon)
        ch.digests.erase(ch.digests.begin());
    }
  }
};

IntegrityStage::IntegrityStage(IntegrityOptions options, PublicKeyCache& keys, ObjectStore& store,
                               BackfillSource* backfill, const Clock& clock,
                               StateDirIntegrityStore* journal, SharedIntegrityLedger* shared)
    : impl_(std::make_unique<Impl>(std::move(options), keys, store, backfill, clock, journal,
                                   shared)) {}

bool IntegrityStage::load(std::string& error) {
  if (!impl_->journal) {
    impl_->refresh_coverage(to_ms(impl_->clock.wall_now()));
    return true;
  }
  IntegrityLedger saved;
  if (!impl_->journal->open(saved, error)) return false;
  impl_->restore(std::move(saved));
  impl_->refresh_coverage(to_ms(impl_->clock.wall_now()));
  return true;
}

std::string IntegrityStage::persist_unit() {
  std::lock_guard<std::mutex> l(impl_->mu);
  failpoint::hit("before-integrity-commit");
  std::string error = impl_->persist(true);
  if (!error.empty()) return "the integrity ledger could not be saved: " + error;
  failpoint::hit("after-integrity-commit");
  return error;
}

IntegrityStage::~IntegrityStage() = default;

std::string IntegrityStage::process(StageUnit& unit) {
  if (!unit.object) return {};
  const StageObject& o = *unit.object;
  switch (o.kind) {
    case StageObject::Kind::kLogFile:
      // A backfill's read is shared once its unit is done (tick).
      if (!impl_->log_file_read(o, unit.identity, unit.alerts))
        if (std::string error = impl_->share_read(o, unit.identity, unit.alerts); !error.empty())
          return error;
      return persist_unit();
    case StageObject::Kind::kDigest:
      if (std::string error = impl_->digest_read(o, unit.alerts); !error.empty()) return error;
      return persist_unit();
    case StageObject::Kind::kOther:
      return {};
  }
  return {};
}

void IntegrityStage::tick(Clock::Wall now, std::vector<AlertRecord>& out) {
  impl_->tick(to_ms(now));
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const auto& [uid, a] : impl_->outbox) out.push_back(a);
}

void IntegrityStage::finish(std::vector<AlertRecord>& out) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (std::string error = impl_->persist(true); !error.empty())
    spdlog::error("integrity: {}; the units that changed it since were not acknowledged and come again", error);
  for (const auto& [uid, a] : impl_->outbox) out.push_back(a);
}

void IntegrityStage::delivered(const std::vector<AlertRecord>& alerts) {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string> uids;
  for (const AlertRecord& a : alerts)
    if (a.kind == AlertKind::kIntegrity && impl_->outbox.erase(a.uid)) uids.push_back(a.uid);
  if (impl_->journal && !uids.empty())
    impl_->journal->delivered(uids, to_ms(impl_->clock.wall_now()));
}

const IntegrityCounters& IntegrityStage::counters() const { return impl_->counters; }

void register_integrity_metrics(MetricsRegistry& registry, const IntegrityStage& stage) {
  registry.add([&k = stage.counters()](PrometheusWriter& w) {
    w.counter("trailwarden_integrity_digests_valid_total",
              "Digest files whose signature, location and chain link were checked.",
              k.digests_valid.load());
    w.counter("trailwarden_integrity_digests_invalid_total",
              "Digest files found invalid (integrity.digest_invalid).", k.digests_invalid.load());
    w.counter("trailwarden_integrity_digests_unchecked_total",
              "Digest units retried: CloudTrail's public keys could not be had.",
              k.digests_unchecked.load());
    w.counter("trailwarden_integrity_log_files_valid_total",
              "Log files whose SHA-256 is the one their digest lists.", k.log_files_valid.load());
    w.counter("trailwarden_integrity_log_files_modified_total",
              "Log files whose SHA-256 differs from their digest's (integrity.log_file_modified).",
              k.log_files_modified.load());
    w.counter("trailwarden_integrity_log_files_unreadable_total",
              "Listed log files that could not be read (integrity.log_file_unreadable).",
              k.log_files_unreadable.load());
    w.counter("trailwarden_integrity_log_files_not_checked_total",
              "Listed log files not checked: listed before the agent's state begins, in a "
              "bucket not allowed, another hash algorithm, or over max_entries.",
              k.log_files_not_checked.load());
    w.counter("trailwarden_integrity_predecessors_read_total",
              "Digests read from S3 because a digest named them and the agent had not seen them.",
              k.predecessors_read.load());
    w.counter("trailwarden_integrity_findings_total", "Integrity findings made.",
              k.findings.load());
    w.counter("trailwarden_integrity_shared_failures_total",
              "Calls to the shared ledger (integrity.store = \"dynamodb\") that failed: the unit "
              "came again, or the tick tried again.",
              k.shared_failures.load());
    w.counter("trailwarden_integrity_shared_reads_used_total",
              "Listed log files compared with a read of another agent (shared ledger).",
              k.shared_reads_used.load());
    w.counter("trailwarden_integrity_backfill_claims_lost_total",
              "Listed log files due for backfill that another agent had claimed (shared ledger).",
              k.backfill_claims_lost.load());
    w.gauge("trailwarden_integrity_chains", "Digest chains the agent follows.",
            static_cast<double>(k.chains.load()));
  });
}

}  // namespace trailwarden::integrity
