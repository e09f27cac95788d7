// DecodeLimits: the bounds applied to every input object. Plain value type.
#pragma once

#include <cstddef>

namespace trailwarden {

struct DecodeLimits {
  // Largest compressed object accepted, in bytes (files, stdin, S3 objects).
  size_t max_compressed_bytes = size_t{128} << 20;
  // Largest decompressed size; decompression stops as soon as it is exceeded.
  size_t max_decompressed_bytes = size_t{1} << 30;
  // Most records taken from one file.
  size_t max_records_per_file = 1000000;
  // Deepest JSON nesting accepted.
  size_t max_depth = 64;
};

}  // namespace trailwarden
