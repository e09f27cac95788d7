// gzip decompression with ISA-L (igzip), bounded. Stateless free functions; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "agent/common/buffer.h"

namespace trailwarden {

enum class InflateResult {
  kOk,
  kTooLarge,   // output would exceed max_out: stopped early (gzip bomb guard)
  kCorrupt,    // invalid deflate data, bad header or CRC/length mismatch
  kTruncated,  // input ended inside a member
};

// Decompresses every gzip member of `in` (multi-member files, as `cat a.gz b.gz` makes, are
// concatenated) into `out`, replacing its contents. Never writes more than `max_out` bytes.
// Trailing zero bytes after the last member are ignored (some tools pad); other trailing
// bytes are kCorrupt. On failure `error` says what is wrong and where (compressed offset).
InflateResult inflate_gzip(std::string_view in, size_t max_out, Buffer& out, std::string& error);

// The same, without holding the output: each piece is handed to `sink` as it is made (through a
// 256 KiB window), for a reader that only hashes or counts it. `sink` sees at most max_out bytes
// in all; the result and `error` are inflate_gzip's.
InflateResult inflate_gzip_stream(std::string_view in, size_t max_out,
                                  const std::function<void(std::string_view)>& sink,
                                  std::string& error);

}  // namespace trailwarden
