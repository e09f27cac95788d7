#include "agent/decode/log_file_scan.h"

#include <simdjson.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "agent/common/cpu_features.h"

namespace trailwarden {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view t, size_t i) {
  while (i < t.size() && is_space(t[i])) ++i;
  return i;
}

// Whether t[from, to) is whitespace around exactly one ',' (`comma`) or whitespace only.
bool is_separator(std::string_view t, size_t from, size_t to, bool comma) {
  size_t i = skip_space(t, from);
  if (comma) {
    if (i >= to || t[i] != ',') return false;
    i = skip_space(t, i + 1);
  }
  return i == to;
}

// The position after the string whose opening quote is at t[quote] (t.size() if unclosed): the
// next quote not escaped by an odd run of backslashes.
size_t string_end(std::string_view t, size_t quote) {
  for (size_t i = quote + 1;; ++i) {
    i = t.find('"', i);
    if (i == std::string_view::npos) return t.size();
    size_t backslashes = 0;
    while (t[i - 1 - backslashes] == '\\') ++backslashes;  // t[quote] ends the run
    if (backslashes % 2 == 0) return i + 1;
  }
}

// Whether On-Demand skips the object opening at t[open] to the bracket that closes it, as the
// scan does. It reads the first member itself: the key must be a string followed by ':'; and
// it takes the first token of the value apart from the rest, so the scan hands the object to it
// when that token is a separator, a closing bracket, or a string followed by ':'.
bool skips_as_scanned(std::string_view t, size_t open) {
  size_t i = skip_space(t, open + 1);
  if (i < t.size() && t[i] == '}') return true;  // {}
  if (i >= t.size() || t[i] != '"') return false;
  i = skip_space(t, string_end(t, i));
  if (i >= t.size() || t[i] != ':') return false;
  i = skip_space(t, i + 1);
  if (i >= t.size()) return false;
  switch (t[i]) {
    case ':': case ',': case '}': case ']': return false;
    case '"': {
      const size_t after = skip_space(t, string_end(t, i));
      return after < t.size() && t[after] != ':';
    }
    default: return true;
  }
}

// The position after `{ "Records" : [` at the start of `t`, or 0.
size_t records_array_start(std::string_view t) {
  size_t i = skip_space(t, 0);
  if (i >= t.size() || t[i] != '{') return 0;
  i = skip_space(t, i + 1);
  static constexpr std::string_view kKey = "\"Records\"";
  if (t.substr(i, kKey.size()) != kKey) return 0;
  i = skip_space(t, i + kKey.size());
  if (i >= t.size() || t[i] != ':') return 0;
  i = skip_space(t, i + 1);
  if (i >= t.size() || t[i] != '[') return 0;
  return i + 1;
}

#if defined(__x86_64__)

// The characters escaped by a backslash in a 64-byte block, carried across blocks: simdjson's
// rule (stage 1), so that strings end where the general reader ends them.
struct EscapeScanner {
  uint64_t next_is_escaped = 0;
  [[gnu::always_inline]] inline uint64_t next(uint64_t backslash) {
    if (backslash == 0) {
      const uint64_t escaped = next_is_escaped;
      next_is_escaped = 0;
      return escaped;
    }
    backslash &= ~next_is_escaped;  // a backslash escaped by the previous block escapes nothing
    const uint64_t follows_escape = backslash << 1 | next_is_escaped;
    constexpr uint64_t kEvenBits = 0x5555555555555555ULL;
    const uint64_t odd_sequence_starts = backslash & ~kEvenBits & ~follows_escape;
    uint64_t sequences_starting_on_even_bits;
    next_is_escaped = __builtin_add_overflow(odd_sequence_starts, backslash,
                                             &sequences_starting_on_even_bits);
    const uint64_t invert_mask = sequences_starting_on_even_bits << 1;
    return (kEvenBits ^ invert_mask) & follows_escape;
  }
};

// Bit i set when an odd number of bits at or below i are set in x.
[[gnu::always_inline]] inline uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

[[gnu::target("avx2"), gnu::always_inline]] inline uint64_t bits_of(__m256i lo, __m256i hi) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(lo))) |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(hi))) << 32;
}

enum class Scan { kDone, kNotHandled };

// The walk over the array's elements, from `from` (just after '['). Depth 0 is between elements.
[[gnu::target("avx2,popcnt")]] Scan scan_records_avx2(std::string_view t, size_t from,
                                                       size_t max_depth, size_t max_records,
                                                       std::vector<RecordExtent>& records) {
  const __m256i quote_byte = _mm256_set1_epi8('"');
  const __m256i backslash_byte = _mm256_set1_epi8('\\');
  const __m256i bit_20 = _mm256_set1_epi8(0x20);
  const __m256i open_byte = _mm256_set1_epi8(0x7B);   // '{' and '[' once 0x20 is set
  const __m256i close_byte = _mm256_set1_epi8(0x7D);  // '}' and ']' once 0x20 is set
  const __m256i max_control = _mm256_set1_epi8(0x1F);
  EscapeScanner escapes;
  uint64_t in_string_carry = 0;  // all ones when the previous block ended inside a string
  size_t depth = 0;
  const size_t depth_limit = max_depth - 2;  // the root object and the array are two levels
  size_t record_begin = 0;
  size_t after_previous = from;  // where the text since the last element (or '[') began
  const size_t n = t.size();
  for (size_t block = from; block < n; block += 64) {
    const char* p = t.data() + block;
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    const uint64_t valid = n - block >= 64 ? ~uint64_t{0} : (uint64_t{1} << (n - block)) - 1;
    const uint64_t quote =
        bits_of(_mm256_cmpeq_epi8(lo, quote_byte), _mm256_cmpeq_epi8(hi, quote_byte)) & valid;
    const uint64_t backslash = bits_of(_mm256_cmpeq_epi8(lo, backslash_byte),
                                       _mm256_cmpeq_epi8(hi, backslash_byte)) & valid;
    const __m256i lo20 = _mm256_or_si256(lo, bit_20), hi20 = _mm256_or_si256(hi, bit_20);
    uint64_t open =
        bits_of(_mm256_cmpeq_epi8(lo20, open_byte), _mm256_cmpeq_epi8(hi20, open_byte)) & valid;
    uint64_t close =
        bits_of(_mm256_cmpeq_epi8(lo20, close_byte), _mm256_cmpeq_epi8(hi20, close_byte)) & valid;
    const uint64_t control = bits_of(_mm256_cmpeq_epi8(_mm256_min_epu8(lo, max_control), lo),
                                     _mm256_cmpeq_epi8(_mm256_min_epu8(hi, max_control), hi)) &
                             valid;
    const uint64_t escaped = escapes.next(backslash);
    const uint64_t in_string = prefix_xor(quote & ~escaped) ^ in_string_carry;
    in_string_carry = static_cast<uint64_t>(static_cast<int64_t>(in_string) >> 63);
    if (control != 0) {
      if (control & in_string) return Scan::kNotHandled;  // unescaped, inside a string
      for (uint64_t c = control; c != 0; c &= c - 1)
        if (!is_space(p[__builtin_ctzll(c)])) return Scan::kNotHandled;
    }
    open &= ~in_string;
    close &= ~in_string;
    const auto opened = static_cast<size_t>(__builtin_popcountll(open));
    const auto closed = static_cast<size_t>(__builtin_popcountll(close));
    // No element can end in this block, nor begin, nor the nesting pass the limit.
    if (depth > closed && depth + opened <= depth_limit) {
      depth += opened - closed;
      continue;
    }
    for (uint64_t brackets = open | close; brackets != 0; brackets &= brackets - 1) {
      const uint64_t bit = brackets & (~brackets + 1);
      const size_t at = block + static_cast<size_t>(__builtin_ctzll(brackets));
      if (open & bit) {
        if (depth == 0) {  // an element begins: an object, after '[' or a ','
          if (t[at] != '{' || !is_separator(t, after_previous, at, !records.empty()) ||
              !skips_as_scanned(t, at))
            return Scan::kNotHandled;
          record_begin = at;
        }
        if (++depth > depth_limit) return Scan::kNotHandled;
        continue;
      }
      if (depth == 0) {  // the array ends: then only the root object's '}'
        if (t[at] != ']' || !is_separator(t, after_previous, at, false)) return Scan::kNotHandled;
        const size_t end = skip_space(t, at + 1);
        if (end >= n || t[end] != '}' || skip_space(t, end + 1) != n) return Scan::kNotHandled;
        // A string still open would have hidden this ']' (the text after it is checked above).
        return Scan::kDone;
      }
      if (--depth == 0) {  // an element ends
        if (t[at] != '}') return Scan::kNotHandled;
        if (records.size() >= max_records) return Scan::kNotHandled;
        after_previous = at + 1;
        const size_t end = skip_space(t, after_previous);
        records.push_back({static_cast<uint32_t>(record_begin), static_cast<uint32_t>(end)});
      }
    }
  }
  return Scan::kNotHandled;  // the text ended inside the array
}

#endif

}  // namespace

bool scan_log_file(std::string_view text, size_t max_depth, size_t max_records,
                   std::vector<RecordExtent>& records) {
  records.clear();
#if defined(__x86_64__)
  if (!cpu_has_avx2() || text.size() >= (size_t{1} << 32) || max_depth < 3) return false;
  const size_t from = records_array_start(text);
  if (from == 0) return false;
  if (!simdjson::validate_utf8(text.data(), text.size())) return false;
  return scan_records_avx2(text, from, max_depth, max_records, records) == Scan::kDone;
#else
  (void)text;
  (void)max_depth;
  (void)max_records;
  return false;
#endif
}

}  // namespace trailwarden
