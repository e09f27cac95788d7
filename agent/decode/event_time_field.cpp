#include "agent/decode/event_time_field.h"

#include <string.h>  // memmem

#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "agent/common/cpu_features.h"

namespace trailwarden {

namespace {

constexpr std::string_view kKey = "\"eventTime\":";
constexpr size_t kMaxValue = 64;

// The first `"eventTime":` at or after `from`, by memmem (not string_view::find: find looks
// for the first byte, '"', with memchr, and JSON is full of them).
size_t find_key_portable(std::string_view raw, size_t from) {
  if (from >= raw.size()) return std::string_view::npos;
  const void* hit = memmem(raw.data() + from, raw.size() - from, kKey.data(), kKey.size());
  if (hit == nullptr) return std::string_view::npos;
  return static_cast<size_t>(static_cast<const char*>(hit) - raw.data());
}

#if defined(__x86_64__)

// The first `"eventTime":` in `raw`: 32 candidate positions at a time, those with '"' at 0, 'i'
// at 7 and ':' at 11 (rare together: "eventTime" and almost nothing else) are compared in full.
// The last positions, where a 32-byte load at +11 would pass the end, go to memmem.
[[gnu::target("avx2")]] size_t find_key_avx2(std::string_view raw) {
  const char* p = raw.data();
  const size_t n = raw.size();
  const __m256i quote = _mm256_set1_epi8('"');
  const __m256i letter_i = _mm256_set1_epi8('i');
  const __m256i colon = _mm256_set1_epi8(':');
  size_t i = 0;
  for (; i + 32 + 11 <= n; i += 32) {
    const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i seventh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 7));
    const __m256i last = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 11));
    const __m256i all = _mm256_and_si256(
        _mm256_cmpeq_epi8(first, quote),
        _mm256_and_si256(_mm256_cmpeq_epi8(seventh, letter_i), _mm256_cmpeq_epi8(last, colon)));
    for (auto mask = static_cast<uint32_t>(_mm256_movemask_epi8(all)); mask != 0;
         mask &= mask - 1) {
      const size_t at = i + static_cast<size_t>(__builtin_ctz(mask));
      if (std::memcmp(p + at + 1, kKey.data() + 1, kKey.size() - 2) == 0) return at;
    }
  }
  return find_key_portable(raw, i);
}

#endif

}  // namespace

std::string_view find_event_time_text(std::string_view raw, bool vectorised) {
  size_t at = std::string_view::npos;
#if defined(__x86_64__)
  static const bool avx2 = cpu_has_avx2();
  if (vectorised && avx2) {
    at = find_key_avx2(raw);
  } else {
    at = find_key_portable(raw, 0);
  }
#else
  (void)vectorised;
  at = find_key_portable(raw, 0);
#endif
  if (at == std::string_view::npos) return {};
  at += kKey.size();
  while (at < raw.size() && (raw[at] == ' ' || raw[at] == '\t')) ++at;
  if (at >= raw.size() || raw[at] != '"') return {};
  const size_t end = raw.find('"', at + 1);
  if (end == std::string_view::npos || end - at > kMaxValue + 1) return {};
  return raw.substr(at + 1, end - at - 1);
}

}  // namespace trailwarden
