// TrailVerifier: `trailwarden verify` — the checks of `aws cloudtrail validate-logs`, and the
// ones it lacks, over the digests of one bucket prefix, account and source regions for a time
// range (docs/integrity.md, "trailwarden verify").
//
// For each source region it lists the digest keys (ObjectLister, ListObjectsV2 under
// .../CloudTrail-Digest/<region>/ from the day of start - 1 h), keeps the digests whose end time
// is in [start, end + 1 h] (as the CLI does), groups them into chains (digest_key.h) and walks
// each chain newest to oldest:
//   - a digest is read with its metadata, inflated, parsed (digest_file.h); it must say it is
//     where it was read (digestS3Bucket/Object), use SHA256withRSA and SHA-256, and carry a valid
//     signature (digest_signature.h) by the key of its region with the fingerprint it names
//     (PublicKeyCache; ListPublicKeys in the source region, once for the whole range);
//   - the chain: each digest's previousDigestS3Object, previousDigestHashValue and
//     previousDigestSignature must name the next older digest, its SHA-256 and its signature (the
//     CLI checks none of these); a named digest that is not there is "not found"; a starting
//     digest after an older one is a gap ("No log files were delivered ... between");
//   - the log files a valid digest lists are read and their uncompressed SHA-256 compared with
//     hashValue: not found (404, or 403 without s3:ListBucket), invalid format (not gzip),
//     hash value doesn't match. Those of an invalid digest are not verified (an untrusted list);
//   - the trailing edge: a chain whose newest digest ends more than 1 h + grace before the end of
//     the range (or now) has a gap at the end (the newest digests deleted, delivery stopped). The
//     CLI reports nothing there.
// Only `bucket` is read: a digest naming another bucket (for itself, its log files or its
// predecessor) is invalid, and nothing else is fetched.
//
// Without object metadata (a local copy, LocalTrailStore) a digest's signature is taken from
// its successor's previousDigestSignature (AWS's "custom validation"), so the newest digest of
// each chain is not verified unless signatures are given.
//
// verify() reads a digest's log files on up to `parallel` threads of its own, so the stores must
// be thread-safe (sources/queue.h asks that of every implementation); results are reported in
// order, from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/integrity/public_key_cache.h"
#include "agent/sources/queue.h"

namespace trailwarden::integrity {

struct VerifyOptions {
  std::string bucket;
  std::string prefix;   // the trail's S3 key prefix, without '/' at either end; "" for none
  std::string org_id;   // "o-..." for an organization trail's member account, else ""
  std::string account;  // the account whose files are checked
  std::vector<std::string> regions;  // source regions (where files were delivered from)
  std::string trail;    // only this trail's chains; "" for every trail found
  int64_t start = 0;    // epoch seconds
  int64_t end = 0;      // epoch seconds (at most now)
  int64_t now = 0;      // for the trailing edge
  int64_t grace = 3600; // a digest is late after its hour plus this
  bool check_log_files = true;
  size_t parallel = 8;  // log files read at once
  // Without metadata (local copies): signatures from successors, plus these ("key" -> hex).
  bool signatures_from_successor = false;
  std::map<std::string, std::string> signatures;
  size_t max_digest_bytes = size_t{16} << 20;       // compressed and inflated
  size_t max_log_bytes = size_t{128} << 20;         // compressed
  size_t max_log_inflated_bytes = size_t{1} << 30;  // inflated
};

enum class FileKind { kDigest, kLog };

struct FileResult {
  FileKind kind = FileKind::kDigest;
  std::string bucket;
  std::string key;
  bool valid = false;
  bool missing = false;       // not found: deleted, or not readable
  bool not_verified = false;  // listed by a digest that is not valid: neither valid nor invalid
  std::string reason;         // why not valid ("hash value doesn't match", "not found", ...)
  std::string chain;          // the digest chain (DigestKey::chain) it was reached from
};

struct ChainGap {
  std::string chain;
  int64_t from = 0;  // nothing is known to have been delivered between from and to
  int64_t to = 0;
  std::string why;
};

struct VerifyReport {
  std::vector<FileResult> files;
  std::vector<ChainGap> gaps;
  std::vector<std::string> errors;  // what stopped a check (listing refused, keys unavailable)
  int64_t found_from = 0, found_to = 0;  // the range the digests found cover
  size_t digests_valid = 0, digests_invalid = 0, digests_not_verified = 0;
  size_t logs_valid = 0, logs_invalid = 0, logs_missing = 0, logs_not_verified = 0;
  // Could not be checked (CloudTrail's keys or a read did not come): counted apart, with errors.
  size_t digests_unchecked = 0, logs_unchecked = 0;
  size_t digests_found = 0;
  // A file invalid, missing or not verified, or a gap.
  bool found_problems() const {
    return !gaps.empty() || digests_invalid || digests_not_verified || logs_invalid ||
           logs_missing || logs_not_verified;
  }
  bool whole() const {
    return errors.empty() && gaps.empty() && digests_invalid == 0 && digests_not_verified == 0 &&
           digests_unchecked == 0 && logs_unchecked == 0 &&
           logs_invalid == 0 &&
           logs_missing == 0 && logs_not_verified == 0 && digests_found > 0;
  }
};

class TrailVerifier {
 public:
  TrailVerifier(ObjectStore& store, ObjectLister& lister, PublicKeyCache& keys)
      : store_(store), lister_(lister), keys_(keys) {}

  // Runs every check of `options`; `progress`, if given, sees each file result and gap as it
  // is made (for streaming output).
  VerifyReport verify(const VerifyOptions& options,
                      const std::function<void(const FileResult&)>& on_file = {},
                      const std::function<void(const ChainGap&)>& on_gap = {});

 private:
  ObjectStore& store_;
  ObjectLister& lister_;
  PublicKeyCache& keys_;
};

}  // namespace trailwarden::integrity
