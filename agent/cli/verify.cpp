// `trailwarden verify`: the integrity checks of docs/integrity.md over a bucket prefix (S3) or a
// local copy of it, for a time range — what `aws cloudtrail validate-logs` does, and the chain
// and trailing-edge checks it lacks. Prints one line per problem (per file with --verbose),
// the CLI's summary, and exits 0 only when everything is whole.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/aws/names.h"
#include "agent/aws/time_util.h"
#include "agent/cli/aws_endpoints.h"
#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"
#include "agent/cli/core_dumps.h"
#include "agent/http/curl_http_client.h"
#include "agent/http/http_pool.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/file_public_keys.h"
#include "agent/integrity/local_trail_store.h"
#include "agent/integrity/public_key_cache.h"
#include "agent/integrity/trail_verifier.h"
#include "agent/sources/cloudtrail_client.h"
#include "agent/sources/s3_client.h"

namespace trailwarden::cli {

namespace {

using integrity::FileKind;
using integrity::FileResult;

// A time given on the command line: ISO 8601 ("2026-11-20T10:00:00Z"), a date ("2026-11-20":
// midnight UTC) or epoch seconds.
int64_t parse_time_arg(const std::string& option, const std::string& v) {
  aws::TimePoint t;
  if (aws::parse_iso8601(v, t) || (v.size() == 10 && aws::parse_iso8601(v + "T00:00:00Z", t)))
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() <= 12)
    return std::stoll(v);
  usage_error(fmt::format("{} takes a time: 2026-11-20T10:00:00Z, 2026-11-20 or epoch seconds", option));
}

int64_t parse_duration_arg(const std::string& option, const std::string& v) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || !end || n < 0) usage_error(fmt::format("{} takes a duration: 30m, 2h or seconds", option));
  const std::string unit(end);
  if (unit.empty() || unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  usage_error(fmt::format("{} takes a duration: 30m, 2h or seconds", option));
}

// --signatures FILE: {"<digest key>": "<hex signature>", ...} (what S3 kept as
// x-amz-meta-signature, for the newest digests of a local copy).
std::map<std::string, std::string> read_signatures(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(text.str()).get_object().get(root) != simdjson::SUCCESS)
    throw std::runtime_error(path + ": not a JSON object of digest keys and signatures");
  std::map<std::string, std::string> out;
  for (auto [key, value] : root) {
    std::string_view sig;
    if (value.get_string().get(sig) != simdjson::SUCCESS)
      throw std::runtime_error(fmt::format("{}: the signature of {} is not a string", path, key));
    out.emplace(std::string(key), std::string(sig));
  }
  return out;
}

// Keys, reasons and chain names hold bytes from the bucket: printed escaped, so a key with a
// newline or a terminal escape cannot forge a line or repaint the summary.
std::string shown(std::string_view s) { return http::printable_excerpt(s, 4096); }

std::string uri(const FileResult& r) { return shown("s3://" + r.bucket + "/" + r.key); }

}  // namespace

int cmd_verify(Args& a, const Global& g) {
  integrity::VerifyOptions o;
  std::string local_dir, public_keys_file, signatures_file;
  bool verbose = false, have_start = false, have_end = false;
  while (!a.done()) {
    std::string v;
    if (a.option({"--bucket"}, v)) o.bucket = v;
    else if (a.option({"--prefix"}, v)) {
      while (!v.empty() && v.back() == '/') v.pop_back();
      while (!v.empty() && v.front() == '/') v.erase(0, 1);
      o.prefix = v;
    } else if (a.option({"--account"}, v)) o.account = v;
    else if (a.option({"--region"}, v)) o.regions.push_back(v);
    else if (a.option({"--org"}, v)) o.org_id = v;
    else if (a.option({"--trail"}, v)) o.trail = v;
    else if (a.option({"--start"}, v)) o.start = parse_time_arg("--start", v), have_start = true;
    else if (a.option({"--end"}, v)) o.end = parse_time_arg("--end", v), have_end = true;
    else if (a.option({"--grace"}, v)) o.grace = parse_duration_arg("--grace", v);
    else if (a.option({"--local"}, v)) local_dir = v;
    else if (a.option({"--public-keys"}, v)) public_keys_file = v;
    else if (a.option({"--signatures"}, v)) signatures_file = v;
    else if (a.flag({"--no-log-files"})) o.check_log_files = false;
    else if (a.option({"--parallel"}, v)) {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || !end || *end || n < 1 || n > 64) usage_error("--parallel takes a number from 1 to 64");
      o.parallel = static_cast<size_t>(n);
    }
    else if (a.flag({"-v", "--verbose"})) verbose = true;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  if (o.bucket.empty()) usage_error("verify needs --bucket (the trail's bucket)");
  if (o.account.size() != 12 || o.account.find_first_not_of("0123456789") != std::string::npos)
    usage_error("verify needs --account: the 12-digit account whose files are checked");
  if (!have_start) usage_error("verify needs --start");
  o.now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch()).count();
  if (!have_end || o.end > o.now) o.end = o.now;
  if (o.start >= o.end) usage_error("--start must be before --end (and before now)");
  if (o.regions.empty()) usage_error("verify needs --region: a region the trail delivers from (repeatable)");
  if (!signatures_file.empty() && local_dir.empty())
    usage_error("--signatures is for a local copy (--local): S3 keeps each digest's signature");
  // Non-dumpable before credentials are read, as for `run` (docs/operations.md).
  std::string dump_error;
  if (!set_core_dumps_allowed(false, dump_error))
    spdlog::warn("cannot turn core dumps off: {}; a core file would hold credentials", dump_error);
  Config c = load_config(g);
  const aws::Environment env = aws::process_environment();
  // The agent's region (S3's first guess, STS): [aws] region, AWS_REGION, AWS_DEFAULT_REGION,
  // else the first region checked. ListPublicKeys is asked in each region checked.
  std::string region = resolve_region(c);
  if (region.empty()) region = o.regions.front();
  if (const std::string problem = region_problem(region); !problem.empty())
    throw std::runtime_error(problem);
  for (const std::string& r : o.regions)
    if (!aws::is_valid_region(r)) usage_error(fmt::format("--region {} is not a region name", r));

  std::unique_ptr<integrity::LocalTrailStore> local;
  std::unique_ptr<S3Client> s3;
  ObjectStore* store = nullptr;
  ObjectLister* lister = nullptr;
  std::shared_ptr<aws::CredentialsSource> credentials;
  http::CurlHttpOptions http_options;
  http_options.ca_file = c.aws.ca_file;
  http_options.max_response_bytes = std::max(o.max_log_bytes, o.max_digest_bytes) + 1;
  auto http = std::make_shared<http::HttpClientPool>(
      [http_options] { return std::make_unique<http::CurlHttpClient>(http_options); },
      std::max<size_t>(o.parallel, 2));
  auto need_credentials = [&] {
    if (!credentials) credentials = make_aws_credentials(c, region, http);
    return credentials;
  };
  if (!local_dir.empty()) {
    local = std::make_unique<integrity::LocalTrailStore>(local_dir, o.bucket);
    store = local.get();
    lister = local.get();
    o.signatures_from_successor = true;
  } else {
    aws::EndpointSettings s3_endpoint;
    std::string error;
    if (!aws::endpoint_settings(aws::AwsService::kS3, endpoint_config(c), env, s3_endpoint, error))
      throw std::runtime_error(error);
    S3ClientOptions s3_options;
    s3_options.region = region;
    if (const std::string named = aws::region_from_endpoint_url(aws::AwsService::kS3, s3_endpoint.url);
        !named.empty())
      s3_options.region = named;
    s3_options.endpoint_url = s3_endpoint.url;
    s3_options.variant = s3_endpoint.variant;
    s3 = std::make_unique<S3Client>(s3_options, http, need_credentials());
    store = s3.get();
    lister = s3.get();
  }
  if (!signatures_file.empty()) o.signatures = read_signatures(signatures_file);
  integrity::FilePublicKeys file_keys;
  std::unique_ptr<CloudTrailClient> cloudtrail;
  PublicKeyDirectory* directory = &file_keys;
  std::string error;
  if (!public_keys_file.empty()) {
    if (!file_keys.load(public_keys_file, error)) throw std::runtime_error(error);
    // The file is the trust anchor: whoever wrote it decides what verifies.
    std::error_code ec;
    if (!local_dir.empty()) {
      const std::string keys_at = std::filesystem::weakly_canonical(public_keys_file, ec).string();
      const std::string copy_at = std::filesystem::weakly_canonical(local_dir, ec).string() + "/";
      if (keys_at.compare(0, copy_at.size(), copy_at) == 0)
        spdlog::warn("--public-keys {} is inside the copy being checked: whoever could change the "
                     "copy could change the keys; take them from CloudTrail instead",
                     public_keys_file);
    }
  } else {
    CloudTrailClientOptions ct_options;
    if (!cloudtrail_client_options(endpoint_config(c), env, ct_options, error))
      throw std::runtime_error(error);
    cloudtrail = std::make_unique<CloudTrailClient>(ct_options, http, need_credentials());
    directory = cloudtrail.get();
  }
  integrity::PublicKeyCache keys(*directory);
  integrity::TrailVerifier verifier(*store, *lister, keys);

  fmt::print("Validating log files of account {} in {} between {} and {}\n\n", o.account,
             fmt::join(o.regions, ", "), integrity::format_utc(o.start), integrity::format_utc(o.end));
  std::fflush(stdout);
  auto on_file = [&](const FileResult& r) {
    const char* kind = r.kind == FileKind::kDigest ? "Digest file" : "Log file";
    if (r.valid) {
      if (verbose) fmt::print("{}\t{}\tvalid\n", kind, uri(r));
    } else if (r.not_verified) {
      if (verbose || r.kind == FileKind::kDigest) fmt::print("{}\t{}\tNOT VERIFIED: {}\n", kind, uri(r), shown(r.reason));
    } else {
      fmt::print("{}\t{}\tINVALID: {}\n", kind, uri(r), shown(r.reason));
    }
  };
  auto on_gap = [&](const integrity::ChainGap& gap) { fmt::print("GAP\t{}\t{}\n", shown(gap.chain), shown(gap.why));
  };
  integrity::VerifyReport report = verifier.verify(o, on_file, on_gap);
  for (const std::string& e : report.errors) fmt::print("ERROR\t{}\n", shown(e));
  fmt::print("\nResults requested for {} to {}\n", integrity::format_utc(o.start), integrity::format_utc(o.end));
  if (report.digests_found == 0) {
    fmt::print("No digests found\n");
    return verify_exit_status(report);  // 4 when the listing itself was refused
  }
  if (report.digests_valid > 0)
    fmt::print("Results found for {} to {}:\n", integrity::format_utc(report.found_from),
               integrity::format_utc(report.found_to));
  const size_t digests = report.digests_valid + report.digests_invalid +
                         report.digests_not_verified + report.digests_unchecked;
  const size_t logs = report.logs_valid + report.logs_invalid + report.logs_missing +
                      report.logs_not_verified + report.logs_unchecked;
  fmt::print("\n{}/{} digest files valid", report.digests_valid, digests);
  if (report.digests_invalid) fmt::print(", {}/{} digest files INVALID", report.digests_invalid, digests);
  if (report.digests_not_verified)
    fmt::print(", {}/{} not verified", report.digests_not_verified, digests);
  fmt::print("\n{}/{} log files valid", report.logs_valid, logs);
  if (report.logs_invalid + report.logs_missing)
    fmt::print(", {}/{} log files INVALID ({} missing)", report.logs_invalid + report.logs_missing, logs,
               report.logs_missing);
  if (report.logs_not_verified) fmt::print(", {}/{} not verified", report.logs_not_verified, logs);
  if (report.digests_unchecked + report.logs_unchecked)
    fmt::print("\n{} digest files and {} log files could not be checked (ERROR above)",
               report.digests_unchecked, report.logs_unchecked);
  fmt::print("\n{} gaps\n", report.gaps.size());
  return verify_exit_status(report);
}

int verify_exit_status(const integrity::VerifyReport& report) {
  // Something found wrong wins over something not checked: an attacker can always add an error.
  if (report.found_problems()) return kExitInputFailed;
  if (!report.errors.empty()) return kExitCannotCheck;
  return report.whole() ? kExitOk : kExitInputFailed;  // not whole here: no digest found
}

}  // namespace trailwarden::cli
