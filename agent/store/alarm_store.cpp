#include "agent/store/alarm_store.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace trailwarden::store {

std::string unit_digest(std::string_view unit) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(unit.data()), unit.size(), hash);
  return std::string(reinterpret_cast<const char*>(hash), 16);
}

std::vector<PeriodDelta> merge_deltas(const std::vector<PeriodDelta>& deltas,
                                      size_t max_contributors) {
  std::vector<PeriodDelta> out;
  std::map<std::tuple<std::string_view, std::string_view, std::string_view, int64_t>, size_t> index;
  out.reserve(deltas.size());
  for (const PeriodDelta& d : deltas) {
    auto [it, fresh] = index.try_emplace({d.unit, d.alarm_key, d.dimensions_key, d.period_start},
                                         out.size());
    if (fresh) {
      out.push_back(d);
      out.back().contributors.clear();
    }
    PeriodDelta& m = out[it->second];
    if (!fresh) {
      m.count += d.count;
      m.sum += d.sum;
      if (d.min) m.min = m.min ? std::min(*m.min, *d.min) : *d.min;
      if (d.max) m.max = m.max ? std::max(*m.max, *d.max) : *d.max;
    }
    for (const std::string& id : d.contributors) {
      if (m.contributors.size() >= max_contributors) break;
      if (std::find(m.contributors.begin(), m.contributors.end(), id) == m.contributors.end())
        m.contributors.push_back(id);
    }
  }
  // The index's keys view `deltas`, which outlives it; `out` holds copies.
  return out;
}

}  // namespace trailwarden::store
