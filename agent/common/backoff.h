// Capped exponential backoff with jitter, shared by every retry loop (SQS polling and
// acknowledgement, S3 fetches, output deliveries). Stateless; thread-safe with a per-thread rng.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace trailwarden {

// base * 2^attempt, capped at `max`, then a uniform draw from [cap/2, cap].
inline std::chrono::milliseconds jittered_backoff(std::chrono::milliseconds base,
                                                  std::chrono::milliseconds max, int attempt,
                                                  std::mt19937& rng) {
  const int64_t cap = std::min<int64_t>(
      max.count(), base.count() * (int64_t{1} << std::clamp(attempt, 0, 20)));
  std::uniform_int_distribution<int64_t> d(cap / 2, std::max<int64_t>(cap, 1));
  return std::chrono::milliseconds(d(rng));
}

}  // namespace trailwarden
