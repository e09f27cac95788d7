// An in-memory SharedIntegrityLedger (agent/integrity/shared_integrity_ledger.h) for unit tests:
// two IntegrityStages given the same one behave as two agents sharing a DynamoDB table. The same
// rules as the DynamoDB implementation (kMaxReads per file, leases, the head moves forward only,
// one stopped claim per head); `down` makes every call fail, `failing` the calls it names;
// `calls` counts them by name.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "agent/integrity/shared_integrity_ledger.h"

namespace trailwarden::testing {

class FakeSharedIntegrityLedger final : public integrity::SharedIntegrityLedger {
 public:
  bool down = false;
  std::set<std::string> failing;  // "claim_stopped", "heads", ...
  std::map<std::string, int> calls;
  std::map<std::string, std::vector<integrity::SharedRead>> reads_by_name;
  std::map<std::string, int64_t> claims;  // name -> lease end
  std::map<std::string, integrity::SharedChainHead> heads_by_chain;
  std::map<std::string, std::map<int64_t, integrity::KnownDigest>> digests;

  std::map<std::string, integrity::SharedListing> listings;
  int64_t coverage_from_ms = 0, coverage_seen_ms = 0;

  integrity::SharedStatus add_read(const std::string& name, const integrity::SharedRead& read,
                                   int64_t, std::optional<integrity::SharedListing>& listed)
      override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("add_read"); !st.ok) return st;
    listed.reset();
    if (auto it = listings.find(name); it != listings.end()) listed = it->second;
    auto& rs = reads_by_name[name];
    for (const auto& r : rs)
      if (r.sha256 == read.sha256) return {};
    if (rs.size() < integrity::kMaxReads) rs.push_back(read);
    return {};
  }
  integrity::SharedStatus list_file(const std::string& name,
                                    const integrity::SharedListing& listing, int64_t,
                                    std::vector<integrity::SharedRead>& out) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("list_file"); !st.ok) return st;
    listings.try_emplace(name, listing);
    out.clear();
    if (auto it = reads_by_name.find(name); it != reads_by_name.end()) out = it->second;
    return {};
  }
  integrity::SharedStatus coverage(int64_t now_ms, int64_t stale_after_ms,
                                   int64_t& from_ms) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("coverage"); !st.ok) return st;
    if (coverage_from_ms == 0 || coverage_seen_ms < now_ms - stale_after_ms)
      coverage_from_ms = now_ms;
    coverage_seen_ms = now_ms;
    from_ms = coverage_from_ms;
    return {};
  }
  integrity::SharedStatus reads(const std::vector<std::string>& names,
                                std::map<std::string, std::vector<integrity::SharedRead>>& out)
      override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("reads"); !st.ok) return st;
    for (const std::string& n : names)
      if (auto it = reads_by_name.find(n); it != reads_by_name.end()) out[n] = it->second;
    return {};
  }
  integrity::SharedStatus claim_backfill(const std::string& name, int64_t now_ms,
                                         int64_t lease_until_ms, bool& won,
                                         int64_t& held_until_ms) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("claim_backfill"); !st.ok) return st;
    auto it = claims.find(name);
    won = it == claims.end() || it->second < now_ms;
    if (won) claims[name] = lease_until_ms;
    else held_until_ms = it->second;
    return {};
  }
  integrity::SharedStatus add_digest(const integrity::SharedChainHead& head,
                                     const integrity::KnownDigest& d, int64_t) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("add_digest"); !st.ok) return st;
    digests[head.chain][d.end] = d;
    auto& h = heads_by_chain[head.chain];
    if (h.last_end < head.last_end) {
      const int64_t alerted = h.alerted_end;
      h = head;
      h.alerted_end = alerted;
    }
    return {};
  }
  integrity::SharedStatus digest(const std::string& chain, int64_t end,
                                 std::optional<integrity::KnownDigest>& out) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("digest"); !st.ok) return st;
    out.reset();
    if (auto c = digests.find(chain); c != digests.end())
      if (auto d = c->second.find(end); d != c->second.end()) out = d->second;
    return {};
  }
  integrity::SharedStatus neighbours(const std::string& chain, int64_t end,
                                     std::optional<integrity::KnownDigest>& before,
                                     std::optional<integrity::KnownDigest>& after) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("neighbours"); !st.ok) return st;
    before.reset();
    after.reset();
    auto c = digests.find(chain);
    if (c == digests.end()) return {};
    auto it = c->second.lower_bound(end);
    if (it != c->second.begin()) before = std::prev(it)->second;
    auto next = c->second.upper_bound(end);
    if (next != c->second.end()) after = next->second;
    return {};
  }
  integrity::SharedStatus heads(std::vector<integrity::SharedChainHead>& out) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("heads"); !st.ok) return st;
    for (const auto& [id, h] : heads_by_chain) out.push_back(h);
    return {};
  }
  integrity::SharedStatus claim_stopped(const std::string& chain, int64_t last_end, int64_t,
                                        bool& won) override {
    std::lock_guard<std::mutex> l(mu_);
    if (auto st = call("claim_stopped"); !st.ok) return st;
    auto it = heads_by_chain.find(chain);
    won = it != heads_by_chain.end() && it->second.last_end == last_end &&
          it->second.alerted_end < last_end;
    if (won) it->second.alerted_end = last_end;
    return {};
  }

 private:
  integrity::SharedStatus call(const std::string& name) {
    ++calls[name];
    if (down || failing.count(name))
      return integrity::SharedStatus::failure("table t: " + name + ": no answer");
    return {};
  }
  std::mutex mu_;
};

}  // namespace trailwarden::testing
