#include "agent/integrity/public_key_cache.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "agent/http/http.h"

namespace trailwarden::integrity {

bool PublicKeyCache::covered(const Region& r, int64_t start, int64_t end) const {
  for (const auto& [from, to] : r.fetched)
    if (from <= start && end <= to) return true;
  return false;
}

PublicKeyCache::Lookup PublicKeyCache::fetch_locked(const std::string& region, int64_t start,
                                                    int64_t end, std::string& error) {
  Region& r = regions_[region];
  const auto now = std::chrono::steady_clock::now();
  if (!r.failure.empty() && now - r.failed_at < retry_after_) {
    error = r.failure;
    return Lookup::kUnavailable;
  }
  std::vector<TrailPublicKey> got;
  ++requests_;
  const RemoteStatus st = directory_.list_public_keys(region, start, end, got);
  if (!st.ok()) {
    error = "ListPublicKeys in " + region + ": " + st.message;
    r.failed_at = now;
    r.failure = error;
    return Lookup::kUnavailable;
  }
  r.failure.clear();
  for (const TrailPublicKey& k : got) {
    std::string why;
    auto key = PublicKey::from_der(k.der, why);
    const std::string sent = http::ascii_lower(k.fingerprint);
    if (key && key->fingerprint() != sent) why = "fingerprint " + sent + " is not the key's (MD5 " + key->fingerprint() + ")";
    if (!key || !why.empty()) {
      ++rejected_;
      spdlog::warn("CloudTrail public key of {} refused: {}", region, why);
      continue;
    }
    r.keys[key->fingerprint()] = std::move(key);
  }
  // Remember the range, merged with the ones it touches (few: one per run or per key rotation).
  int64_t from = start, to = end;
  std::vector<std::pair<int64_t, int64_t>> kept;
  for (const auto& [a, b] : r.fetched) {
    if (b < from || a > to) {
      kept.emplace_back(a, b);
    } else {
      from = std::min(from, a);
      to = std::max(to, b);
    }
  }
  kept.emplace_back(from, to);
  r.fetched = std::move(kept);
  return Lookup::kFound;
}

PublicKeyCache::Lookup PublicKeyCache::prefetch(const std::string& region, int64_t start,
                                                int64_t end, std::string& error) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = regions_.find(region);
  if (it != regions_.end() && covered(it->second, start, end)) return Lookup::kFound;
  return fetch_locked(region, start, end, error);
}

PublicKeyCache::Lookup PublicKeyCache::find(const std::string& region,
                                            const std::string& fingerprint, int64_t start,
                                            int64_t end, std::shared_ptr<const PublicKey>& out,
                                            std::string& error) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = regions_.find(region);
  if (it != regions_.end()) {
    auto k = it->second.keys.find(fingerprint);
    if (k != it->second.keys.end()) {
      out = k->second;
      return Lookup::kFound;
    }
    if (covered(it->second, start, end)) return Lookup::kNotFound;
  }
  const Lookup got = fetch_locked(region, start, end, error);
  if (got != Lookup::kFound) return got;
  auto k = regions_[region].keys.find(fingerprint);
  if (k == regions_[region].keys.end()) return Lookup::kNotFound;
  out = k->second;
  return Lookup::kFound;
}

size_t PublicKeyCache::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

size_t PublicKeyCache::rejected() const {
  std::lock_guard<std::mutex> l(mu_);
  return rejected_;
}

}  // namespace trailwarden::integrity
