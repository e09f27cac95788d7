#include "agent/integrity/trail_verifier.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "agent/common/buffer.h"
#include "agent/aws/sigv4.h"
#include "agent/http/http.h"
#include "agent/decode/gzip.h"
#include "agent/integrity/digest_check.h"
#include "agent/integrity/digest_file.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/digest_signature.h"

namespace trailwarden::integrity {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

struct Listed {
  std::string key;
  DigestKey id;
};

// One digest as read: what it says, and whether it is valid.
struct ReadDigest {
  bool parsed = false;
  bool valid = false;
  bool missing = false;
  bool not_verified = false;  // well-formed, signature not checkable (a local copy's newest)
  std::string reason;
  DigestFile file;
  std::string sha256;     // of the inflated bytes
  std::string signature;  // the one checked (metadata, or given)
};

// What a newer digest says its predecessor is.
struct Expected {
  bool set = false;
  std::string key, hash, signature;
};

class Run {
 public:
  Run(ObjectStore& store, ObjectLister& lister, PublicKeyCache& keys, const VerifyOptions& o,
      const std::function<void(const FileResult&)>& on_file,
      const std::function<void(const ChainGap&)>& on_gap)
      : store_(store), lister_(lister), keys_(keys), o_(o), on_file_(on_file), on_gap_(on_gap) {}

  VerifyReport run() {
    for (const std::string& region : o_.regions) verify_region(region);
    return std::move(report_);
  }

 private:
  void verify_region(const std::string& region) {
    std::vector<Listed> listed;
    if (!list_digests(region, listed)) return;
    std::map<std::string, std::vector<Listed>> chains;
    for (Listed& l : listed) chains[l.id.chain()].push_back(std::move(l));
    std::string error;
    if (!chains.empty() &&
        keys_.prefetch(region, key_from(), key_until(), error) == PublicKeyCache::Lookup::kUnavailable)
      add_error(error);
    bool trail_seen = false;
    for (auto& [chain, digests] : chains) {
      std::sort(digests.begin(), digests.end(),
                [](const Listed& a, const Listed& b) { return a.id.end < b.id.end; });
      // Of the digests before the range, only the newest is kept: it anchors the chain (a
      // restart just after it is a gap, a chain that has nothing in the range has stopped).
      size_t first = 0;
      while (first + 1 < digests.size() && digests[first + 1].id.end < o_.start) ++first;
      digests.erase(digests.begin(), digests.begin() + static_cast<std::ptrdiff_t>(first));
      if (!digests.back().id.backfill) trail_seen = true;
      verify_chain(chain, region, digests);
    }
    // A region (or the trail asked for) without a single digest: deleted, or never delivered.
    if (!trail_seen)
      gap({o_.prefix + "|" + o_.org_id + "|" + o_.account + "|" + region + "|" + o_.trail, o_.start,
           o_.end,
           "no digest of " + (o_.trail.empty() ? std::string("any trail") : "trail " + o_.trail) +
               " in " + region + " between " + format_utc(o_.start - kDay) + " and " +
               format_utc(o_.end + kHour) + " (deleted, or never delivered there)"});
  }

  // The range keys are looked up for: the listing's, never a digest's own (untrusted) times.
  int64_t key_from() const { return o_.start - kDay - 2 * kHour; }
  int64_t key_until() const { return o_.end + 2 * kHour; }

  bool list_digests(const std::string& region, std::vector<Listed>& out) {
    const std::string folder = digest_region_folder(o_.prefix, o_.org_id, o_.account, region);
    // From the day before the range (its digests anchor the chains), to the day after its end
    // (+1 h: the digest covering the end). Keys are in byte order: the listing ends at the first
    // key past that day's folder, whatever it is (a key that merely parses proves nothing).
    std::string start_after = digest_day_folder(o_.prefix, o_.org_id, o_.account, region,
                                                o_.start - kDay);
    start_after.pop_back();  // "…/YYYY/MM/DD": every key of that day sorts after it
    std::string stop_after =
        digest_day_folder(o_.prefix, o_.org_id, o_.account, region, o_.end + kHour + kDay);
    stop_after.back() = static_cast<char>('/' + 1);  // past every key of that day
    std::string token;
    while (true) {
      ObjectPage page;
      RemoteStatus st = lister_.list(o_.bucket, folder, token.empty() ? start_after : "", token,
                                     1000, page);
      if (!st.ok()) {
        report_.errors.push_back("listing s3://" + o_.bucket + "/" + folder + ": " + st.message);
        return false;
      }
      for (ListedObject& obj : page.objects) {
        if (obj.key >= stop_after) return true;
        DigestKey id;
        std::string why;
        if (!parse_digest_key(obj.key, id, why)) continue;  // not a digest (other files)
        if (id.account != o_.account || id.source_region != region || id.org_id != o_.org_id ||
            id.prefix != o_.prefix || obj.key.compare(0, folder.size(), folder) != 0)
          continue;
        if (!o_.trail.empty() && id.trail != o_.trail) continue;
        if (id.end < o_.start - kDay || id.end > o_.end + kHour) continue;
        out.push_back({std::move(obj.key), std::move(id)});
      }
      if (page.next_token.empty()) return true;
      token = std::move(page.next_token);
    }
  }

  void verify_chain(const std::string& chain, const std::string& region,
                    const std::vector<Listed>& digests) {
    Expected expect;
    bool successor_started = false;  // the newer digest was a starting one
    int64_t successor_start = 0;
    const int64_t newest = digests.back().id.end;
    const int64_t needed = std::min(o_.end, o_.now - kHour - o_.grace);
    // Backfill digests come only when CloudTrail has late files: no clock to keep.
    if (newest < needed && !digests.back().id.backfill)
      gap({chain, newest, needed,
           "no digest after " + format_utc(newest) +
               " (the newest digests were deleted, or delivery stopped)"});
    for (size_t n = digests.size(); n-- > 0;) {
      const Listed& l = digests[n];
      if (expect.set && expect.key != l.key) {
        // The newer digest names a predecessor that is not this one, so the listing did not hold
        // it: read it once (it may still be there), else it is not found.
        DigestKey named;
        std::string why;
        if (parse_digest_key(expect.key, named, why) && named.end > l.id.end) {
          read_digest(chain, region, expect.key, expect);
        } else {
          file({FileKind::kDigest, o_.bucket, l.key, false, false, false,
                "not in the chain: the next digest names " + expect.key + " as its predecessor",
                chain});
          report_.digests_invalid++;
          expect = {};
          successor_started = false;
          continue;
        }
        expect = {};
      }
      if (successor_started)
        gap({chain, l.id.end, successor_start,
             "No log files were delivered by CloudTrail between " + format_utc(l.id.end) +
                 " and " + format_utc(successor_start)});
      ReadDigest d = read_digest(chain, region, l.key, expect);
      successor_started = false;
      expect = {};
      // Only a digest that is valid (or well-formed and not checkable) is followed: an invalid
      // one's links are as untrusted as its list of log files.
      const bool trusted = d.parsed && (d.valid || d.not_verified);
      if (trusted && d.file.starting()) {
        successor_started = true;
        successor_start = d.file.start;
      } else if (trusted) {
        expect = {true, d.file.previous_key, d.file.previous_hash, d.file.previous_signature};
        if (d.file.previous_bucket != o_.bucket) {
          add_error("s3://" + o_.bucket + "/" + l.key + " names a predecessor in another bucket: " +
                    d.file.previous_bucket);
          expect = {};
        }
      }
    }
    // The oldest digest listed names a predecessor that should be in the range.
    if (expect.set) {
      DigestKey named;
      std::string why;
      if (parse_digest_key(expect.key, named, why) && named.end >= o_.start)
        read_digest(chain, region, expect.key, expect);
    }
  }

  ReadDigest read_digest(const std::string& chain, const std::string& region,
                         const std::string& key, const Expected& expect) {
    ReadDigest d;
    report_.digests_found++;
    auto finish = [&](std::string reason) {
      d.reason = std::move(reason);
      d.valid = d.reason.empty();
      FileResult r{FileKind::kDigest, o_.bucket, key, d.valid, d.missing, false, d.reason, chain};
      if (d.valid) {
        report_.digests_valid++;
        if (report_.found_from == 0 || d.file.start < report_.found_from) report_.found_from = d.file.start;
        report_.found_to = std::max(report_.found_to, d.file.end);
      } else {
        report_.digests_invalid++;
      }
      file(r);
      // The log files an invalid digest lists are an untrusted list: neither read nor counted valid.
      if (!d.valid && d.parsed)
        for (const DigestLogFile& lf : d.file.log_files) not_verified_log(chain, lf);
      return d;
    };
    Buffer raw;
    ObjectMetadata meta;
    ObjectRef ref;
    ref.bucket = o_.bucket;
    ref.key = key;
    const RemoteStatus st = store_.get_with_metadata(ref, o_.max_digest_bytes, raw, meta);
    if (st.code == RemoteStatus::Code::kNotFound || st.code == RemoteStatus::Code::kAccessDenied) {
      d.missing = true;
      return finish("not found");
    }
    if (!st.ok()) {
      // Only a failure that may pass (no answer, throttling) is "could not check"; an object too
      // large or refused for good is what the bucket holds: invalid.
      if (st.code == RemoteStatus::Code::kRetry)
        return unchecked_digest(d, chain, key, "reading s3://" + o_.bucket + "/" + key + ": " + st.message);
      return finish("unreadable: " + st.message);
    }
    Buffer inflated;
    std::string error;
    if (inflate_gzip(raw.view(), o_.max_digest_bytes, inflated, error) != InflateResult::kOk)
      return finish("invalid format (" + error + ")");
    DigestCheckInput in;
    in.bucket = o_.bucket;
    in.key = key;
    in.region = region;
    in.inflated = inflated.view();
    in.metadata = &meta;
    in.signature_optional = o_.signatures_from_successor;
    if (o_.signatures_from_successor) {
      // A local copy has no metadata: the signature given, else the successor's link.
      if (auto given = o_.signatures.find(key); given != o_.signatures.end())
        in.given_signature = given->second;
      else if (expect.set && expect.key == key)
        in.given_signature = expect.signature;
    }
    in.key_from = key_from();
    in.key_until = key_until();
    DigestCheck checked = check_digest(in, keys_);
    d.parsed = checked.parsed;
    d.file = std::move(checked.file);
    d.sha256 = std::move(checked.sha256);
    d.signature = std::move(checked.signature);
    switch (checked.verdict) {
      case DigestVerdict::kValid:
        break;
      case DigestVerdict::kInvalid:
        return finish(std::move(checked.reason));
      case DigestVerdict::kNotVerified:
        return not_verified_digest(d, chain, key, std::move(checked.reason));
      case DigestVerdict::kUnchecked:
        return unchecked_digest(d, chain, key, checked.reason);
    }
    if (expect.set && expect.key == key) {
      if (expect.hash != d.sha256)
        return finish("its SHA-256 is not the previousDigestHashValue of the next digest");
      if (http::ascii_lower(expect.signature) != http::ascii_lower(d.signature))
        return finish("its signature is not the previousDigestSignature of the next digest");
    }
    finish("");
    if (o_.check_log_files) check_logs(chain, d.file);
    return d;
  }

  // A digest read and well-formed whose signature cannot be checked (a local copy's newest).
  ReadDigest not_verified_digest(ReadDigest& d, const std::string& chain, const std::string& key,
                                 std::string reason) {
    report_.digests_not_verified++;
    d.not_verified = true;
    d.reason = reason;
    file({FileKind::kDigest, o_.bucket, key, false, false, true, std::move(reason), chain});
    for (const DigestLogFile& lf : d.file.log_files) not_verified_log(chain, lf);
    return d;
  }

  void not_verified_log(const std::string& chain, const DigestLogFile& lf) {
    report_.logs_not_verified++;
    file({FileKind::kLog, lf.bucket, lf.key, false, false, true, "listed by a digest that is not valid",
          chain});
  }

  // What reading one log file found; made by worker threads, counted in order afterwards.
  enum class LogVerdict { kValid, kInvalid, kMissing, kUnchecked };
  struct LogOutcome {
    FileResult result;
    LogVerdict verdict = LogVerdict::kInvalid;
    std::string error;  // a read that failed for another reason than "not there"
  };

  // Reads `lf` and compares its SHA-256 (thread-safe: the stores are, nothing else is shared).
  LogOutcome check_log(const std::string& chain, const DigestLogFile& lf) const {
    LogOutcome out;
    FileResult& r = out.result;
    r = {FileKind::kLog, lf.bucket, lf.key, false, false, false, "", chain};
    if (lf.bucket != o_.bucket) {
      r.reason = "in another bucket than the one checked (not read)";
      return out;
    }
    if (lf.hash_algorithm != "SHA-256") {
      r.reason = "unsupported hash algorithm " + lf.hash_algorithm;
      return out;
    }
    ObjectRef ref;
    ref.bucket = lf.bucket;
    ref.key = lf.key;
    Buffer raw;
    const RemoteStatus st = store_.get(ref, o_.max_log_bytes, raw);
    Sha256 hash;
    std::string error;
    if (st.code == RemoteStatus::Code::kNotFound || st.code == RemoteStatus::Code::kAccessDenied) {
      r.missing = true;
      r.reason = "not found";
      out.verdict = LogVerdict::kMissing;
    } else if (st.code == RemoteStatus::Code::kRetry) {  // no answer, throttled: not checked
      out.error = "reading s3://" + lf.bucket + "/" + lf.key + ": " + st.message;
      r.not_verified = true;
      r.reason = "not checked: " + st.message;
      out.verdict = LogVerdict::kUnchecked;
    } else if (!st.ok()) {  // too large, refused for good: what the bucket holds is invalid
      r.reason = "unreadable: " + st.message;
    } else if (inflate_gzip_stream(raw.view(), o_.max_log_inflated_bytes,
                                   [&hash](std::string_view piece) { hash.update(piece); },
                                   error) != InflateResult::kOk) {
      // Hashed as it is inflated: a gzip bomb costs time, never memory.
      r.reason = "invalid format (" + error + ")";
    } else if (hash.hex() != lf.hash) {
      r.reason = "hash value doesn't match";
    } else {
      r.valid = true;
      out.verdict = LogVerdict::kValid;
    }
    return out;
  }

  // The log files of a valid digest, read by up to o_.parallel threads, reported in the
  // digest's order.
  void check_logs(const std::string& chain, const DigestFile& d) {
    const size_t n = d.log_files.size();
    std::vector<LogOutcome> outcomes(n);
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i = next++; i < n; i = next++) outcomes[i] = check_log(chain, d.log_files[i]);
    };
    const size_t threads = std::min(n, std::max<size_t>(1, o_.parallel));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) {
      try {
        pool.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // no more threads: the ones running (and this one) do the rest
      }
    }
    work();
    for (std::thread& t : pool) t.join();
    for (LogOutcome& o : outcomes) {
      switch (o.verdict) {
        case LogVerdict::kValid: report_.logs_valid++; break;
        case LogVerdict::kMissing: report_.logs_missing++; break;
        case LogVerdict::kInvalid: report_.logs_invalid++; break;
        case LogVerdict::kUnchecked: report_.logs_unchecked++; break;
      }
      if (!o.error.empty()) add_error(std::move(o.error));
      file(o.result);
    }
  }

  void add_error(std::string e) {
    if (std::find(report_.errors.begin(), report_.errors.end(), e) == report_.errors.end())
      report_.errors.push_back(std::move(e));
  }

  // A digest that could not be checked (a key or a read that did not come): neither valid nor
  // invalid; its log files are not read. The run then ends "could not check" (exit 4).
  ReadDigest unchecked_digest(ReadDigest& d, const std::string& chain, const std::string& key,
                              const std::string& error) {
    add_error(error);
    report_.digests_unchecked++;
    d.reason = "not checked: " + error;
    file({FileKind::kDigest, o_.bucket, key, false, false, true, d.reason, chain});
    for (const DigestLogFile& lf : d.file.log_files) {
      report_.logs_unchecked++;
      file({FileKind::kLog, lf.bucket, lf.key, false, false, true,
            "not checked: its digest could not be checked", chain});
    }
    return d;
  }

  void file(const FileResult& r) {
    report_.files.push_back(r);
    if (on_file_) on_file_(r);
  }
  void gap(ChainGap g) {
    if (on_gap_) on_gap_(g);
    report_.gaps.push_back(std::move(g));
  }

  ObjectStore& store_;
  ObjectLister& lister_;
  PublicKeyCache& keys_;
  const VerifyOptions& o_;
  const std::function<void(const FileResult&)>& on_file_;
  const std::function<void(const ChainGap&)>& on_gap_;
  VerifyReport report_;
};

}  // namespace

VerifyReport TrailVerifier::verify(const VerifyOptions& options,
                                   const std::function<void(const FileResult&)>& on_file,
                                   const std::function<void(const ChainGap&)>& on_gap) {
  return Run(store_, lister_, keys_, options, on_file, on_gap).run();
}

}  // namespace trailwarden::integrity
