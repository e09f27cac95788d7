// Little-endian binary fields for the agent's own files and buffers (alarm journal, alert
// records): put_* append to a string; ByteReader reads them back from untrusted bytes — every
// read is bounds-checked, a failed read sets ok = false and returns a zero value, and lengths are
// never trusted beyond the bytes that remain (no allocation larger than the input).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace trailwarden::bytes {

inline void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v));
  put_u32(out, static_cast<uint32_t>(v >> 32));
}
inline void put_i64(std::string& out, int64_t v) { put_u64(out, static_cast<uint64_t>(v)); }
inline void put_f64(std::string& out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  put_u64(out, bits);
}
// A string: u32 length, then its bytes.
inline void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

struct ByteReader {
  std::string_view in;
  bool ok = true;

  uint8_t u8() {
    if (in.empty()) return ok = false, 0;
    const auto v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint32_t u32() {
    if (in.size() < 4) return ok = false, 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
    in.remove_prefix(4);
    return v;
  }
  uint64_t u64() {
    const uint64_t lo = u32();
    const uint64_t hi = u32();
    return lo | (hi << 32);
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  double f64() {
    const uint64_t bits = u64();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::string_view str_view() {
    const uint32_t n = u32();
    if (!ok || in.size() < n) return ok = false, std::string_view();
    std::string_view s = in.substr(0, n);
    in.remove_prefix(n);
    return s;
  }
  std::string str() { return std::string(str_view()); }
  // A count of items each at least `min_item_bytes` long: refused when the bytes left cannot
  // hold that many (a forged count never makes the caller reserve or loop beyond the input).
  uint32_t count(size_t min_item_bytes) {
    const uint32_t n = u32();
    if (ok && min_item_bytes && n > in.size() / min_item_bytes) ok = false;
    return ok ? n : 0;
  }
};

}  // namespace trailwarden::bytes
