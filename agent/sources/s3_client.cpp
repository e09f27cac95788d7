#include "agent/sources/s3_client.h"

#include <fmt/format.h>
#include <stdexcept>

#include "agent/aws/sigv4.h"
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

}  // namespace

S3Client::S3Client(S3ClientOptions options, std::shared_ptr<aws::HttpClient> http,
                   std::shared_ptr<aws::CredentialsSource> credentials)
    : options_(std::move(options)), http_(std::move(http)), credentials_(std::move(credentials)) {
  if (!options_.endpoint_url.empty()) {
    aws::HttpRequest probe;
    std::string error;
    if (!aws::parse_endpoint_url(options_.endpoint_url, probe, error))
      throw std::runtime_error(
          fmt::format("aws.s3_endpoint_url {}: {}", options_.endpoint_url, error));
  }
}

aws::HttpRequest S3Client::build_request(const ObjectRef& o, const std::string& region) const {
  aws::HttpRequest req;
  std::string error;
  const bool path_style = !options_.endpoint_url.empty() || o.bucket.find('.') != std::string::npos;
  if (!options_.endpoint_url.empty()) {
    aws::parse_endpoint_url(options_.endpoint_url, req, error);
  } else {
    req.scheme = "https";
    req.host = path_style ? fmt::format("s3.{}.amazonaws.com", region)
                          : fmt::format("{}.s3.{}.amazonaws.com", o.bucket, region);
    req.path = "/";
  }
  std::string base = req.path == "/" ? "" : req.path;
  if (!base.empty() && base.back() == '/') base.pop_back();
  req.path = base + (path_style ? "/" + aws::uri_encode(o.bucket) : "") + "/" +
             aws::uri_encode_path(o.key);
  req.method = "GET";
  if (!o.version_id.empty()) req.query.emplace_back("versionId", o.version_id);
  if (!options_.expected_bucket_owner.empty())
    req.set_header("x-amz-expected-bucket-owner", options_.expected_bucket_owner);
  return req;
}

RemoteStatus S3Client::get(const ObjectRef& o, size_t max_bytes, Buffer& out,
                           const std::atomic<bool>* cancel) {
  std::string region = !o.region.empty() && options_.endpoint_url.empty() ? o.region : options_.region;
  for (int attempt = 0; attempt < 3; ++attempt) {
    aws::Credentials creds;
    std::string error;
    if (!credentials_->get(creds, error))
      return {RemoteStatus::Code::kRetry, fmt::format("no AWS credentials: {}", error)};
    aws::HttpRequest req = build_request(o, region);
    aws::sign_v4(req, creds, region, "s3", std::chrono::system_clock::now());
    req.cancel = cancel;
    aws::HttpResponse r = http_->perform(req, options_.timeout);
    if (r.status == 0) return {RemoteStatus::Code::kRetry, r.error};
    if (r.ok()) {
      if (r.body.size() > max_bytes)
        return {RemoteStatus::Code::kTooLarge,
                fmt::format("object is {} bytes, over the limit of {} (source.sqs.max_object_bytes)",
                            r.body.size(), max_bytes)};
      out.assign(r.body);
      return {};
    }
    std::string code = xml_element(r.body, "Code");
    if (r.status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed") {
      const std::string* real = r.find_header("x-amz-bucket-region");
      std::string hinted = real ? *real : xml_element(r.body, "Region");
      if (!hinted.empty() && hinted != region && attempt == 0) {
        region = hinted;
        continue;
      }
    }
    if ((code == "ExpiredToken") && attempt == 0) {
      credentials_->invalidate();
      continue;
    }
    auto c = classify_aws_error(r.status, code);
    std::string message = fmt::format("HTTP {} {}", r.status, code.empty() ? "" : code);
    if (c == RemoteStatus::Code::kAccessDenied)
      message += " (check s3:GetObject permission, KMS key access and expected_bucket_owner)";
    return {c, message};
  }
  return {RemoteStatus::Code::kFatal, "too many redirects"};
}

}  // namespace trailwarden
