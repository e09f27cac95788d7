// A signed CloudTrail trail built in memory for the integrity unit tests: RSA test keys
// (OpenSSL), log files, hourly digests chained and signed as CloudTrail does
// (agent/integrity/digest_signature.h), written to a directory laid out like the bucket.
#pragma once

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "agent/aws/base64.h"
#include "agent/aws/sigv4.h"
#include "agent/aws/time_util.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/digest_signature.h"
#include "tests/unit/test_util.h"

namespace trailwarden::test {

struct TestKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string pkcs1, spki;  // DER
  std::string fingerprint;  // MD5 hex of the PKCS#1 DER (what CloudTrail sends with it)

  explicit TestKey(int bits = 2048) {
    EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
    if (!k) throw std::runtime_error("EVP_RSA_gen");
    pkey.reset(k, EVP_PKEY_free);
    unsigned char* p = nullptr;
    int n = i2d_PublicKey(k, &p);
    pkcs1.assign(reinterpret_cast<char*>(p), static_cast<size_t>(n));
    OPENSSL_free(p);
    p = nullptr;
    n = i2d_PUBKEY(k, &p);
    spki.assign(reinterpret_cast<char*>(p), static_cast<size_t>(n));
    OPENSSL_free(p);
    fingerprint = integrity::md5_hex(pkcs1);
  }
  std::string sign_hex(std::string_view message) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey.get());
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(message.data()), message.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return aws::to_hex(reinterpret_cast<const uint8_t*>(sig.data()), sig.size());
  }
};

// Epoch seconds of "2026-11-20T01:00:31Z" (throws if malformed: a broken test).
inline int64_t epoch(const char* iso) {
  aws::TimePoint tp;
  if (!aws::parse_iso8601(iso, tp)) throw std::runtime_error(std::string("not a time: ") + iso);
  return std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
}

// Two RSA test keys, made once per process (key generation is slow).
inline const TestKey& key1() {
  static const TestKey k;
  return k;
}
inline const TestKey& key2() {
  static const TestKey k;
  return k;
}

class TestTrail {
 public:
  std::string bucket = "trail-bucket", account = "111122223333", region = "us-east-1",
              trail = "main_trail", home = "us-east-1", prefix = "org";
  std::map<std::string, std::string> objects;     // key -> bytes as S3 holds them
  std::map<std::string, std::string> signatures;  // digest key -> x-amz-meta-signature
  std::vector<std::string> digest_keys;           // in order of end time
  std::map<std::string, std::vector<std::string>> logs_of;  // digest key -> its log keys

  explicit TestTrail(const TestKey& key) : key_(key) {}

  std::string digest_key(int64_t end) const {
    const std::string t = integrity::format_utc(end);  // YYYY-MM-DDTHH:MM:SSZ
    const std::string stamp = t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "T" +
                              t.substr(11, 2) + t.substr(14, 2) + t.substr(17, 2) + "Z";
    return integrity::digest_day_folder(prefix, "", account, region, end) + account +
           "_CloudTrail-Digest_" + region + "_" + trail + "_" + home + "_" + stamp + ".json.gz";
  }

  // One hour's digest ending at `end`, listing `logs` (uncompressed contents). `start_chain`:
  // a starting digest (previous* null). `signer`: another key signs it (fingerprint: `fingerprint`).
  std::string hour(int64_t end, const std::vector<std::string>& logs, bool start_chain = false,
                   const TestKey* signer = nullptr, std::string fingerprint = "") {
    const std::string key = digest_key(end);
    std::string files;
    int i = 0;
    for (const std::string& log : logs) {
      const std::string lk = integrity::digest_day_folder(prefix, "", account, region, end);
      std::string log_key = lk;
      log_key.replace(log_key.find("CloudTrail-Digest"), 17, "CloudTrail");
      log_key += account + "_CloudTrail_" + region + "_" + std::to_string(end) + "_" + std::to_string(i++) + ".json.gz";
      objects[log_key] = gzip(log);
      logs_of[key].push_back(log_key);
      if (!files.empty()) files += ",";
      files += fmt::format(R"({{"s3Bucket":"{}","s3Object":"{}","hashValue":"{}","hashAlgorithm":"SHA-256","newestEventTime":null,"oldestEventTime":null}})",
                           bucket, log_key, aws::sha256_hex(log));
    }
    const bool starting = start_chain || prev_key_.empty();
    auto q = [](const std::string& s) { return s.empty() ? std::string("null") : "\"" + s + "\""; };
    const std::string json = fmt::format(
        R"({{"awsAccountId":"{}","digestStartTime":"{}","digestEndTime":"{}","digestS3Bucket":"{}","digestS3Object":"{}","digestPublicKeyFingerprint":"{}","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Bucket":{},"previousDigestS3Object":{},"previousDigestHashValue":{},"previousDigestHashAlgorithm":{},"previousDigestSignature":{},"logFiles":[{}]}})",
        account, integrity::format_utc(end - 3600), integrity::format_utc(end), bucket, key,
        fingerprint.empty() ? (signer ? signer->fingerprint : key_.fingerprint) : fingerprint,
        q(starting ? "" : bucket), q(starting ? "" : prev_key_), q(starting ? "" : prev_hash_),
        q(starting ? "" : "SHA-256"), q(starting ? "" : prev_sig_), files);
    const std::string to_sign = integrity::format_utc(end) + "\n" + bucket + "/" + key + "\n" +
                                aws::sha256_hex(json) + "\n" + (starting ? "null" : prev_sig_);
    const std::string sig = (signer ? *signer : key_).sign_hex(to_sign);
    objects[key] = gzip(json);
    signatures[key] = sig;
    digest_keys.push_back(key);
    prev_key_ = key;
    prev_hash_ = aws::sha256_hex(json);
    prev_sig_ = sig;
    return key;
  }

  // The next digest records `hash` as its predecessor's SHA-256 (a broken link, validly signed).
  void set_next_previous_hash(std::string hash) { prev_hash_ = std::move(hash); }

  void write_to(const std::string& dir) const {
    for (const auto& [k, v] : objects) {
      const std::filesystem::path p = std::filesystem::path(dir) / k;
      std::filesystem::create_directories(p.parent_path());
      std::ofstream(p, std::ios::binary) << v;
    }
  }
  // {"<region>": [one key]} as FilePublicKeys reads it, valid for all of 2020-2030.
  std::string keys_json(const std::vector<const TestKey*>& keys) const {
    std::string list;
    for (const TestKey* k : keys) {
      if (!list.empty()) list += ",";
      list += fmt::format(R"({{"Value":"{}","ValidityStartTime":1577836800,"ValidityEndTime":1893456000,"Fingerprint":"{}"}})",
                          aws::base64_encode(k->pkcs1), k->fingerprint);
    }
    return fmt::format(R"({{"{}":[{}]}})", region, list);
  }

 private:
  const TestKey& key_;
  std::string prev_key_, prev_hash_, prev_sig_;
};

}  // namespace trailwarden::test
