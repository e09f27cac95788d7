// check_digest: the checks of one digest file as read (its inflated text and S3 metadata), the
// same for `trailwarden verify` (trail_verifier.h) and `run` (integrity_stage.h), as AWS's
// "Validating CloudTrail log file integrity" and `aws cloudtrail validate-logs` make them:
//   - its fields are all there and well-formed (parse_digest);
//   - it says it is where it was read (digestS3Bucket, digestS3Object);
//   - it uses SHA256withRSA (in the file and in x-amz-meta-signature-algorithm) and SHA-256;
//   - it carries a signature (x-amz-meta-signature, or one given for a local copy);
//   - the key of its source region with the fingerprint it names (PublicKeyCache) signed it.
// The chain (whether previousDigest* match the digest they name) is the caller's: it alone
// knows the neighbours. Thread-safe as the PublicKeyCache is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/integrity/digest_file.h"
#include "agent/integrity/public_key_cache.h"
#include "agent/sources/queue.h"

namespace trailwarden::integrity {

enum class DigestVerdict {
  kValid,
  kInvalid,      // reason says why (the CLI's words where it has them)
  kNotVerified,  // well-formed, no signature to check (a local copy's newest digest)
  kUnchecked,    // CloudTrail's keys could not be had: neither valid nor invalid (error)
};

struct DigestCheckInput {
  std::string_view bucket;     // where it was read
  std::string_view key;
  std::string_view region;     // its source region (the key's): whose public keys sign it
  std::string_view inflated;   // its bytes, inflated
  const ObjectMetadata* metadata = nullptr;  // GetObject's; nullptr for a local copy
  // A signature from elsewhere (--signatures, the successor's previousDigestSignature), used
  // when the metadata has none; "" for none.
  std::string_view given_signature;
  // Without a signature: kNotVerified (a local copy) instead of kInvalid (S3: CloudTrail always
  // writes one).
  bool signature_optional = false;
  // The range whose keys are fetched when the fingerprint is not cached (epoch seconds).
  int64_t key_from = 0;
  int64_t key_until = 0;
};

struct DigestCheck {
  DigestVerdict verdict = DigestVerdict::kInvalid;
  bool parsed = false;    // `file` holds its fields (else reason says why not)
  std::string reason;     // why not valid; the error for kUnchecked
  DigestFile file;
  std::string sha256;     // lowercase hex SHA-256 of the inflated bytes
  std::string signature;  // the signature checked
};

DigestCheck check_digest(const DigestCheckInput& in, PublicKeyCache& keys);

}  // namespace trailwarden::integrity
