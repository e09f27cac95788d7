#include "agent/decode/json_depth.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "agent/common/cpu_features.h"

namespace trailwarden {

namespace {

// How many bytes of `s` are '{' or '[' ('{' is 0x7B and '[' 0x5B: both are 0x7B once bit 0x20
// is set, and no other byte is). This runs on every record the general reader hands out: 32
// bytes per step with AVX2 where the CPU has it, else 16 with SSE2. Per-byte counters (a match is -1, subtracted) are summed
// every 255 steps, before they wrap.
#if defined(__x86_64__)
[[gnu::target("avx2,popcnt")]] size_t count_opening_brackets_avx2(std::string_view s, size_t& i) {
  size_t count = 0;
  const __m256i bit = _mm256_set1_epi8(0x20);
  const __m256i open = _mm256_set1_epi8(0x7B);
  const __m256i zero = _mm256_setzero_si256();
  while (i + 32 <= s.size()) {
    __m256i counters = zero;
    for (int steps = 0; steps < 255 && i + 32 <= s.size(); ++steps, i += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.data() + i));
      counters = _mm256_sub_epi8(counters, _mm256_cmpeq_epi8(_mm256_or_si256(v, bit), open));
    }
    const __m256i sums = _mm256_sad_epu8(counters, zero);  // four 64-bit sums of 8 bytes each
    count += static_cast<size_t>(_mm256_extract_epi64(sums, 0)) +
             static_cast<size_t>(_mm256_extract_epi64(sums, 1)) +
             static_cast<size_t>(_mm256_extract_epi64(sums, 2)) +
             static_cast<size_t>(_mm256_extract_epi64(sums, 3));
  }
  if (i < s.size() && s.size() >= 32) {
    // The rest: the last 32 bytes, without the lanes counted already.
    const size_t start = s.size() - 32;
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.data() + start));
    const auto matches = static_cast<uint32_t>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_or_si256(v, bit), open)));
    count += static_cast<size_t>(__builtin_popcount(matches >> (i - start)));
    i = s.size();
  }
  return count;
}

#endif

size_t count_opening_brackets(std::string_view s) {
  size_t count = 0, i = 0;
#if defined(__x86_64__)
  if (cpu_has_avx2()) count = count_opening_brackets_avx2(s, i);
#endif
#if defined(__SSE2__)
  const __m128i bit = _mm_set1_epi8(0x20);
  const __m128i open = _mm_set1_epi8(0x7B);
  const __m128i zero = _mm_setzero_si128();
  while (i + 16 <= s.size()) {
    __m128i counters = zero;
    for (int steps = 0; steps < 255 && i + 16 <= s.size(); ++steps, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(_mm_or_si128(v, bit), open));
    }
    const __m128i sums = _mm_sad_epu8(counters, zero);  // two 64-bit sums of 8 bytes each
    count += static_cast<size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
#endif
  for (; i < s.size(); ++i) count += static_cast<size_t>((s[i] | 0x20) == 0x7B);
  return count;
}

}  // namespace

bool json_depth_within(std::string_view raw, size_t limit) {
  // Every container opens with '{' or '[': their count bounds the depth, and for most
  // CloudTrail records that bound already settles it.
  if (count_opening_brackets(raw) <= limit) return true;
  // Exact: follow the nesting, skipping strings (brackets inside them do not count).
  size_t depth = 0;
  const size_t n = raw.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = raw[i];
    if (c == '"') {
      for (++i; i < n; ++i) {
        i = raw.find_first_of("\\\"", i);
        if (i == std::string_view::npos) return true;  // unclosed: the parser reports it
        if (raw[i] == '"') break;
        ++i;  // the escaped character
      }
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace trailwarden
