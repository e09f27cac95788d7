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
  // Largest single record (one element of "Records", or one EventBridge event), in bytes.
  // Bounds what one record can cost when it is parsed into a DOM (about 15 times its size).
  size_t max_record_bytes = size_t{8} << 20;
  // Deepest JSON nesting accepted in a record (the record object itself is level 1).
  size_t max_depth = 64;
};

}  // namespace trailwarden
