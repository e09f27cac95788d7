#include "agent/aws/endpoints.h"

#include <vector>

#include "agent/http/http.h"
#include "agent/aws/names.h"

namespace trailwarden::aws {

namespace {

std::string_view variant_name(EndpointVariant v) {
  if (v.fips && v.dual_stack) return "FIPS dual-stack";
  if (v.fips) return "FIPS";
  if (v.dual_stack) return "dual-stack";
  return "";
}

// "true"/"false" in any case; unset or empty is false.
bool env_bool(const Environment& env, std::string_view name, bool& out, std::string& error) {
  auto it = env.find(name);
  out = false;
  if (it == env.end() || it->second.empty()) return true;
  const std::string v = ascii_lower(it->second);
  if (v == "true")
    out = true;
  else if (v != "false") {
    error = std::string(name) + "=\"" + printable_excerpt(it->second, 32) +
            "\" is neither \"true\" nor \"false\"";
    return false;
  }
  return true;
}

std::string env_value(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

std::vector<std::string_view> split_labels(std::string_view host) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = host.find('.', start);
    out.push_back(host.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// The region named by `host` minus `suffix` (a partition's DNS or dual-stack suffix) in the
// host forms of `service` (endpoints.h, region_from_endpoint_url); "" if none. The legacy and
// VPC endpoint forms exist only with the partition's DNS suffix (`dns_suffix`).
std::string region_in(AwsService service, std::string_view host, std::string_view suffix,
                      bool dns_suffix) {
  if (host.size() <= suffix.size() + 1 || !host.ends_with(suffix) ||
      host[host.size() - suffix.size() - 1] != '.')
    return {};
  const std::vector<std::string_view> l =
      split_labels(host.substr(0, host.size() - suffix.size() - 1));
  const std::string svc(service_name(service));
  const std::string fips = svc + "-fips";
  // <svc>.<region>, <svc>-fips.<region>; S3 spells dual-stack as a label.
  if (l.size() == 2 && (l[0] == svc || l[0] == fips)) return std::string(l[1]);
  if (service == AwsService::kS3 && l.size() == 3 && (l[0] == svc || l[0] == fips) &&
      l[1] == "dualstack")
    return std::string(l[2]);
  if (!dns_suffix) return {};
  if (service == AwsService::kSqs) {
    if (l.size() == 1 && l[0] == "queue") return "us-east-1";  // queue.amazonaws.com
    if (l.size() == 2 && l[1] == "queue") return std::string(l[0]);
  }
  // STS's global endpoint signs for us-east-1.
  if (service == AwsService::kSts && l.size() == 1 && l[0] == "sts" && suffix == "amazonaws.com")
    return "us-east-1";
  // VPC interface endpoints: vpce-<id>[-<az>].<svc>.<region>.vpce.<suffix>, with S3's
  // bucket., accesspoint. and control. prefixes.
  if (l.size() >= 4 && l.back() == "vpce" && l[l.size() - 3] == svc &&
      l[l.size() - 4].starts_with("vpce-"))
    return std::string(l[l.size() - 2]);
  return {};
}

// The region `host` names for `service` in any known partition; "" if none.
std::string region_of_host(AwsService service, std::string_view host) {
  for (const Partition& p : known_partitions()) {
    for (const bool dns : {true, false}) {
      std::string region =
          region_in(service, host, dns ? p.dns_suffix : p.dual_stack_dns_suffix, dns);
      if (!region.empty() && is_valid_region(region) && partition_of(region).name == p.name)
        return region;
    }
  }
  return {};
}

}  // namespace

std::string_view service_name(AwsService service) {
  switch (service) {
    case AwsService::kSqs:
      return "sqs";
    case AwsService::kS3:
      return "s3";
    case AwsService::kSts:
      return "sts";
    case AwsService::kSns:
      return "sns";
    case AwsService::kSso:
      return "sso";
    case AwsService::kDynamodb:
      return "dynamodb";
    case AwsService::kCloudTrail:
      return "cloudtrail";
  }
  return "";
}

std::string service_endpoint_variable(AwsService service) {
  std::string name = "AWS_ENDPOINT_URL_";
  for (char c : service_name(service)) name.push_back(c >= 'a' && c <= 'z' ? char(c - 32) : c);
  return name;
}

bool aws_service_host(AwsService service, std::string_view region, EndpointVariant variant,
                      std::string& host, std::string& error) {
  const std::string_view svc = service_name(service);
  if (!is_valid_region(region)) {
    error = "\"" + printable_excerpt(region, 64) + "\" is not an AWS region name (like us-east-1)";
    return false;
  }
  const Partition p = partition_of(region);
  if ((variant.fips && !p.supports_fips) || (variant.dual_stack && !p.supports_dual_stack)) {
    error = std::string(svc) + " offers no " + std::string(variant_name(variant)) +
            " endpoint in partition " + std::string(p.name) + " (region " + std::string(region) +
            ")";
    return false;
  }
  const std::string r(region);
  if (service == AwsService::kS3) {
    if (variant.fips && p.name == "aws-cn") {
      error = "s3 offers no FIPS endpoint in partition aws-cn (region " + r + ")";
      return false;
    }
    host = std::string(variant.fips ? "s3-fips." : "s3.") +
           (variant.dual_stack ? "dualstack." : "") + r + "." + std::string(p.dns_suffix);
    return true;
  }
  // The first labels: "sqs", "sts", "sns", "dynamodb", "cloudtrail", "portal.sso" (the SSO portal).
  const std::string label = service == AwsService::kSso ? "portal.sso" : std::string(svc);
  const std::string_view suffix = variant.dual_stack ? p.dual_stack_dns_suffix : p.dns_suffix;
  if (variant.fips && !variant.dual_stack && p.name == "aws-us-gov") {
    // GovCloud's regional endpoints of these services are FIPS endpoints already.
    const bool plain =
        service == AwsService::kSqs || service == AwsService::kSts || service == AwsService::kSso ||
        service == AwsService::kDynamodb ||
        ((service == AwsService::kSns || service == AwsService::kCloudTrail) &&
         (region == "us-gov-east-1" || region == "us-gov-west-1"));
    if (plain) {
      host = label + "." + r + "." + std::string(p.dns_suffix);
      return true;
    }
  }
  host = label + (variant.fips ? "-fips." : ".") + r + "." + std::string(suffix);
  return true;
}

bool s3_bucket_address(std::string_view region, EndpointVariant variant, std::string_view bucket,
                       S3BucketAddress& out, std::string& error) {
  if (!is_valid_bucket_name(bucket)) {
    error = "\"" + printable_excerpt(bucket, 64) + "\" is not an S3 bucket name";
    return false;
  }
  std::string host;
  if (!aws_service_host(AwsService::kS3, region, variant, host, error)) return false;
  out.path_style = !is_virtual_host_bucket(bucket);
  out.host = out.path_style ? host : std::string(bucket) + "." + host;
  return true;
}

bool endpoint_settings(AwsService service, const EndpointConfig& config, const Environment& env,
                       EndpointSettings& out, std::string& error) {
  out = {};
  bool fips = false, dual = false, ignore = false;
  if (!env_bool(env, "AWS_USE_FIPS_ENDPOINT", fips, error) ||
      !env_bool(env, "AWS_USE_DUALSTACK_ENDPOINT", dual, error) ||
      !env_bool(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", ignore, error))
    return false;
  out.variant.fips = config.use_fips || fips;
  out.variant.dual_stack = config.use_dual_stack || dual;
  if (ignore || config.ignore_configured_endpoint_urls) return true;

  const std::string* own = nullptr;
  std::string own_key;
  switch (service) {
    case AwsService::kSqs:
      own = &config.sqs_endpoint_url, own_key = "[aws] sqs_endpoint_url";
      break;
    case AwsService::kS3:
      own = &config.s3_endpoint_url, own_key = "[aws] s3_endpoint_url";
      break;
    case AwsService::kSts:
      own = &config.sts_endpoint_url, own_key = "[aws] sts_endpoint_url";
      break;
    case AwsService::kCloudTrail:
      own = &config.cloudtrail_endpoint_url, own_key = "[aws] cloudtrail_endpoint_url";
      break;
    case AwsService::kSns:
    case AwsService::kSso:
    case AwsService::kDynamodb:
      break;
  }
  const std::string var = service_endpoint_variable(service);
  const std::pair<std::string, std::string> candidates[] = {
      {own ? *own : std::string(), own_key},
      {config.endpoint_url, "[aws] endpoint_url"},
      {env_value(env, var), var},
      {env_value(env, "AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"},
  };
  for (const auto& [url, source] : candidates) {
    if (url.empty()) continue;
    out.url = url;
    out.source = source;
    break;
  }
  return true;
}

bool resolve_endpoint_url(AwsService service, std::string_view region,
                          const EndpointSettings& settings, std::string& url, std::string& error) {
  const std::string svc(service_name(service));
  if (!settings.url.empty()) {
    if (settings.variant.fips || settings.variant.dual_stack) {
      error = svc + ": the endpoint URL from " + settings.source + " cannot be combined with " +
              std::string(variant_name(settings.variant)) +
              " endpoints (use_fips_endpoint / use_dualstack_endpoint, AWS_USE_FIPS_ENDPOINT / "
              "AWS_USE_DUALSTACK_ENDPOINT): the URL names the host, as in the AWS SDKs";
      return false;
    }
    HttpRequest parsed;
    std::string why;
    if (!parse_endpoint_url(settings.url, parsed, why)) {
      error = svc + ": the endpoint URL \"" + printable_excerpt(settings.url, 120) + "\" from " +
              settings.source + ": " + why;
      return false;
    }
    url = settings.url;
    return true;
  }
  std::string host, why;
  if (!aws_service_host(service, region, settings.variant, host, why)) {
    error = svc + " endpoint: " + why;
    return false;
  }
  url = "https://" + host;
  return true;
}

namespace {

// The URL's host name, lower case, without its port and one trailing dot: the fully qualified
// "sqs.eu-west-1.amazonaws.com." is the same host as "sqs.eu-west-1.amazonaws.com" (curl sends
// it as given; TLS names are compared without the dot).
std::string host_to_match(const HttpRequest& parsed) {
  std::string host = ascii_lower(host_without_port(parsed.host));
  if (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace

std::string region_from_endpoint_url(AwsService service, std::string_view url) {
  HttpRequest parsed;
  std::string error;
  if (!parse_endpoint_url(url, parsed, error)) return {};
  return region_of_host(service, host_to_match(parsed));
}

std::string sqs_region_from_queue_url(std::string_view queue_url) {
  HttpRequest parsed;
  std::string error;
  if (!parse_endpoint_url(queue_url, parsed, error)) return {};
  const std::string host = host_to_match(parsed);
  std::string region = region_of_host(AwsService::kSqs, host);
  if (!region.empty()) return region;
  // LocalStack's regional names (sqs.<region>.localhost.localstack.cloud) name their region too.
  region = region_in(AwsService::kSqs, host, "localhost.localstack.cloud", false);
  return is_valid_region(region) ? region : std::string();
}

}  // namespace trailwarden::aws
