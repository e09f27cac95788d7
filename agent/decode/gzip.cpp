#include "agent/decode/gzip.h"

#include <isa-l.h>

#include <algorithm>
#include <fmt/format.h>

namespace trailwarden {

namespace {

const char* isal_error_name(int rc) {
  switch (rc) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "CRC32 or length check failed";
    default: return "decompression error";
  }
}

}  // namespace

InflateResult inflate_gzip(std::string_view in, size_t max_out, Buffer& out, std::string& error) {
  inflate_state state;
  isal_inflate_init(&state);
  state.crc_flag = ISAL_GZIP;
  const auto* next = reinterpret_cast<const uint8_t*>(in.data());
  size_t remaining = in.size();
  out.clear();
  // We let the output grow to max_out + 1 bytes: producing that extra byte proves the bound is
  // exceeded without decompressing any further (gzip bomb guard).
  const size_t hard_cap = max_out + 1;
  // Start with a guess of 10x the input (typical for CloudTrail), grow geometrically.
  out.reserve(std::min(hard_cap, std::max<size_t>(in.size() * 10, 1 << 16)));
  size_t produced = 0;
  size_t members = 0;

  while (true) {
    if (produced > max_out) {
      out.set_size(max_out);
      error = fmt::format("decompressed size exceeds the limit of {} bytes", max_out);
      return InflateResult::kTooLarge;
    }
    if (produced == out.capacity()) {
      out.set_size(produced);  // reserve() keeps size() bytes
      out.reserve(std::min(hard_cap, std::max(produced * 2, produced + (1 << 16))));
    }
    // Feed at most 1 GiB at a time: avail_in and avail_out are 32-bit.
    size_t chunk = std::min<size_t>(remaining, size_t{1} << 30);
    size_t room = std::min<size_t>(std::min(out.capacity(), hard_cap) - produced, size_t{1} << 30);
    state.next_in = const_cast<uint8_t*>(next);
    state.avail_in = static_cast<uint32_t>(chunk);
    state.next_out = reinterpret_cast<uint8_t*>(out.data() + produced);
    state.avail_out = static_cast<uint32_t>(room);
    int rc = isal_inflate(&state);
    const bool progressed = state.avail_out != room || state.avail_in != chunk;
    produced += room - state.avail_out;
    size_t consumed = chunk - state.avail_in;
    next += consumed;
    remaining -= consumed;
    if (rc < 0) {
      out.set_size(std::min(produced, max_out));
      error = fmt::format("{} at compressed offset {}", isal_error_name(rc), in.size() - remaining);
      return InflateResult::kCorrupt;
    }
    if (state.block_state == ISAL_BLOCK_FINISH) {
      ++members;
      if (produced > max_out) continue;  // reported at the top of the loop
      // Skip zero padding; anything else must be another gzip member.
      size_t zeros = 0;
      while (zeros < remaining && next[zeros] == 0) ++zeros;
      if (zeros == remaining) break;
      if (zeros == 0 && remaining >= 2 && next[0] == 0x1f && next[1] == 0x8b) {
        isal_inflate_reset(&state);
        state.crc_flag = ISAL_GZIP;
        continue;
      }
      out.set_size(produced);
      error = fmt::format("unexpected data after gzip member {} at compressed offset {}", members,
                          in.size() - remaining + zeros);
      return InflateResult::kCorrupt;
    }
    if (!progressed && remaining != 0 && state.avail_out != 0) {
      out.set_size(std::min(produced, max_out));
      error = fmt::format("decompressor made no progress at compressed offset {}",
                          in.size() - remaining);
      return InflateResult::kCorrupt;
    }
    if (remaining == 0 && state.avail_out != 0) {
      // All input consumed and output space left, yet the member did not finish.
      out.set_size(std::min(produced, max_out));
      error = fmt::format(
          "truncated gzip data: the input ends after {} bytes, inside member {} ({} bytes "
          "decompressed so far)",
          in.size(), members + 1, produced);
      return InflateResult::kTruncated;
    }
  }
  out.set_size(produced);
  return InflateResult::kOk;
}

}  // namespace trailwarden
