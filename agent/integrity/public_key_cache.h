// PublicKeyCache: CloudTrail's public keys by region and fingerprint, fetched with
// ListPublicKeys (sources/queue.h PublicKeyDirectory) and kept. Keys are per region: a region's
// keys are asked of that region only. A fetched key whose DER does not hash (MD5) to the
// fingerprint CloudTrail sent with it, or is not an RSA key of 2048 bits or more, is not kept
// (counted in rejected()).
//
// A region name that is not shaped like an AWS region (aws::is_valid_region: "us-east-1",
// "us-gov-west-1", "cn-north-1", ...; 32 characters at most) is kNotFound at once, with an
// error naming it: no request, nothing kept. A well-shaped name that is no region
// ("xx-fake-1") costs one ListPublicKeys call, then its failure is kept for `retry_after`.
//
// Thread-safe, and no lock is held across a ListPublicKeys call: a fetch that hangs until its
// network timeout holds up only the callers that need that fetch's answer. Per region, one fetch
// at a time (single flight): a caller that needs a range of a region not fetched yet while a
// fetch of that region is in flight waits for it, then looks again (the answer may cover it; a
// failure it waited for is its answer too) and fetches only what is still missing. Cache hits,
// ranges already fetched, a region in its retry_after pause and every other region are answered
// without waiting for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/integrity/digest_signature.h"
#include "agent/sources/queue.h"

namespace trailwarden::integrity {

class PublicKeyCache {
 public:
  explicit PublicKeyCache(PublicKeyDirectory& directory,
                          std::chrono::seconds retry_after = std::chrono::seconds(60))
      : directory_(directory), retry_after_(retry_after) {}

  enum class Lookup { kFound, kNotFound, kUnavailable };

  // Fetches the keys of `region` valid at some time in [start, end] (epoch seconds) unless a
  // fetch already covered that range. kUnavailable (with `error`) when CloudTrail did not answer;
  // a region whose fetch failed is not asked again for `retry_after` (the same error is given).
  // kNotFound (with `error`) for a region name not shaped like one.
  Lookup prefetch(const std::string& region, int64_t start, int64_t end, std::string& error);

  // The key of `region` with `fingerprint` (lowercase hex) for a digest of [start, end]: from the
  // cache, else after one fetch of the range (a range already fetched is not asked again: a
  // fingerprint CloudTrail did not list for it is kNotFound). kNotFound (with `error`) for a
  // region name not shaped like one.
  Lookup find(const std::string& region, const std::string& fingerprint, int64_t start,
              int64_t end, std::shared_ptr<const PublicKey>& out, std::string& error);

  size_t requests() const;   // ListPublicKeys calls made
  size_t rejected() const;   // keys refused (fingerprint mismatch, not RSA >= 2048)
  size_t waiting() const;    // callers waiting now for a fetch of their region in flight

 private:
  struct Region {
    std::map<std::string, std::shared_ptr<const PublicKey>> keys;  // fingerprint -> key
    std::vector<std::pair<int64_t, int64_t>> fetched;              // ranges asked, merged
    std::chrono::steady_clock::time_point failed_at{};             // last failed fetch's end
    std::string failure;                                           // and its error
    bool fetching = false;                                         // a fetch in flight
    uint64_t fetches_done = 0;                                     // fetches ended
    std::condition_variable fetched_cv;                            // a fetch ended
  };
  enum class Step { kAnswered, kFetch };
  // Under mu_: answers from what `r` holds (a key, a range covered, the failure pause), or waits
  // while a fetch of the region is in flight and looks again; kFetch when this caller must fetch
  // (r.fetching is then set for it).
  Step settle(std::unique_lock<std::mutex>& l, Region& r, const std::string* fingerprint,
              int64_t start, int64_t end, Lookup& got, std::shared_ptr<const PublicKey>* out,
              std::string& error);
  // Calls ListPublicKeys for [start, end] without the lock, then records the answer in `r` and
  // wakes the region's waiters. `l` is held on entry and on return.
  Lookup fetch(std::unique_lock<std::mutex>& l, Region& r, const std::string& region,
               int64_t start, int64_t end, std::string& error);
  static bool covered(const Region& r, int64_t start, int64_t end);

  PublicKeyDirectory& directory_;
  std::chrono::seconds retry_after_;
  mutable std::mutex mu_;
  std::map<std::string, Region> regions_;  // never erased: a Region& stays valid unlocked
  size_t requests_ = 0;
  size_t rejected_ = 0;
  size_t waiting_ = 0;
};

}  // namespace trailwarden::integrity
