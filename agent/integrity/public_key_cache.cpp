#include "agent/integrity/public_key_cache.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "agent/aws/names.h"
#include "agent/http/http.h"

namespace trailwarden::integrity {
namespace {

bool refuse_region(const std::string& region, std::string& error) {
  if (aws::is_valid_region(region)) return false;
  error = "ListPublicKeys not asked: \"" + http::printable_excerpt(region, 64) +
          "\" is not an AWS region name";
  return true;
}

}  // namespace

bool PublicKeyCache::covered(const Region& r, int64_t start, int64_t end) {
  for (const auto& [from, to] : r.fetched)
    if (from <= start && end <= to) return true;
  return false;
}

PublicKeyCache::Step PublicKeyCache::settle(std::unique_lock<std::mutex>& l, Region& r,
                                            const std::string* fingerprint, int64_t start,
                                            int64_t end, Lookup& got,
                                            std::shared_ptr<const PublicKey>* out,
                                            std::string& error) {
  bool waited = false;
  uint64_t seen = 0;  // r.fetches_done when this caller began to wait
  while (true) {
    if (fingerprint) {
      if (auto k = r.keys.find(*fingerprint); k != r.keys.end()) {
        *out = k->second;
        got = Lookup::kFound;
        return Step::kAnswered;
      }
    }
    if (covered(r, start, end)) {
      got = fingerprint ? Lookup::kNotFound : Lookup::kFound;
      return Step::kAnswered;
    }
    // The pause after a failure; and a failure of the fetch this caller waited for is its
    // answer even without a pause (retry_after 0): the region was asked just now.
    if (!r.failure.empty() && (std::chrono::steady_clock::now() - r.failed_at < retry_after_ ||
                               (waited && r.fetches_done != seen))) {
      error = r.failure;
      got = Lookup::kUnavailable;
      return Step::kAnswered;
    }
    if (!r.fetching) {
      r.fetching = true;
      return Step::kFetch;
    }
    if (!waited) {
      waited = true;
      seen = r.fetches_done;
    }
    ++waiting_;
    r.fetched_cv.wait(l);
    --waiting_;
  }
}

PublicKeyCache::Lookup PublicKeyCache::fetch(std::unique_lock<std::mutex>& l, Region& r,
                                             const std::string& region, int64_t start,
                                             int64_t end, std::string& error) {
  ++requests_;
  l.unlock();
  auto done = [&r] {  // under mu_
    r.fetching = false;
    ++r.fetches_done;
    r.fetched_cv.notify_all();
  };
  RemoteStatus st;
  std::vector<std::shared_ptr<const PublicKey>> accepted;
  size_t refused = 0;
  try {
    std::vector<TrailPublicKey> got;
    st = directory_.list_public_keys(region, start, end, got);
    if (st.ok()) {
      for (const TrailPublicKey& k : got) {
        std::string why;
        auto key = PublicKey::from_der(k.der, why);
        const std::string sent = http::ascii_lower(k.fingerprint);
        if (key && key->fingerprint() != sent)
          why = "fingerprint " + sent + " is not the key's (MD5 " + key->fingerprint() + ")";
        if (!key || !why.empty()) {
          ++refused;
          spdlog::warn("CloudTrail public key of {} refused: {}", region, why);
          continue;
        }
        accepted.push_back(std::move(key));
      }
    }
  } catch (...) {
    l.lock();
    done();  // the waiters look again (one of them fetches)
    throw;
  }
  l.lock();
  rejected_ += refused;
  if (!st.ok()) {
    error = "ListPublicKeys in " + region + ": " + st.message;
    r.failed_at = std::chrono::steady_clock::now();  // the pause counts from the answer
    r.failure = error;
    done();
    return Lookup::kUnavailable;
  }
  r.failure.clear();
  for (auto& key : accepted) r.keys[key->fingerprint()] = std::move(key);
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
  done();
  return Lookup::kFound;
}

PublicKeyCache::Lookup PublicKeyCache::prefetch(const std::string& region, int64_t start,
                                                int64_t end, std::string& error) {
  if (refuse_region(region, error)) return Lookup::kNotFound;
  std::unique_lock<std::mutex> l(mu_);
  Region& r = regions_[region];
  Lookup got = Lookup::kFound;
  if (settle(l, r, nullptr, start, end, got, nullptr, error) == Step::kAnswered) return got;
  return fetch(l, r, region, start, end, error);
}

PublicKeyCache::Lookup PublicKeyCache::find(const std::string& region,
                                            const std::string& fingerprint, int64_t start,
                                            int64_t end, std::shared_ptr<const PublicKey>& out,
                                            std::string& error) {
  if (refuse_region(region, error)) return Lookup::kNotFound;
  std::unique_lock<std::mutex> l(mu_);
  Region& r = regions_[region];
  Lookup got = Lookup::kFound;
  if (settle(l, r, &fingerprint, start, end, got, &out, error) == Step::kAnswered) return got;
  got = fetch(l, r, region, start, end, error);
  if (got != Lookup::kFound) return got;
  auto k = r.keys.find(fingerprint);
  if (k == r.keys.end()) return Lookup::kNotFound;
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

size_t PublicKeyCache::waiting() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiting_;
}

}  // namespace trailwarden::integrity
