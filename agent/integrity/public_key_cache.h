// PublicKeyCache: CloudTrail's public keys by region and fingerprint, fetched with
// ListPublicKeys (sources/queue.h PublicKeyDirectory) and kept. Keys are per region: a region's
// keys are asked of that region only. A fetched key whose DER does not hash (MD5) to the
// fingerprint CloudTrail sent with it, or is not an RSA key of 2048 bits or more, is not kept
// (counted in rejected()). Thread-safe.
#pragma once

#include <chrono>
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
  Lookup prefetch(const std::string& region, int64_t start, int64_t end, std::string& error);

  // The key of `region` with `fingerprint` (lowercase hex) for a digest of [start, end]: from the
  // cache, else after one fetch of the range (a range already fetched is not asked again: a
  // fingerprint CloudTrail did not list for it is kNotFound).
  Lookup find(const std::string& region, const std::string& fingerprint, int64_t start,
              int64_t end, std::shared_ptr<const PublicKey>& out, std::string& error);

  size_t requests() const;   // ListPublicKeys calls made
  size_t rejected() const;   // keys refused (fingerprint mismatch, not RSA >= 2048)

 private:
  struct Region {
    std::map<std::string, std::shared_ptr<const PublicKey>> keys;  // fingerprint -> key
    std::vector<std::pair<int64_t, int64_t>> fetched;              // ranges asked, merged
    std::chrono::steady_clock::time_point failed_at{};             // last failed fetch
    std::string failure;                                           // and its error
  };
  bool covered(const Region& r, int64_t start, int64_t end) const;
  Lookup fetch_locked(const std::string& region, int64_t start, int64_t end, std::string& error);

  PublicKeyDirectory& directory_;
  std::chrono::seconds retry_after_;
  mutable std::mutex mu_;
  std::map<std::string, Region> regions_;
  size_t requests_ = 0;
  size_t rejected_ = 0;
};

}  // namespace trailwarden::integrity
