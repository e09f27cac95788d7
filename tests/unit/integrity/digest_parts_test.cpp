#include <doctest/doctest.h>

#include "agent/aws/sigv4.h"
#include "agent/decode/gzip.h"
#include "agent/integrity/digest_file.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/digest_signature.h"
#include "tests/unit/integrity/test_trail.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

TEST_CASE("digest keys: every part of CloudTrail's layout is read") {
  DigestKey k;
  std::string error;
  REQUIRE(parse_digest_key(
      "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
      "111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz",
      k, error));
  CHECK(k.prefix == "");
  CHECK(k.account == "111122223333");
  CHECK(k.source_region == "us-east-2");
  CHECK(k.trail == "your-trail-name");
  CHECK(k.home_region == "us-east-2");
  CHECK(format_utc(k.end) == "2015-08-17T15:01:31Z");
  CHECK_FALSE(k.backfill);

  SUBCASE("prefix, organization, a trail name with '_', another home region, backfill") {
    REQUIRE(parse_digest_key(
        "a/b/AWSLogs/o-exampleorgid/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/"
        "111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20261120T010031Z_backfill.json.gz",
        k, error));
    CHECK(k.prefix == "a/b");
    CHECK(k.org_id == "o-exampleorgid");
    CHECK(k.trail == "my_trail");
    CHECK(k.home_region == "us-east-1");
    CHECK(k.backfill);
    CHECK(k.chain() == "a/b|o-exampleorgid|111122223333|eu-west-1|my_trail|us-east-1|backfill");
  }
  SUBCASE("anything else is refused") {
    for (const char* bad : {
             "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0100Z_x.json.gz",
             "AWSLogs/11112222333/CloudTrail-Digest/us-east-1/2026/11/20/11112222333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010031Z.json.gz",
             "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/21/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010031Z.json.gz",
             "AWSLogs/111122223333/CloudTrail-Digest/nowhere/2026/11/20/111122223333_CloudTrail-Digest_nowhere_t_us-east-1_20261120T010031Z.json.gz",
             "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T250031Z.json.gz",
             "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010031Z.json",
             "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_us-east-1_20261120T010031Z.json.gz",
             "xAWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010031Z.json.gz",
         })
      CHECK_MESSAGE(!parse_digest_key(bad, k, error), bad);
  }
}

TEST_CASE("digest files: the sample in samples/ has CloudTrail's fields") {
  const std::string gz = test::read_file(
      std::string(TW_TEST_DATA_DIR) +
      "/../../samples/AWSLogs/730384926571/CloudTrail-Digest/us-east-1/2024/11/18/"
      "730384926571_CloudTrail-Digest_us-east-1_management_us-east-1_20241118T010000Z.json.gz");
  Buffer json;
  std::string error;
  REQUIRE(inflate_gzip(gz, 1 << 20, json, error) == InflateResult::kOk);
  DigestFile d;
  REQUIRE_MESSAGE(parse_digest(json.view(), d, error), error);
  CHECK(d.account == "730384926571");
  CHECK(d.signature_algorithm == "SHA256withRSA");
  CHECK(d.starting());
  DigestKey k;
  REQUIRE(parse_digest_key(d.key, k, error));
  CHECK(k.end == d.end);
  // It lists the sample log file of its hour with that file's SHA-256.
  REQUIRE(d.log_files.size() == 1);
  Buffer log;
  REQUIRE(inflate_gzip(test::read_file(std::string(TW_TEST_DATA_DIR) + "/../../samples/" +
                                       d.log_files[0].key),
                       size_t{64} << 20, log, error) == InflateResult::kOk);
  CHECK(aws::sha256_hex(log.view()) == d.log_files[0].hash);
}

TEST_CASE("digest files: missing, mistyped and oversized fields are named") {
  const std::string good =
      R"({"awsAccountId":"111122223333","digestStartTime":"2026-11-20T00:00:31Z","digestEndTime":"2026-11-20T01:00:31Z","digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,"logFiles":[{"s3Bucket":"b","s3Object":"l","hashValue":"9BB6196FC6B84D6F075A56548FEB2C4C2F7A4F5E9B12C0D6A8C2C1B3B4A5D6E7","hashAlgorithm":"SHA-256"}]})";
  DigestFile d;
  std::string error;
  REQUIRE_MESSAGE(parse_digest(good, d, error), error);
  CHECK(d.log_files.at(0).hash == "9bb6196fc6b84d6f075a56548feb2c4c2f7a4f5e9b12c0d6a8c2c1b3b4a5d6e7");
  CHECK(d.end_text == "2026-11-20T01:00:31Z");
  auto broken = [&](const std::string& from, const std::string& to) {
    std::string j = good;
    j.replace(j.find(from), from.size(), to);
    return j;
  };
  CHECK_FALSE(parse_digest(broken(R"("digestEndTime":"2026-11-20T01:00:31Z")", R"("digestEndTime":"yesterday")"), d, error));
  CHECK(error == "digestEndTime: not an ISO 8601 time");
  CHECK_FALSE(parse_digest(broken(R"("digestS3Bucket":"b",)", ""), d, error));
  CHECK(error == "digestS3Bucket: missing");
  CHECK_FALSE(parse_digest(broken(R"("hashValue":"9BB6)", R"("hashValue":"ZZB6)"), d, error));
  CHECK(error == "logFiles[0].hashValue: not hex");
  CHECK_FALSE(parse_digest(broken(R"("logFiles":[)", R"("logFiles":[7,)"), d, error));
  CHECK_FALSE(parse_digest(broken(R"("digestS3Object":"k")", R"("digestS3Object":")" + std::string(3000, 'k') + "\""), d, error));
  CHECK(error == "digestS3Object: too long");
  CHECK_FALSE(parse_digest("[1,2]", d, error));
  CHECK_FALSE(parse_digest("{\"awsAccountId\":", d, error));
  DigestLimits few;
  few.max_log_files = 0;
  CHECK_FALSE(parse_digest(good, d, error, few));
  CHECK(error == "logFiles: too many entries");
}

TEST_CASE("signatures: RSA PKCS#1 v1.5 SHA-256, keys in PKCS#1 or SPKI DER") {
  const test::TestKey& k = [] () -> const test::TestKey& { static test::TestKey key; return key; }();
  std::string error;
  auto pkcs1 = PublicKey::from_der(k.pkcs1, error);
  auto spki = PublicKey::from_der(k.spki, error);
  REQUIRE(pkcs1);
  REQUIRE(spki);
  CHECK(pkcs1->fingerprint() == md5_hex(k.pkcs1));
  const std::string sig = k.sign_hex("2026-11-20T01:00:31Z\nb/k\nabc\nnull");
  CHECK(pkcs1->verify("2026-11-20T01:00:31Z\nb/k\nabc\nnull", sig));
  CHECK(spki->verify("2026-11-20T01:00:31Z\nb/k\nabc\nnull", sig));
  CHECK_FALSE(pkcs1->verify("2026-11-20T01:00:31Z\nb/k\nabd\nnull", sig));
  std::string flipped = sig;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  CHECK_FALSE(pkcs1->verify("2026-11-20T01:00:31Z\nb/k\nabc\nnull", flipped));
  CHECK_FALSE(pkcs1->verify("2026-11-20T01:00:31Z\nb/k\nabc\nnull", "zz"));
  CHECK_FALSE(pkcs1->verify("2026-11-20T01:00:31Z\nb/k\nabc\nnull", ""));
  // Garbage, trailing bytes, a short key.
  CHECK_FALSE(PublicKey::from_der("not a key", error));
  CHECK_FALSE(PublicKey::from_der(k.pkcs1 + "x", error));
  test::TestKey small(1024);
  CHECK_FALSE(PublicKey::from_der(small.pkcs1, error));
  CHECK(error == "public key: RSA key shorter than 2048 bits");
}

TEST_CASE("signatures: the signing string is CloudTrail's") {
  DigestFile d;
  d.end_text = "2015-08-17T15:01:31Z";
  CHECK(digest_signing_string(d, "b", "AWSLogs/k.json.gz", "{}") ==
        "2015-08-17T15:01:31Z\nb/AWSLogs/k.json.gz\n"
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\nnull");
  d.previous_signature = "ab12";
  CHECK(digest_signing_string(d, "b", "k", "{}").ends_with("\nab12"));
}
