// ObjectProcessor::describe_objects: what a stage that checks objects (the integrity stage) is
// given of each object — the SHA-256 of its inflated bytes exactly as read, even when the
// processor repairs them afterwards, and a digest file's text as read — and nothing when off.
#include "agent/engine/processor.h"

#include <doctest/doctest.h>

#include <string>

#include "agent/aws/sigv4.h"
#include "agent/rules/rule.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {

struct Fixture {
  std::vector<rules::Rule> rules = rules::load_builtin_pack("cis-aws-foundations");
  std::vector<const rules::Rule*> enabled;
  std::unique_ptr<rules::RuleMatcher> matcher;
  DecodeLimits limits;
  Fixture() {
    for (const auto& r : rules)
      if (r.enabled) enabled.push_back(&r);
    matcher = std::make_unique<rules::RuleMatcher>(enabled);
  }
  // As the engine reads an S3 object: log files only.
  ObjectResult process(const std::string& bytes, bool describe) {
    ObjectProcessor p(*matcher, limits, OcsfOptions{});
    p.set_log_files_only(true);
    p.describe_objects(describe);
    p.raw_buffer().assign(bytes);
    ObjectResult r;
    p.process_raw("test-object", r);
    return r;
  }
};

// The Config sample (4 cis-4.9 matches) with one more record holding an invalid UTF-8 byte
// (0xff) in a string: the reader replaces it by '?' in place and reports the record bad.
std::string config_file_with_invalid_utf8() {
  std::string text = test::read_data("cloudtrail/awsdocs_config.json");
  const size_t at = text.find('[') + 1;
  return text.insert(
      at, "{\"eventSource\":\"config.amazonaws.com\",\"eventName\":\"StopConfigurationRecorder\","
          "\"userAgent\":\"bad \xff byte\"},");
}

// A CloudTrail digest file (its fields as CloudTrail writes them), with a byte that is not
// UTF-8 in a value: the text the stage is given must still be the bytes as read.
const std::string kDigest =
    "{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"2024-01-01T00:00:00Z\","
    "\"digestEndTime\":\"2024-01-01T01:00:00Z\",\"digestS3Bucket\":\"trail-bucket\","
    "\"digestS3Object\":\"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz\","
    "\"digestPublicKeyFingerprint\":\"0123\xfe\",\"digestSignatureAlgorithm\":\"SHA256withRSA\","
    "\"newestEventTime\":\"2024-01-01T00:59:00Z\",\"oldestEventTime\":\"2024-01-01T00:00:01Z\","
    "\"previousDigestS3Bucket\":null,\"previousDigestS3Object\":null,"
    "\"previousDigestHashValue\":null,\"previousDigestHashAlgorithm\":null,"
    "\"previousDigestSignature\":null,\"logFiles\":[]}";

}  // namespace

TEST_CASE("describe_objects: the hash is of the inflated bytes as read, before invalid UTF-8 "
          "is repaired") {
  Fixture f;
  const std::string text = config_file_with_invalid_utf8();
  const ObjectResult r = f.process(test::gzip(text), true);
  REQUIRE_FALSE(r.failed);
  CHECK(r.stats.kind == FileKind::kRecords);
  CHECK(r.bad_record_count == 1);  // the byte was found, and replaced in the processor's text
  CHECK(r.alerts.size() == 4);
  CHECK(r.content_sha256 == aws::sha256_hex(text));
  CHECK(r.content_sha256.size() == 64);
  CHECK(r.digest_text.empty());  // a log file's text is not kept
  // Plain JSON (not gzip): the same bytes, the same hash.
  CHECK(f.process(text, true).content_sha256 == aws::sha256_hex(text));
}

TEST_CASE("describe_objects: a byte order mark or white space before the JSON is part of the "
          "hash (dropped for reading only)") {
  Fixture f;
  const std::string log = test::read_data("cloudtrail/awsdocs_config.json");
  for (const std::string& text : {"\xEF\xBB\xBF" + log, " \n" + log}) {
    const ObjectResult r = f.process(test::gzip(text), true);
    REQUIRE_FALSE(r.failed);
    CHECK(r.alerts.size() == 4);
    CHECK(r.content_sha256 == aws::sha256_hex(text));
    CHECK(r.content_sha256 != aws::sha256_hex(log));
    CHECK(f.process(text, true).content_sha256 == aws::sha256_hex(text));
  }
}

TEST_CASE("describe_objects: a digest file's text is kept exactly as read, with its hash") {
  Fixture f;
  for (const std::string& text : {kDigest, "\xEF\xBB\xBF " + kDigest}) {
    const ObjectResult r = f.process(test::gzip(text), true);
    REQUIRE_FALSE(r.failed);
    CHECK(r.stats.kind == FileKind::kDigest);
    CHECK(r.alerts.empty());
    CHECK(r.digest_text == text);
    CHECK(r.content_sha256 == aws::sha256_hex(text));
  }
}

TEST_CASE("describe_objects off (the default): nothing hashed, nothing kept") {
  Fixture f;
  const ObjectResult log = f.process(test::gzip(config_file_with_invalid_utf8()), false);
  CHECK(log.alerts.size() == 4);
  CHECK(log.content_sha256.empty());
  const ObjectResult digest = f.process(test::gzip(kDigest), false);
  CHECK(digest.stats.kind == FileKind::kDigest);
  CHECK(digest.content_sha256.empty());
  CHECK(digest.digest_text.empty());
}

TEST_CASE("describe_objects: a processor reused for the next object describes only what it "
          "was last asked to") {
  Fixture f;
  ObjectProcessor p(*f.matcher, f.limits, OcsfOptions{});
  p.set_log_files_only(true);
  ObjectResult r;
  p.describe_objects(true);
  p.raw_buffer().assign(test::gzip(kDigest));
  p.process_raw("d", r);
  CHECK(r.digest_text == kDigest);
  p.describe_objects(false);
  p.raw_buffer().assign(test::gzip(kDigest));
  p.process_raw("d", r);
  CHECK(r.digest_text.empty());
  CHECK(r.content_sha256.empty());
}
