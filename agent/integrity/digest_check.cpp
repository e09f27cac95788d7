#include "agent/integrity/digest_check.h"

#include <memory>

#include "agent/aws/sigv4.h"
#include "agent/integrity/digest_signature.h"

namespace trailwarden::integrity {

DigestCheck check_digest(const DigestCheckInput& in, PublicKeyCache& keys) {
  DigestCheck d;
  auto invalid = [&d](std::string reason) {
    d.verdict = DigestVerdict::kInvalid;
    d.reason = std::move(reason);
    return std::move(d);
  };
  std::string error;
  if (!parse_digest(in.inflated, d.file, error)) return invalid("invalid format (" + error + ")");
  d.parsed = true;
  d.sha256 = aws::sha256_hex(in.inflated);
  if (d.file.bucket != in.bucket || d.file.key != in.key)
    return invalid("has been moved from its original location (it says s3://" + d.file.bucket +
                   "/" + d.file.key + ")");
  if (d.file.signature_algorithm != "SHA256withRSA")
    return invalid("unsupported signature algorithm " + d.file.signature_algorithm);
  const std::string* meta_alg = in.metadata ? in.metadata->find("signature-algorithm") : nullptr;
  if (meta_alg && *meta_alg != "SHA256withRSA")
    return invalid("unsupported signature algorithm " + *meta_alg);
  if (!d.file.previous_hash_algorithm.empty() && d.file.previous_hash_algorithm != "SHA-256")
    return invalid("unsupported hash algorithm " + d.file.previous_hash_algorithm);
  if (const std::string* sig = in.metadata ? in.metadata->find("signature") : nullptr) {
    // CloudTrail writes both; the CLI refuses a digest without either.
    if (!meta_alg)
      return invalid("signature verification failed (no x-amz-meta-signature-algorithm)");
    d.signature = *sig;
  } else {
    d.signature = std::string(in.given_signature);
  }
  if (d.signature.empty()) {
    if (in.signature_optional) {
      d.verdict = DigestVerdict::kNotVerified;
      d.reason = "no signature to check (the newest digest of a local copy: give it with "
                 "--signatures)";
      return d;
    }
    return invalid("signature verification failed (no x-amz-meta-signature)");
  }
  const std::string region(in.region);
  std::shared_ptr<const PublicKey> pk;
  switch (keys.find(region, d.file.fingerprint, in.key_from, in.key_until, pk, error)) {
    case PublicKeyCache::Lookup::kFound:
      break;
    case PublicKeyCache::Lookup::kNotFound:
      return invalid("public key not found in region " + region + " for fingerprint " +
                     d.file.fingerprint);
    case PublicKeyCache::Lookup::kUnavailable:
      d.verdict = DigestVerdict::kUnchecked;
      d.reason = error;
      return d;
  }
  if (!pk->verify(digest_signing_string(d.file, in.bucket, in.key, in.inflated), d.signature))
    return invalid("signature verification failed");
  d.verdict = DigestVerdict::kValid;
  return d;
}

}  // namespace trailwarden::integrity
