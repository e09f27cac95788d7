// How a CloudTrail digest is signed, and checking it (docs/integrity.md, "Checks"), as AWS's
// "Validating CloudTrail log file integrity" documents and `aws cloudtrail validate-logs` does:
//
//   string = digestEndTime "\n" <bucket>/<key> "\n" hex(SHA-256(inflated digest bytes)) "\n"
//            (previousDigestSignature, or "null" for a starting digest)
//   signature = RSASSA-PKCS1-v1_5 with SHA-256 over string, hex in x-amz-meta-signature
//
// with the region's public key whose fingerprint the digest names (ListPublicKeys: DER, PKCS#1
// RSAPublicKey or X.509 SubjectPublicKeyInfo; its fingerprint is the hex MD5 of the DER).
// Thread-safe: a PublicKey may be used from several threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "agent/integrity/digest_file.h"

namespace trailwarden::integrity {

// The string CloudTrail signs for `digest`, read from `bucket`/`key` (where it was read, which
// parse_digest's caller checks against digestS3Bucket/Object), `inflated` its bytes.
std::string digest_signing_string(const DigestFile& digest, std::string_view bucket,
                                  std::string_view key, std::string_view inflated);

// Lowercase hex MD5 of `data` (CloudTrail's key fingerprints; SHA-256: aws::sha256_hex).
std::string md5_hex(std::string_view data);

// SHA-256 over pieces (a log file hashed as it is inflated, never held whole).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();  // lowercase; once, at the end
 private:
  EVP_MD_CTX* ctx_;
};

// An RSA public key from CloudTrail (DER bytes).
class PublicKey {
 public:
  // nullptr with `error` unless `der` is an RSA public key in PKCS#1 or SPKI DER (of at least
  // 2048 bits: CloudTrail's keys are; a shorter one is refused as unsafe).
  static std::shared_ptr<const PublicKey> from_der(std::string_view der, std::string& error);
  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  // True iff `signature_hex` (hex, any case) is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of
  // `message` by this key. Malformed hex is false.
  bool verify(std::string_view message, std::string_view signature_hex) const;
  // hex MD5 of the DER it was made from.
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  PublicKey() = default;
  EVP_PKEY* key_ = nullptr;
  std::string fingerprint_;
};

}  // namespace trailwarden::integrity
