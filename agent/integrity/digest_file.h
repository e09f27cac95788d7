// A CloudTrail digest file's content (docs/integrity.md, "The digest file"), read from its
// inflated JSON. The bytes are untrusted until the signature is checked (digest_signature.h):
// parse_digest only checks that every field CloudTrail writes is there with the right type and
// within bounds, and never trusts a field to be consistent with another. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden::integrity {

struct DigestLogFile {
  std::string bucket;      // s3Bucket
  std::string key;         // s3Object
  std::string hash;        // hashValue: lowercase hex SHA-256 of the uncompressed log file
  std::string hash_algorithm;  // hashAlgorithm ("SHA-256")
};

struct DigestFile {
  std::string account;          // awsAccountId
  int64_t start = 0;            // digestStartTime, epoch seconds
  int64_t end = 0;              // digestEndTime
  std::string end_text;         // digestEndTime exactly as written (it is signed as written)
  std::string bucket;           // digestS3Bucket: where CloudTrail delivered this digest
  std::string key;              // digestS3Object
  std::string fingerprint;      // digestPublicKeyFingerprint (lowercase hex)
  std::string signature_algorithm;  // digestSignatureAlgorithm ("SHA256withRSA")
  // The previous digest of the chain; all empty for a starting digest (validation or logging
  // (re)started: CloudTrail writes null).
  std::string previous_bucket;
  std::string previous_key;
  std::string previous_hash;    // previousDigestHashValue: hex SHA-256 of the inflated previous digest
  std::string previous_hash_algorithm;
  std::string previous_signature;  // previousDigestSignature: hex, as written (it is signed so)
  std::vector<DigestLogFile> log_files;

  // No previous digest: the first of a chain (CloudTrail writes null for every previousDigest*
  // field; one null key or signature is enough to have nothing to follow).
  bool starting() const { return previous_key.empty() || previous_signature.empty(); }
};

struct DigestLimits {
  size_t max_log_files = 200000;  // a busy hour lists thousands; far more is hostile
  size_t max_field_bytes = 2048;  // S3 keys are at most 1024 bytes
};

// Reads `json` (the inflated digest). false with `error` naming the first field that is missing,
// of the wrong type, malformed (times, hex) or over a bound.
bool parse_digest(std::string_view json, DigestFile& out, std::string& error,
                  const DigestLimits& limits = {});

// True for lowercase or uppercase hex of exactly `size` digits (size 0: any even length > 0).
bool is_hex(std::string_view s, size_t size = 0);

}  // namespace trailwarden::integrity
