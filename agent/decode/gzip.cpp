#include "agent/decode/gzip.h"

#include <isa-l.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>
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

// The inflate loop, over an output policy: window(produced) gives where the next bytes go and
// how many may (at least 1 while produced <= max_out), written(n) takes n new bytes, done(size)
// ends (also on errors, with what is kept).
template <typename Output>
InflateResult inflate_loop(std::string_view in, size_t max_out, Output& out, std::string& error) {
  inflate_state state;
  isal_inflate_init(&state);
  state.crc_flag = ISAL_GZIP;
  const auto* next = reinterpret_cast<const uint8_t*>(in.data());
  size_t remaining = in.size();
  size_t produced = 0;
  size_t members = 0;

  while (true) {
    if (produced > max_out) {
      out.done(max_out);
      error = fmt::format("decompressed size exceeds the limit of {} bytes", max_out);
      return InflateResult::kTooLarge;
    }
    // Feed at most 1 GiB at a time: avail_in and avail_out are 32-bit.
    const auto [dest, window] = out.window(produced);
    size_t chunk = std::min<size_t>(remaining, size_t{1} << 30);
    size_t room = std::min<size_t>(window, size_t{1} << 30);
    state.next_in = const_cast<uint8_t*>(next);
    state.avail_in = static_cast<uint32_t>(chunk);
    state.next_out = reinterpret_cast<uint8_t*>(dest);
    state.avail_out = static_cast<uint32_t>(room);
    int rc = isal_inflate(&state);
    const bool progressed = state.avail_out != room || state.avail_in != chunk;
    out.written(room - state.avail_out);
    produced += room - state.avail_out;
    size_t consumed = chunk - state.avail_in;
    next += consumed;
    remaining -= consumed;
    if (rc < 0) {
      out.done(std::min(produced, max_out));
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
      out.done(produced);
      error = fmt::format("unexpected data after gzip member {} at compressed offset {}", members,
                          in.size() - remaining + zeros);
      return InflateResult::kCorrupt;
    }
    if (!progressed && remaining != 0 && state.avail_out != 0) {
      out.done(std::min(produced, max_out));
      error = fmt::format("decompressor made no progress at compressed offset {}",
                          in.size() - remaining);
      return InflateResult::kCorrupt;
    }
    if (remaining == 0 && state.avail_out != 0) {
      // All input consumed and output space left, yet the member did not finish.
      out.done(std::min(produced, max_out));
      error = fmt::format(
          "truncated gzip data: the input ends after {} bytes, inside member {} ({} bytes "
          "decompressed so far)",
          in.size(), members + 1, produced);
      return InflateResult::kTruncated;
    }
  }
  out.done(produced);
  return InflateResult::kOk;
}

// Into one growing Buffer. We let it grow to max_out + 1 bytes: producing that extra byte proves
// the bound is exceeded without decompressing any further (gzip bomb guard).
struct BufferOutput {
  Buffer& buf;
  size_t hard_cap;
  std::pair<char*, size_t> window(size_t produced) {
    if (produced == buf.capacity()) {
      buf.set_size(produced);  // reserve() keeps size() bytes
      buf.reserve(std::min(hard_cap, std::max(produced * 2, produced + (1 << 16))));
    }
    return {buf.data() + produced, std::min(buf.capacity(), hard_cap) - produced};
  }
  void written(size_t) {}
  void done(size_t size) { buf.set_size(size); }
};

// Through one fixed window, each piece handed to a sink as it is made.
struct StreamOutput {
  const std::function<void(std::string_view)>& sink;
  size_t max_out;
  std::vector<char> window_bytes = std::vector<char>(size_t{256} << 10);
  std::pair<char*, size_t> window(size_t produced) {
    // At most max_out + 1 bytes in all: the extra byte proves the bound exceeded.
    const size_t left = max_out + 1 - std::min(produced, max_out + 1);
    return {window_bytes.data(), std::max<size_t>(1, std::min(window_bytes.size(), left))};
  }
  size_t total = 0;
  void written(size_t n) {
    // Never hand over bytes past max_out.
    const size_t keep = std::min(n, max_out - std::min(total, max_out));
    if (keep) sink(std::string_view(window_bytes.data(), keep));
    total += n;
  }
  void done(size_t) {}
};

}  // namespace

InflateResult inflate_gzip(std::string_view in, size_t max_out, Buffer& out, std::string& error) {
  out.clear();
  BufferOutput output{out, max_out + 1};
  // Start with a guess of 10x the input (typical for CloudTrail), grow geometrically.
  out.reserve(std::min(output.hard_cap, std::max<size_t>(in.size() * 10, 1 << 16)));
  return inflate_loop(in, max_out, output, error);
}

InflateResult inflate_gzip_stream(std::string_view in, size_t max_out,
                                  const std::function<void(std::string_view)>& sink,
                                  std::string& error) {
  StreamOutput output{sink, max_out};
  return inflate_loop(in, max_out, output, error);
}

}  // namespace trailwarden
