#include "agent/cli/aws_endpoints.h"

#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "agent/http/http.h"
#include "agent/aws/names.h"

namespace trailwarden::cli {

aws::EndpointConfig endpoint_config(const Config& c) {
  aws::EndpointConfig e;
  e.endpoint_url = c.aws.endpoint_url;
  e.sqs_endpoint_url = c.aws.sqs_endpoint_url;
  e.s3_endpoint_url = c.aws.s3_endpoint_url;
  e.sts_endpoint_url = c.aws.sts_endpoint_url;
  e.cloudtrail_endpoint_url = c.aws.cloudtrail_endpoint_url;
  e.use_fips = c.aws.use_fips_endpoint;
  e.use_dual_stack = c.aws.use_dualstack_endpoint;
  e.ignore_configured_endpoint_urls = c.aws.ignore_configured_endpoint_urls;
  return e;
}

bool plan_aws_endpoints(const Config& c, const aws::Environment& env, AwsEndpoints& out,
                        std::string& error) {
  out = {};
  // The configured region, and where it came from.
  std::string configured, configured_source;
  if (!c.aws.region.empty()) configured = c.aws.region, configured_source = "[aws] region";
  for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (!configured.empty()) break;
    if (auto it = env.find(std::string_view(var)); it != env.end() && !it->second.empty())
      configured = it->second, configured_source = var;
  }
  const std::string url_region = aws::sqs_region_from_queue_url(c.sqs.queue_url);
  out.region = configured.empty() ? url_region : configured;
  out.region_source = configured.empty() ? "the queue URL" : configured_source;
  if (out.region.empty()) {
    error = "no AWS region: set [aws] region or AWS_REGION (the queue URL " +
            http::printable_excerpt(c.sqs.queue_url, 120) + " names none)";
    return false;
  }
  if (!aws::is_valid_region(out.region)) {
    error = fmt::format("the AWS region \"{}\" (from {}) is not a region name like \"us-east-1\"",
                        http::printable_excerpt(out.region, 64), out.region_source);
    return false;
  }

  // A region of another partition than the agent's is refused: credentials and S3's redirects
  // belong to one partition, and signing for another one's region only fails later, obscurely.
  auto other_partition = [&](std::string_view what, const std::string& named) {
    if (named.empty()) return false;
    const aws::Partition theirs = aws::partition_of(named), ours = aws::partition_of(out.region);
    if (theirs.name == ours.name) return false;
    error = fmt::format(
        "{} names region {} of partition {}, but the agent's region {} (from {}) is in partition "
        "{}: one agent works in one partition; set [aws] region to a region of {}, or use a "
        "queue and endpoints of {}",
        what, named, theirs.name, out.region, out.region_source, ours.name, theirs.name,
        ours.name);
    return true;
  };
  if (other_partition(fmt::format("the queue URL {}", http::printable_excerpt(c.sqs.queue_url, 120)),
                      url_region))
    return false;

  const aws::EndpointConfig config = endpoint_config(c);
  aws::EndpointSettings sqs, sts;
  if (!aws::endpoint_settings(aws::AwsService::kSqs, config, env, sqs, error) ||
      !aws::endpoint_settings(aws::AwsService::kS3, config, env, out.s3, error) ||
      !aws::endpoint_settings(aws::AwsService::kSts, config, env, sts, error))
    return false;

  // The configured region differs from the one an endpoint names: said once per service.
  auto mismatch = [&](std::string_view service, const aws::EndpointSettings& settings,
                      const std::string& named) {
    if (configured.empty() || configured == named) return;
    out.warnings.push_back(fmt::format(
        "the {} endpoint {} (from {}) is in region {}, {} says {}: {} requests are signed for {} "
        "(the endpoint's region)",
        service, http::printable_excerpt(settings.url, 120), settings.source, named,
        configured_source, configured, service, named));
  };

  const bool variant = sqs.variant.fips || sqs.variant.dual_stack;
  if (!sqs.url.empty()) {
    // An override names the host. It signs with the region its host names (a VPC endpoint
    // serves its own region only), else with the queue URL's, else with the agent's.
    const std::string named = aws::region_from_endpoint_url(aws::AwsService::kSqs, sqs.url);
    if (other_partition(fmt::format("the SQS endpoint {} (from {})",
                                    http::printable_excerpt(sqs.url, 120), sqs.source),
                        named))
      return false;
    out.sqs_region = !named.empty() ? named : !url_region.empty() ? url_region : out.region;
    if (!aws::resolve_endpoint_url(aws::AwsService::kSqs, out.sqs_region, sqs, out.sqs_endpoint_url,
                                   error))
      return false;
    if (!named.empty() && !url_region.empty() && named != url_region)
      out.warnings.push_back(fmt::format(
          "the SQS endpoint {} (from {}) is in region {}, the queue URL names region {}: "
          "requests are signed for {}, and an endpoint reaches only the queues of its own region",
          http::printable_excerpt(sqs.url, 120), sqs.source, named, url_region, named));
    else if (!named.empty())
      mismatch("SQS", sqs, named);
    else if (!url_region.empty() && !configured.empty() && configured != url_region)
      out.warnings.push_back(fmt::format(
          "the queue URL names region {}, {} says {}: SQS requests (to {} from {}) are signed for "
          "{} (the queue's region)",
          url_region, configured_source, configured, http::printable_excerpt(sqs.url, 120),
          sqs.source, url_region));
  } else if (!url_region.empty()) {
    out.sqs_region = url_region;
    if (variant && !aws::resolve_endpoint_url(aws::AwsService::kSqs, url_region, sqs,
                                              out.sqs_endpoint_url, error))
      return false;
    if (!configured.empty() && configured != url_region) {
      std::string warning = fmt::format(
          "the queue URL names region {}, {} says {}: SQS requests are signed for {} (the queue's "
          "region); {} stays the first guess for S3 buckets and the STS region",
          url_region, configured_source, configured, url_region, configured);
      out.warnings.push_back(std::move(warning));  // another partition was refused above
    }
  } else {
    if (variant) {
      error = fmt::format(
          "FIPS / dual-stack endpoints were asked for, but the queue URL {} is not an AWS SQS "
          "host name: set [aws] sqs_endpoint_url to the endpoint to use instead",
          http::printable_excerpt(c.sqs.queue_url, 120));
      return false;
    }
    out.sqs_region = out.region;  // an emulator or a private name: the queue URL's host
  }

  // S3 and STS: an endpoint URL naming a region signs with it, else the agent's region.
  const std::string s3_named = aws::region_from_endpoint_url(aws::AwsService::kS3, out.s3.url);
  const std::string sts_named = aws::region_from_endpoint_url(aws::AwsService::kSts, sts.url);
  if (other_partition(fmt::format("the S3 endpoint {} (from {})",
                                  http::printable_excerpt(out.s3.url, 120), out.s3.source),
                      s3_named) ||
      other_partition(fmt::format("the STS endpoint {} (from {})",
                                  http::printable_excerpt(sts.url, 120), sts.source),
                      sts_named))
    return false;
  out.s3_region = s3_named.empty() ? out.region : s3_named;
  if (!s3_named.empty()) mismatch("S3", out.s3, s3_named);
  out.sts_region = sts_named.empty() ? out.region : sts_named;
  if (!sts_named.empty()) mismatch("STS", sts, sts_named);

  // [aws] endpoint_url and AWS_ENDPOINT_URL apply to every service: one naming a single
  // service's endpoint (an interface endpoint serves one) sends the others where they fail.
  const std::pair<aws::AwsService, const aws::EndpointSettings*> services[] = {
      {aws::AwsService::kSqs, &sqs},
      {aws::AwsService::kS3, &out.s3},
      {aws::AwsService::kSts, &sts}};
  auto upper = [](std::string_view id) {
    std::string u(id);
    for (char& ch : u) ch = ch >= 'a' && ch <= 'z' ? char(ch - 32) : ch;
    return u;
  };
  for (const std::string_view generic : {"[aws] endpoint_url", "AWS_ENDPOINT_URL"}) {
    std::string url, owner, misrouted;
    for (const auto& [service, settings] : services) {
      if (settings->source != generic) continue;
      url = settings->url;
      if (!aws::region_from_endpoint_url(service, url).empty()) {
        owner = aws::service_name(service);
        continue;
      }
      misrouted += (misrouted.empty() ? "" : ", ") + upper(aws::service_name(service));
    }
    if (!owner.empty() && !misrouted.empty())
      out.warnings.push_back(fmt::format(
          "{} {} is an {} endpoint, but it applies to every service: {} requests go there too and "
          "fail; set [aws] {}_endpoint_url (or AWS_ENDPOINT_URL_{}) instead",
          generic, http::printable_excerpt(url, 120), upper(owner), misrouted, owner, upper(owner)));
  }

  // S3: an override with a variant, or a variant S3 does not offer in this partition, fails
  // now rather than on the first object.
  std::string s3_url;
  if (!aws::resolve_endpoint_url(aws::AwsService::kS3, out.s3_region, out.s3, s3_url, error))
    return false;
  return true;
}

}  // namespace trailwarden::cli
