// Reading input objects and turning them into JSON text: local files or stdin, gzip or plain
// JSON, detected by content (magic bytes), never by name. Free functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "agent/common/buffer.h"
#include "agent/decode/limits.h"

namespace trailwarden {

enum class InputFormat { kGzip, kJson, kUnknown };

// Detects the format from the first bytes: gzip magic 1f 8b, or JSON text (optionally after a
// UTF-8 byte order mark and whitespace) starting with '{' or '['.
InputFormat detect_format(std::string_view head);

// Reads a whole file ("-" is stdin) into `out`, refusing files larger than max_bytes.
// On failure `error` says why (errno text, or the limit).
bool read_input(const std::string& path, size_t max_bytes, Buffer& out, std::string& error);

// Turns raw object bytes into JSON text in `json` (decompressing gzip). A UTF-8 BOM and white
// space before the JSON are dropped; `dropped`, when given, receives them (the inflated bytes
// exactly as read are *dropped + json: what a CloudTrail digest's hashValue covers). Returns
// false with `error` for unknown formats and decompression failures.
bool decode_to_json(std::string_view bytes, const DecodeLimits& limits, Buffer& json,
                    std::string& error, std::string* dropped = nullptr);

}  // namespace trailwarden
