#include "agent/sources/s3_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <stdexcept>

#include "agent/aws/names.h"
#include "agent/aws/signing_clock.h"
#include "agent/aws/sigv4.h"
#include "agent/aws/xml.h"
#include "agent/sources/sqs_client.h"

namespace trailwarden {

namespace {

// <Error><Code>NoSuchKey</Code>... -> "NoSuchKey"
std::string xml_element(std::string_view xml, std::string_view name) {
  std::string open = fmt::format("<{}>", name), close = fmt::format("</{}>", name);
  size_t a = xml.find(open);
  if (a == std::string_view::npos) return {};
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos || b - a > 256) return {};
  return std::string(xml.substr(a, b - a));
}

// A short, printable rendering of an untrusted name for messages.
std::string printable(std::string_view s, size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') out += fmt::format("\\x{:02x}", u);
    else out.push_back(c);
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace

bool parse_object_metadata(const http::HeaderList& headers, ObjectMetadata& out,
                           std::string& error) {
  out = {};
  static constexpr std::string_view kPrefix = "x-amz-meta-";
  size_t bytes = 0;
  for (const auto& [raw_name, value] : headers) {
    const std::string name = http::ascii_lower(raw_name);
    if (name == "etag") {
      std::string_view e = value;
      if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
      out.etag = std::string(e);
    } else if (name == "x-amz-version-id") {
      out.version_id = value;
    } else if (name.starts_with(kPrefix)) {
      std::string key = name.substr(kPrefix.size());
      if (key.empty()) {
        error = "an x-amz-meta- header without a name";
        return false;
      }
      if (out.find(key)) {
        error = fmt::format("user metadata \"{}\" is sent twice", printable(key));
        return false;
      }
      bytes += key.size() + value.size();
      if (out.user.size() >= kMaxUserMetadataEntries || bytes > kMaxUserMetadataBytes) {
        error = fmt::format(
            "the object's user metadata is over {} entries or {} bytes (S3 allows 2 KiB); "
            "refused",
            kMaxUserMetadataEntries, kMaxUserMetadataBytes);
        return false;
      }
      out.user.emplace_back(std::move(key), value);
    }
  }
  return true;
}

bool parse_list_objects_v2(std::string_view xml, ObjectPage& out, std::string& error) {
  out = {};
  std::vector<aws::XmlLeaf> leaves;
  if (!aws::parse_xml_leaves(xml, leaves, error)) return false;
  static constexpr std::string_view kRoot = "ListBucketResult";
  if (leaves.empty() || !leaves.front().path.starts_with(kRoot) ||
      (leaves.front().path.size() > kRoot.size() && leaves.front().path[kRoot.size()] != '/')) {
    error = "not a ListBucketResult: " + http::printable_excerpt(xml, 120);
    return false;
  }
  std::string encoding, truncated;
  bool has_token = false;
  // Each Contents's fields follow its Key (S3 writes Key first); a field without a Key before
  // it, or twice for one Key, is a malformed page.
  struct Fields {
    bool size = false, etag = false;
  };
  std::vector<Fields> seen;
  for (const aws::XmlLeaf& leaf : leaves) {
    const std::string_view path = leaf.path;
    if (path == "ListBucketResult/EncodingType") {
      encoding = leaf.text;
    } else if (path == "ListBucketResult/IsTruncated") {
      truncated = leaf.text;
    } else if (path == "ListBucketResult/NextContinuationToken") {
      if (has_token) {
        error = "NextContinuationToken appears twice";
        return false;
      }
      has_token = true;
      out.next_token = leaf.text;
    } else if (path == "ListBucketResult/Contents/Key") {
      out.objects.push_back({leaf.text, 0, {}});
      seen.push_back({});
    } else if (path == "ListBucketResult/Contents/Size" ||
               path == "ListBucketResult/Contents/ETag") {
      const bool is_size = path.ends_with("/Size");
      if (seen.empty() || (is_size ? seen.back().size : seen.back().etag)) {
        error = fmt::format("a Contents element without its own Key before its {}",
                            is_size ? "Size" : "ETag");
        return false;
      }
      ListedObject& o = out.objects.back();
      if (is_size) {
        seen.back().size = true;
        const char* end = leaf.text.data() + leaf.text.size();
        auto [p, ec] = std::from_chars(leaf.text.data(), end, o.size);
        if (leaf.text.empty() || ec != std::errc() || p != end) {
          error = fmt::format("Size \"{}\" of key \"{}\" is not a number",
                              http::printable_excerpt(leaf.text, 32), printable(o.key, 300));
          return false;
        }
      } else {
        seen.back().etag = true;
        std::string_view e = leaf.text;
        if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
        o.etag = std::string(e);
      }
    }
  }
  for (size_t i = 0; i < out.objects.size(); ++i) {
    ListedObject& o = out.objects[i];
    if (!seen[i].size || !seen[i].etag) {
      error = fmt::format("key \"{}\" has no {}", printable(o.key, 300),
                          seen[i].size ? "ETag" : "Size");
      return false;
    }
    if (encoding == "url") {
      std::string decoded;
      if (!url_decode_s3_key(o.key, decoded)) {
        error = fmt::format("key \"{}\" is not URL-encoded (EncodingType url)",
                            printable(o.key, 300));
        return false;
      }
      o.key = std::move(decoded);
    } else if (!encoding.empty()) {
      error = fmt::format("unknown EncodingType \"{}\"", http::printable_excerpt(encoding, 32));
      return false;
    }
    if (o.key.empty()) {
      error = "an empty key";
      return false;
    }
  }
  if (truncated == "true") {
    if (out.next_token.empty()) {
      error = "a truncated page (IsTruncated true) without a NextContinuationToken";
      return false;
    }
  } else if (truncated == "false" || truncated.empty()) {
    out.next_token.clear();  // the last page
  } else {
    error = fmt::format("IsTruncated \"{}\" is neither true nor false",
                        http::printable_excerpt(truncated, 32));
    return false;
  }
  return true;
}

S3Client::S3Client(S3ClientOptions options, std::shared_ptr<http::HttpClient> http,
                   std::shared_ptr<aws::CredentialsSource> credentials)
    : options_(std::move(options)), http_(std::move(http)), credentials_(std::move(credentials)) {
  if (!options_.endpoint_url.empty()) {
    http::HttpRequest probe;
    std::string error;
    if (!http::parse_endpoint_url(options_.endpoint_url, probe, error))
      throw std::runtime_error(
          fmt::format("aws.s3_endpoint_url {}: {}", options_.endpoint_url, error));
    if (options_.variant.fips || options_.variant.dual_stack)
      throw std::runtime_error(
          fmt::format("S3 endpoint URL {} cannot be combined with FIPS or dual-stack endpoints",
                      options_.endpoint_url));
  } else if (!aws::is_valid_region(options_.region)) {
    throw std::runtime_error(fmt::format(
        "AWS region \"{}\" is not a region name (like \"us-east-1\"): S3 host names are built "
        "from it",
        printable(options_.region)));
  } else {
    std::string host, error;
    if (!aws::aws_service_host(aws::AwsService::kS3, options_.region, options_.variant, host,
                               error))
      throw std::runtime_error(error);
  }
  options_.region_cache_size = std::max<size_t>(options_.region_cache_size, 1);
}

bool S3Client::address(const std::string& bucket, const std::string& region,
                       http::HttpRequest& req, std::string& error) const {
  if (!aws::is_valid_bucket_name(bucket)) {
    error = fmt::format("\"{}\" is not a valid S3 bucket name", printable(bucket));
    return false;
  }
  req = http::HttpRequest{};
  bool path_style = true;
  if (!options_.endpoint_url.empty()) {
    http::parse_endpoint_url(options_.endpoint_url, req, error);
  } else {
    // Only a validated region reaches a host name (get() never passes anything else).
    if (!aws::is_valid_region(region)) {
      error = fmt::format("\"{}\" is not an AWS region name", printable(region));
      return false;
    }
    aws::S3BucketAddress address;
    if (!aws::s3_bucket_address(region, options_.variant, bucket, address, error)) return false;
    req.scheme = "https";
    req.host = std::move(address.host);
    path_style = address.path_style;
    req.path = "/";
  }
  error.clear();
  std::string base = req.path == "/" ? "" : req.path;
  if (!base.empty() && base.back() == '/') base.pop_back();
  req.path = base + (path_style ? "/" + http::uri_encode(bucket) : "");
  req.method = "GET";
  if (!options_.expected_bucket_owner.empty())
    req.set_header("x-amz-expected-bucket-owner", options_.expected_bucket_owner);
  return true;
}

bool S3Client::build_request(const ObjectRef& o, const std::string& region, http::HttpRequest& req,
                             std::string& error) const {
  if (!address(o.bucket, region, req, error)) return false;
  req.path += "/" + http::uri_encode_path(o.key);
  if (!o.version_id.empty()) req.query.emplace_back("versionId", o.version_id);
  if (o.verify_identity && !o.etag.empty()) req.set_header("If-Match", "\"" + o.etag + "\"");
  return true;
}

bool S3Client::build_list_request(const std::string& bucket, const std::string& prefix,
                                  const std::string& start_after, const std::string& token,
                                  size_t max_keys, const std::string& region,
                                  http::HttpRequest& req, std::string& error) const {
  if (!address(bucket, region, req, error)) return false;
  if (req.path.empty()) req.path = "/";  // virtual-hosted: the bucket's root
  req.query.emplace_back("list-type", "2");
  if (!prefix.empty()) req.query.emplace_back("prefix", prefix);
  if (!start_after.empty()) req.query.emplace_back("start-after", start_after);
  if (!token.empty()) req.query.emplace_back("continuation-token", token);
  req.query.emplace_back("max-keys", std::to_string(max_keys));
  req.query.emplace_back("encoding-type", "url");
  return true;
}

std::string S3Client::region_for(const std::string& bucket) const {
  std::lock_guard<std::mutex> lock(regions_mu_);
  auto it = bucket_regions_.find(bucket);
  return it != bucket_regions_.end() ? it->second : options_.region;
}

void S3Client::remember_region(const std::string& bucket, const std::string& region) {
  std::lock_guard<std::mutex> lock(regions_mu_);
  auto [it, inserted] = bucket_regions_.insert_or_assign(bucket, region);
  if (!inserted) return;
  region_order_.push_back(bucket);
  while (region_order_.size() > options_.region_cache_size) {
    bucket_regions_.erase(region_order_.front());
    region_order_.pop_front();
  }
}

bool S3Client::first_version_denial(const std::string& bucket) {
  std::lock_guard<std::mutex> lock(regions_mu_);
  if (version_denied_.size() >= options_.region_cache_size) return false;
  return version_denied_.insert(bucket).second;
}

RemoteStatus S3Client::overwritten(const ObjectRef& o, const std::string& got) {
  ++stats_.version_mismatches;
  std::string why = fmt::format(
      "s3://{}/{}: the notification names version {}, but the object read without versionId is "
      "version {}: overwritten since the notification; grant s3:GetObjectVersion to read the "
      "notified version (CloudTrail never rewrites a log file: check who wrote it). Not processed",
      o.bucket, printable(o.key, 300), printable(o.version_id), got);
  spdlog::error("{}", why);
  return {RemoteStatus::Code::kFatal, why};
}

RemoteStatus S3Client::not_notified(const ObjectRef& o, const std::string& detail) {
  std::string why = fmt::format("s3://{}/{} is not the notified object ({}); not processed",
                                o.bucket, printable(o.key, 300), detail);
  spdlog::error("{}", why);
  return {RemoteStatus::Code::kFatal, why};
}

RemoteStatus S3Client::exchange(const std::string& bucket, const BuildFn& build,
                                const AgainFn& again, const std::atomic<bool>* cancel,
                                http::HttpResponse& r, std::string& code) {
  // The region is never taken from a notification: configuration, or what S3 said.
  std::string region = region_for(bucket);
  int redirects = 0;
  bool token_refreshed = false, clock_corrected = false;
  // Each retry below happens at most once (redirects at most twice, `again` as often as the
  // caller allows, which get() does once): the loop is bounded.
  for (int attempt = 0; attempt < 6; ++attempt) {
    http::HttpRequest req;
    std::string error;
    if (!build(region, req, error)) return {RemoteStatus::Code::kFatal, error};
    aws::Credentials creds;
    if (!credentials_->get(creds, error))
      return {RemoteStatus::Code::kRetry, fmt::format("no AWS credentials: {}", error)};
    const aws::TimePoint signed_at = aws::SigningClock::global().now();
    aws::sign_v4(req, creds, region, "s3", signed_at);
    req.cancel = cancel;
    r = http_->perform(req, options_.timeout);
    code.clear();
    if (r.status == 0) return {RemoteStatus::Code::kRetry, r.error};
    if (r.ok()) return {};
    code = xml_element(r.body, "Code");
    // S3's ways of saying "the bucket is in another region": 301 PermanentRedirect, 400
    // AuthorizationHeaderMalformed (signed for the wrong region), and 400
    // IllegalLocationConstraintException, how a bucket in an opt-in region (af-south-1,
    // ap-east-1, me-central-1, ...) answers at another region's endpoint.
    if (r.status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
        code == "IllegalLocationConstraintException") {
      const std::string* real = r.find_header("x-amz-bucket-region");
      std::string hinted = real ? *real : xml_element(r.body, "Region");
      if (!hinted.empty() && hinted != region && redirects < 2) {
        if (!aws::is_valid_region(hinted))
          return {RemoteStatus::Code::kFatal,
                  fmt::format("S3 redirected bucket {} to \"{}\", which is not a region name; "
                              "not followed",
                              bucket, printable(hinted))};
        const bool own_partition = !aws::is_valid_region(options_.region) ||
                                   aws::partition_of(hinted).name ==
                                       aws::partition_of(options_.region).name;
        if (!own_partition)
          return {RemoteStatus::Code::kFatal,
                  fmt::format("S3 redirected bucket {} to region {} of partition {}, outside "
                              "this agent's partition {}; not followed",
                              bucket, hinted, aws::partition_of(hinted).name,
                              aws::partition_of(options_.region).name)};
        region = hinted;
        remember_region(bucket, region);
        ++redirects;
        continue;
      }
      if (redirects >= 2) return {RemoteStatus::Code::kFatal, "too many redirects"};
    }
    if (code == "ExpiredToken" && !token_refreshed) {
      token_refreshed = true;
      credentials_->invalidate();
      continue;
    }
    if (!clock_corrected && aws::correct_clock_from(r, code, "S3", signed_at,
                                                    aws::is_aws_host(aws::AwsService::kS3, req))) {
      clock_corrected = true;
      continue;
    }
    // Refused for the time again after the one correction: retried later, never fatal.
    if (clock_corrected && aws::is_clock_skew_error(code))
      return {RemoteStatus::Code::kRetry,
              fmt::format("HTTP {} {} again after correcting the signing clock", r.status, code)};
    if (again && again(r, code)) continue;
    return {};
  }
  return {RemoteStatus::Code::kFatal, "too many retries"};
}

RemoteStatus S3Client::get(const ObjectRef& o, size_t max_bytes, Buffer& out,
                           const std::atomic<bool>* cancel) {
  return fetch(o, max_bytes, out, nullptr, cancel);
}

RemoteStatus S3Client::get_with_metadata(const ObjectRef& o, size_t max_bytes, Buffer& out,
                                         ObjectMetadata& metadata,
                                         const std::atomic<bool>* cancel) {
  metadata = {};
  return fetch(o, max_bytes, out, &metadata, cancel);
}

RemoteStatus S3Client::fetch(const ObjectRef& o, size_t max_bytes, Buffer& out,
                             ObjectMetadata* metadata, const std::atomic<bool>* cancel) {
  ObjectRef target = o;  // loses its versionId if S3 denies the versioned read
  http::HttpResponse r;
  std::string code;
  RemoteStatus sent = exchange(
      o.bucket,
      [&](const std::string& region, http::HttpRequest& req, std::string& error) {
        return build_request(target, region, req, error);
      },
      [&](const http::HttpResponse& answer, const std::string& c) {
        // GetObject with versionId is s3:GetObjectVersion in IAM: without it, read the key as
        // it is (s3:GetObject) and check below that it is still the notified version.
        if (answer.status != 403 || c != "AccessDenied" || target.version_id.empty())
          return false;
        target.version_id.clear();
        target.verify_identity = true;  // If-Match the notified ETag, version checked below
        return true;
      },
      cancel, r, code);
  if (!sent.ok()) return sent;
  if (r.ok()) {
    if (r.body.size() > max_bytes)
      return {RemoteStatus::Code::kTooLarge,
              fmt::format("object is {} bytes, over the limit of {} (source.sqs.max_object_bytes)",
                          r.body.size(), max_bytes)};
    if (target.version_id != o.version_id) {
      // Said only now: a denial that is not about versions (KMS, bucket owner, policy) fails
      // the unversioned read too.
      if (first_version_denial(o.bucket))
        spdlog::warn(
            "bucket {}: S3 denies reading object versions (GetObject with versionId "
            "needs s3:GetObjectVersion) but allows reading keys; reading the current "
            "version instead, refused if it is not the notified one. "
            "Grant s3:GetObjectVersion on arn:aws:s3:::{}/* (docs/aws.md, \"IAM "
            "permissions\"). Said once per bucket",
            o.bucket, o.bucket);
      ++stats_.version_fallbacks;
      const std::string* got = r.find_header("x-amz-version-id");
      if (!got || *got != o.version_id)
        return overwritten(o, got ? printable(*got) : std::string("(none: no x-amz-version-id)"));
    }
    if (target.verify_identity && target.etag.empty() && o.size && r.body.size() != *o.size)
      return not_notified(o, fmt::format("{} bytes were read where the notification "
                                         "says {}",
                                         r.body.size(), *o.size));
    if (metadata) {
      std::string error;
      if (!parse_object_metadata(r.headers, *metadata, error))
        return {RemoteStatus::Code::kFatal,
                fmt::format("s3://{}/{}: {}", o.bucket, printable(o.key, 300), error)};
    }
    out.assign(r.body);
    return {};
  }
  if (target.verify_identity && !target.etag.empty() &&
      (r.status == 412 || code == "PreconditionFailed")) {
    if (target.version_id != o.version_id) {
      ++stats_.version_fallbacks;
      return overwritten(o, "(another ETag than the notified " + printable(o.etag) + ")");
    }
    return not_notified(o, fmt::format("its ETag is not the notified {}", printable(o.etag)));
  }
  auto c = classify_aws_error(r.status, code);
  std::string message = fmt::format("HTTP {} {}", r.status, code.empty() ? "" : code);
  if (c == RemoteStatus::Code::kAccessDenied)
    message += target.version_id != o.version_id
                   ? " (also without versionId: check s3:GetObject permission, KMS key access "
                     "and expected_bucket_owner)"
                   : " (check s3:GetObject permission, KMS key access and expected_bucket_owner)";
  return {c, message};
}

RemoteStatus S3Client::list(const std::string& bucket, const std::string& prefix,
                            const std::string& start_after, const std::string& token,
                            size_t max_keys, ObjectPage& out, const std::atomic<bool>* cancel) {
  // `token` may be out.next_token (a caller paging in place): copied before `out` is cleared.
  const std::string token_in = token;
  out = {};
  if (max_keys < 1 || max_keys > kMaxListKeys)
    return {RemoteStatus::Code::kFatal,
            fmt::format("ListObjectsV2 of bucket {}: max_keys {} is not 1 to {}",
                        printable(bucket), max_keys, kMaxListKeys)};
  http::HttpResponse r;
  std::string code;
  RemoteStatus sent = exchange(
      bucket,
      [&](const std::string& region, http::HttpRequest& req, std::string& error) {
        return build_list_request(bucket, prefix, start_after, token_in, max_keys, region, req,
                                  error);
      },
      {}, cancel, r, code);
  const std::string what = fmt::format("ListObjectsV2 of s3://{}/{}", printable(bucket),
                                       printable(prefix, 300));
  if (!sent.ok()) return {sent.code, what + ": " + sent.message};
  if (!r.ok()) {
    auto c = classify_aws_error(r.status, code);
    std::string message = fmt::format("{}: HTTP {} {}", what, r.status, code);
    if (c == RemoteStatus::Code::kAccessDenied) {
      const std::string partition(aws::is_valid_region(options_.region)
                                      ? aws::partition_of(options_.region).name
                                      : std::string_view("aws"));
      message += fmt::format(" (check s3:ListBucket on arn:{}:s3:::{}, and expected_bucket_owner)",
                             partition, bucket);
    }
    return {c, message};
  }
  if (r.body.size() > kMaxListPageBytes)
    return {RemoteStatus::Code::kFatal,
            fmt::format("{}: the page is {} bytes, over the limit of {}", what, r.body.size(),
                        kMaxListPageBytes)};
  std::string error;
  if (!parse_list_objects_v2(r.body, out, error)) {
    out = {};
    return {RemoteStatus::Code::kFatal, what + ": " + error};
  }
  // Checked, not trusted: a listing that does not move forward would loop its caller.
  auto refuse = [&](std::string why) {
    out = {};
    return RemoteStatus{RemoteStatus::Code::kFatal, what + ": " + why};
  };
  if (out.objects.size() > max_keys)
    return refuse(fmt::format("{} keys in a page of at most {}", out.objects.size(), max_keys));
  const std::string* previous = start_after.empty() ? nullptr : &start_after;
  for (const ListedObject& o : out.objects) {
    if (!o.key.starts_with(prefix))
      return refuse(fmt::format("key \"{}\" is not under the prefix", printable(o.key, 300)));
    if (previous && !(o.key > *previous))
      return refuse(fmt::format("key \"{}\" is not after \"{}\" (S3 lists in ascending order)",
                                printable(o.key, 300), printable(*previous, 300)));
    previous = &o.key;
  }
  if (!out.next_token.empty() && out.next_token == token_in)
    return refuse("the continuation token did not change");
  return {};
}

}  // namespace trailwarden
