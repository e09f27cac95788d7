// Prints integrity alerts (agent/normalize/integrity_finding.h) in one alert format, one a line,
// for tests/tools/check_alert_schemas.py: every check, each as the integrity stage fills it, with
// nothing but the required values, and with hostile values (a key with quotes, backslashes,
// control bytes, newlines and invalid UTF-8; an account and a region that are not ones).
//
// Usage: integrity_findings_tool ocsf|ecs|cloudtrail|cef
#include <cstdio>
#include <string>
#include <vector>

#include "agent/normalize/integrity_finding.h"
#include "outputs/format.h"

using namespace trailwarden;

namespace {

constexpr const auto& kChecks = kIntegrityChecks;

constexpr const char* kDigest =
    "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/"
    "111122223333_CloudTrail-Digest_eu-west-1_main_eu-west-1_20261120T020031Z.json.gz";
constexpr const char* kLogFile =
    "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/"
    "111122223333_CloudTrail_eu-west-1_20261120T0145Z_abcdEFGH12345678.json.gz";

IntegrityFindingInput typical(IntegrityCheck check) {
  const bool about_log_file =
      check == IntegrityCheck::kLogFileModified || check == IntegrityCheck::kLogFileUnreadable;
  IntegrityFindingInput in;
  in.check = check;
  in.reason = about_log_file ? "hash value doesn't match" : "signature verification failed";
  in.bucket = "trail-bucket";
  in.key = about_log_file ? kLogFile : kDigest;
  in.account = "111122223333";
  in.region = "eu-west-1";
  in.chain = "trail-bucket/AWSLogs/111122223333/eu-west-1/main/eu-west-1";
  in.digest_key = kDigest;
  in.expected_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  if (check == IntegrityCheck::kLogFileModified)
    in.actual_sha256 = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
  in.fingerprint = "67b9fa73676d86966b449dd677850753";
  in.from_ms = 1795136431000;  // 2026-11-20T01:00:31Z
  in.to_ms = 1795140031000;
  in.unit = std::string("s3://trail-bucket/") + in.key;
  if (check == IntegrityCheck::kLogFileUnreadable) in.error = "HTTP 404 NoSuchKey: The specified key does not exist.";
  in.time_ms = 1795143631123;
  return in;
}

IntegrityFindingInput minimal(IntegrityCheck check) {
  IntegrityFindingInput in;
  in.check = check;
  in.bucket = "b";
  in.key = "k";
  return in;
}

IntegrityFindingInput hostile(IntegrityCheck check) {
  IntegrityFindingInput in = typical(check);
  const std::string bad = std::string("AWSLogs/\"q\"\\x/\x01\x1f\x7f/line\nbreak\r/\xff\xc3(") +
                          "/<script>|cs1=x=y|/" + std::string(3, '\0') + "end/";
  in.key = bad;
  in.digest_key = bad + "digest";
  in.bucket = "b\"\\\n";
  in.account = "1111\"2222";
  in.region = "eu-west-1\n";
  in.reason = "reason with \"quotes\", \\ and \n newline \xfe";
  in.chain = bad;
  in.expected_sha256 = "not hex \x02";
  in.actual_sha256 = check == IntegrityCheck::kLogFileModified ? "zz\"" : "";
  in.fingerprint = "\x80";
  in.unit = "s3://" + bad;
  in.error = "HTTP 403 <Error>\n</Error>";
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  AlertFormat format;
  if (argc != 2 || !parse_alert_format(argv[1], format)) {
    std::fprintf(stderr, "usage: %s ocsf|ecs|cloudtrail|cef\n", argv[0]);
    return 2;
  }
  std::string out;
  for (IntegrityCheck check : kChecks)
    for (const IntegrityFindingInput& in : {typical(check), minimal(check), hostile(check)}) {
      format_alert(make_integrity_alert(in), format, out);
      out.push_back('\n');
    }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
