#include <doctest/doctest.h>

#include <chrono>
#include <functional>

#include <sys/stat.h>
#include <fstream>

#include "agent/aws/time_util.h"
#include "agent/integrity/file_public_keys.h"
#include "agent/integrity/local_trail_store.h"
#include "agent/decode/gzip.h"
#include "agent/integrity/digest_file.h"
#include "agent/integrity/trail_verifier.h"
#include "tests/unit/integrity/test_trail.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

namespace {

const auto t = &test::epoch;
using test::key1;
using test::key2;

const std::string kLog = R"({"Records":[{"eventVersion":"1.08","eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","awsRegion":"us-east-1","eventTime":"2026-11-20T00:10:00Z"}]})";

// Four hours: 01:00:31 (starting, two logs), 02:00:31 (one), 03:00:31 (empty), 04:00:31 (one).
test::TestTrail four_hours() {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog, kLog + " "}, true);
  trail.hour(t("2026-11-20T02:00:31Z"), {kLog + "  "});
  trail.hour(t("2026-11-20T03:00:31Z"), {});
  trail.hour(t("2026-11-20T04:00:31Z"), {kLog + "   "});
  return trail;
}

struct Checked {
  VerifyReport report;
  std::map<std::string, FileResult> by_key;
};

// Verifies `trail` from a local copy with key1 (and key2 if `both_keys`) published.
Checked verify(const test::TestTrail& trail, bool both_keys = false,
               int64_t now = t("2026-11-20T12:00:00Z"), int64_t end = t("2026-11-20T04:00:00Z"),
               const std::function<void(VerifyOptions&)>& adjust = {}) {
  test::TempDir dir("tw-verify");
  trail.write_to(dir.path + "/bucket");
  std::vector<const test::TestKey*> keys{&key1()};
  if (both_keys) keys.push_back(&key2());
  std::ofstream(dir.file("keys.json")) << trail.keys_json(keys);
  FilePublicKeys file_keys;
  std::string error;
  REQUIRE_MESSAGE(file_keys.load(dir.file("keys.json"), error), error);
  PublicKeyCache cache(file_keys);
  LocalTrailStore store(dir.path + "/bucket", trail.bucket);
  VerifyOptions o;
  o.bucket = trail.bucket;
  o.prefix = trail.prefix;
  o.account = trail.account;
  o.regions = {trail.region};
  o.start = t("2026-11-20T00:30:00Z");
  o.end = end;
  o.now = now;
  o.signatures_from_successor = true;
  // The newest digest's signature is in S3's metadata only: given, as --signatures does.
  o.signatures[trail.digest_keys.back()] = trail.signatures.at(trail.digest_keys.back());
  if (adjust) adjust(o);
  TrailVerifier verifier(store, store, cache);
  Checked c{verifier.verify(o), {}};
  for (const FileResult& r : c.report.files) c.by_key[r.key] = r;
  return c;
}

}  // namespace

TEST_CASE("verify: an intact trail of four hours (one empty) is whole") {
  Checked c = verify(four_hours());
  CHECK(c.report.errors.empty());
  CHECK(c.report.gaps.empty());
  CHECK(c.report.digests_valid == 4);
  CHECK(c.report.digests_invalid == 0);
  CHECK(c.report.logs_valid == 4);
  CHECK(c.report.whole());
}

TEST_CASE("verify: a log file changed by one byte does not match its hash") {
  test::TestTrail trail = four_hours();
  const std::string victim = trail.logs_of[trail.digest_keys[1]][0];
  trail.objects[victim] = test::gzip(kLog + "  x");
  Checked c = verify(trail);
  CHECK(c.by_key[victim].reason == "hash value doesn't match");
  CHECK(c.report.logs_invalid == 1);
  CHECK(c.report.logs_valid == 3);
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a log file that is not gzip is of invalid format; a deleted one is not found") {
  test::TestTrail trail = four_hours();
  const std::string flipped = trail.logs_of[trail.digest_keys[0]][0];
  const std::string deleted = trail.logs_of[trail.digest_keys[3]][0];
  trail.objects[flipped][trail.objects[flipped].size() / 2] ^= 0x40;
  trail.objects.erase(deleted);
  Checked c = verify(trail);
  CHECK(c.by_key[flipped].reason.rfind("invalid format", 0) == 0);
  CHECK(c.by_key[deleted].missing);
  CHECK(c.by_key[deleted].reason == "not found");
  CHECK(c.report.logs_missing == 1);
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a digest deleted in the middle of the chain is not found") {
  test::TestTrail trail = four_hours();
  const std::string gone = trail.digest_keys[1];
  trail.objects.erase(gone);
  Checked c = verify(trail);
  REQUIRE(c.by_key.count(gone));
  CHECK(c.by_key[gone].missing);
  CHECK(c.by_key[gone].reason == "not found");
  // Without its successor's link, the older digest still verifies through... nothing: a local
  // copy takes signatures from successors, so the digest before the hole cannot be checked.
  CHECK(c.report.digests_valid == 2);
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: the newest digests deleted leave a gap at the end (the CLI sees nothing)") {
  test::TestTrail trail = four_hours();
  Checked whole = verify(trail, false, t("2026-11-20T12:00:00Z"), t("2026-11-20T04:00:00Z"));
  CHECK(whole.report.gaps.empty());
  // The range goes on to 08:00 and it is now 12:00: digests up to 08:00 should be there.
  Checked c = verify(trail, false, t("2026-11-20T12:00:00Z"), t("2026-11-20T08:00:00Z"));
  REQUIRE(c.report.gaps.size() == 1);
  CHECK(c.report.gaps[0].from == t("2026-11-20T04:00:31Z"));
  CHECK_FALSE(c.report.whole());
  // Not yet late: at 05:30 with a grace of 1 h the 05:00:31 digest may still come.
  Checked early = verify(trail, false, t("2026-11-20T05:30:00Z"), t("2026-11-20T05:30:00Z"));
  CHECK(early.report.gaps.empty());
}

TEST_CASE("verify: a digest re-signed with another key") {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string resigned = trail.hour(t("2026-11-20T02:00:31Z"), {kLog + " "}, false, &key2());
  trail.hour(t("2026-11-20T03:00:31Z"), {kLog + "  "});
  trail.hour(t("2026-11-20T04:00:31Z"), {});
  SUBCASE("with its own fingerprint, not published: public key not found") {
    Checked c = verify(trail);
    CHECK(c.by_key[resigned].reason ==
          "public key not found in region us-east-1 for fingerprint " + key2().fingerprint);
    CHECK(c.report.digests_invalid == 1);
    // Its list of log files is not trusted, and neither is the signature it names for its
    // predecessor: a local copy cannot check the 01:00:31 digest either.
    CHECK(c.report.logs_not_verified == 2);
    CHECK(c.report.digests_not_verified == 1);
  }
  SUBCASE("with its own fingerprint, published: valid (CloudTrail's key rotation)") {
    Checked c = verify(trail, true);
    CHECK(c.report.whole());
  }
}

TEST_CASE("verify: a digest signed by another key under the published key's fingerprint") {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string forged =
      trail.hour(t("2026-11-20T02:00:31Z"), {kLog + " "}, false, &key2(), key1().fingerprint);
  trail.hour(t("2026-11-20T03:00:31Z"), {});
  trail.hour(t("2026-11-20T04:00:31Z"), {});
  Checked c = verify(trail);
  CHECK(c.by_key[forged].reason == "signature verification failed");
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a digest's content changed after signing fails its signature") {
  test::TestTrail trail = four_hours();
  const std::string k = trail.digest_keys.back();
  Buffer inflated;
  std::string error;
  REQUIRE(inflate_gzip(trail.objects[k], 1 << 20, inflated, error) == InflateResult::kOk);
  std::string json(inflated.view());
  json.replace(json.find("\"logFiles\":["), 12, "\"logFiles\":[ ");
  trail.objects[k] = test::gzip(json);
  Checked c = verify(trail);
  CHECK(c.by_key[k].reason == "signature verification failed");
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a validly signed digest whose link to its predecessor is wrong breaks the chain") {
  // What the CLI never checks: previousDigestHashValue against the digest it names.
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  const std::string named = trail.hour(t("2026-11-20T02:00:31Z"), {});
  trail.set_next_previous_hash(std::string(64, 'a'));
  trail.hour(t("2026-11-20T03:00:31Z"), {});
  trail.hour(t("2026-11-20T04:00:31Z"), {});
  Checked c = verify(trail);
  CHECK(c.by_key[named].reason == "its SHA-256 is not the previousDigestHashValue of the next digest");
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a digest copied to another key has been moved") {
  test::TestTrail trail = four_hours();
  const std::string from = trail.digest_keys[3];
  const std::string to = trail.digest_key(t("2026-11-20T04:30:31Z"));
  trail.objects[to] = trail.objects[from];
  trail.signatures[to] = trail.signatures[from];
  Checked c = verify(trail, false, t("2026-11-20T12:00:00Z"), t("2026-11-20T04:00:00Z"));
  CHECK(c.by_key[to].reason.rfind("has been moved from its original location", 0) == 0);
  CHECK(c.by_key[from].valid);  // the copy's links are not followed: the chain is intact
  CHECK(c.report.digests_valid == 4);
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a chain that restarts leaves a gap; the CLI's message names it") {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  trail.hour(t("2026-11-20T02:00:31Z"), {});
  trail.hour(t("2026-11-20T04:00:31Z"), {kLog + " "}, true);  // 03:00:31 never came
  Checked c = verify(trail);
  REQUIRE(c.report.gaps.size() == 1);
  CHECK(c.report.gaps[0].why ==
        "No log files were delivered by CloudTrail between 2026-11-20T02:00:31Z and 2026-11-20T03:00:31Z");
  CHECK(c.report.digests_valid == 2);  // the restart's predecessor has no successor's signature
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a digest naming log files outside the copy (path traversal) reads nothing") {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T01:00:31Z"), {kLog}, true);
  // Hand-edit the log key to climb out of the directory; re-sign so the digest itself is valid.
  std::string key = trail.digest_keys[0];
  Buffer inflated;
  std::string error;
  REQUIRE(inflate_gzip(trail.objects[key], 1 << 20, inflated, error) == InflateResult::kOk);
  std::string json(inflated.view());
  const std::string log_key = trail.logs_of[key][0];
  json.replace(json.find(log_key), log_key.size(), "../../../../etc/passwd");
  DigestFile d;
  REQUIRE(parse_digest(json, d, error));
  const std::string sig = key1().sign_hex(digest_signing_string(d, trail.bucket, key, json));
  trail.objects[key] = test::gzip(json);
  trail.signatures[key] = sig;
  Checked c = verify(trail);
  CHECK(c.by_key["../../../../etc/passwd"].missing);
  CHECK(c.report.digests_valid == 1);
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("LocalTrailStore: unsafe keys are never read") {
  CHECK(LocalTrailStore::safe_key("AWSLogs/1/x.json.gz"));
  for (const char* bad : {"", "/etc/passwd", "a/../b", "a//b", "./a", "a/.", "a\\b"})
    CHECK_FALSE(LocalTrailStore::safe_key(bad));
}

TEST_CASE("verify: a region asked for without a single digest is a gap, not whole") {
  // An attacker deletes every digest of one region (and edits its log files at will).
  Checked c = verify(four_hours(), false, t("2026-11-20T12:00:00Z"), t("2026-11-20T04:00:00Z"),
                     [](VerifyOptions& o) { o.regions.push_back("eu-west-1"); });
  CHECK(c.report.digests_valid == 4);
  REQUIRE(c.report.gaps.size() == 1);
  CHECK(c.report.gaps[0].why.find("no digest of any trail in eu-west-1") == 0);
  CHECK_FALSE(c.report.whole());
  CHECK(c.report.found_problems());
  SUBCASE("so is a trail asked for by name") {
    Checked named = verify(four_hours(), false, t("2026-11-20T12:00:00Z"),
                           t("2026-11-20T04:00:00Z"), [](VerifyOptions& o) { o.trail = "other"; });
    REQUIRE(named.report.gaps.size() == 1);
    CHECK(named.report.gaps[0].why.find("no digest of trail other in us-east-1") == 0);
  }
}

TEST_CASE("verify: a planted key that parses with a late date does not end the listing") {
  test::TestTrail trail = four_hours();
  // Sorts among the first day's keys, and its last AWSLogs/ reads as a digest of 2099.
  trail.objects[trail.digest_key(t("2026-11-19T23:00:00Z")).substr(0, 64) + "!/AWSLogs/" +
                trail.account + "/CloudTrail-Digest/" + trail.region + "/2099/01/01/" + trail.account +
                "_CloudTrail-Digest_" + trail.region + "_x_us-east-1_20990101T000000Z.json.gz"] = "x";
  trail.objects[trail.digest_key(t("2026-11-20T00:10:31Z")) + "~"] = "planted";
  Checked c = verify(trail);
  CHECK(c.report.digests_valid == 4);
  CHECK(c.report.logs_valid == 4);
  CHECK(c.report.whole());
}

TEST_CASE("verify: logging stopped before the range and restarted in it is a gap") {
  // The classic StopLogging: the last digest before the stop is older than --start.
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-20T00:10:31Z"), {kLog}, true);
  trail.hour(t("2026-11-20T02:00:31Z"), {kLog + " "}, true);  // StartLogging: a starting digest
  trail.hour(t("2026-11-20T03:00:31Z"), {});
  trail.hour(t("2026-11-20T04:00:31Z"), {});
  Checked c = verify(trail);
  REQUIRE(c.report.gaps.size() == 1);
  CHECK(c.report.gaps[0].why ==
        "No log files were delivered by CloudTrail between 2026-11-20T00:10:31Z and 2026-11-20T01:00:31Z");
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("verify: a chain whose digests all end before the range has stopped") {
  test::TestTrail trail(key1());
  trail.hour(t("2026-11-19T23:00:31Z"), {kLog}, true);
  trail.hour(t("2026-11-20T00:00:31Z"), {});
  Checked c = verify(trail);
  REQUIRE(c.report.gaps.size() == 1);
  CHECK(c.report.gaps[0].from == t("2026-11-20T00:00:31Z"));
  CHECK_FALSE(c.report.whole());
}

TEST_CASE("LocalTrailStore: pages in byte order; a FIFO or a symbolic link is never read") {
  test::TempDir dir("tw-local");
  std::filesystem::create_directories(dir.path + "/b/AWSLogs/x");
  for (int i = 0; i < 2500; ++i) std::ofstream(dir.path + "/b/AWSLogs/x/k" + std::to_string(i)) << i;
  REQUIRE(::mkfifo((dir.path + "/b/AWSLogs/fifo").c_str(), 0600) == 0);
  std::filesystem::create_directory_symlink("/etc", dir.path + "/b/AWSLogs/etc");
  LocalTrailStore store(dir.path + "/b", "bucket");
  std::vector<std::string> keys;
  std::string token;
  int pages = 0;
  do {
    ObjectPage page;
    REQUIRE(store.list("bucket", "AWSLogs/", "", token, 1000, page).ok());
    for (const ListedObject& o : page.objects) keys.push_back(o.key);
    token = page.next_token;
    ++pages;
  } while (!token.empty());
  CHECK(pages == 3);
  CHECK(keys.size() == 2500);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  Buffer out;
  ObjectRef fifo;
  fifo.bucket = "bucket";
  fifo.key = "AWSLogs/fifo";
  CHECK(store.get(fifo, 1 << 20, out).code == RemoteStatus::Code::kNotFound);  // returns at once
  ObjectRef link;
  link.bucket = "bucket";
  link.key = "AWSLogs/etc/passwd";
  CHECK(store.get(link, 1 << 20, out).code == RemoteStatus::Code::kNotFound);
  ObjectPage through_link;
  REQUIRE(store.list("bucket", "AWSLogs/etc/", "", "", 1000, through_link).ok());
  CHECK(through_link.objects.empty());
}

TEST_CASE("PublicKeyCache: a region CloudTrail did not answer is not asked again at once") {
  struct Failing : PublicKeyDirectory {
    int calls = 0;
    RemoteStatus list_public_keys(const std::string&, int64_t, int64_t,
                                  std::vector<TrailPublicKey>&, const std::atomic<bool>*) override {
      ++calls;
      return {RemoteStatus::Code::kRetry, "503 throttled"};
    }
  } failing;
  PublicKeyCache cache(failing, std::chrono::seconds(60));
  std::shared_ptr<const PublicKey> key;
  std::string error;
  CHECK(cache.find("us-east-1", "ab", 0, 10, key, error) == PublicKeyCache::Lookup::kUnavailable);
  CHECK(cache.find("us-east-1", "cd", 0, 10, key, error) == PublicKeyCache::Lookup::kUnavailable);
  CHECK(error == "ListPublicKeys in us-east-1: 503 throttled");
  CHECK(failing.calls == 1);
  CHECK(cache.find("eu-west-1", "ab", 0, 10, key, error) == PublicKeyCache::Lookup::kUnavailable);
  CHECK(failing.calls == 2);  // another region is its own
  PublicKeyCache eager(failing, std::chrono::seconds(0));
  eager.find("us-east-1", "ab", 0, 10, key, error);
  eager.find("us-east-1", "ab", 0, 10, key, error);
  CHECK(failing.calls == 4);
}
