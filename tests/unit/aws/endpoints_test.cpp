// The endpoint helper: AWS host names per service, partition and variant, the endpoint
// variables and their precedence, and the region an SQS queue URL names. The full matrix is
// cross-checked against botocore by tests/integration/test_endpoints_botocore.py.
#include "agent/aws/endpoints.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace trailwarden::aws;

namespace {

std::string host_of(AwsService svc, const std::string& region, bool fips = false,
                    bool dual = false) {
  std::string host, error;
  if (!aws_service_host(svc, region, {fips, dual}, host, error)) return "ERR " + error;
  return host;
}

EndpointSettings settings_of(AwsService svc, const EndpointConfig& config, const Environment& env) {
  EndpointSettings s;
  std::string error;
  REQUIRE(endpoint_settings(svc, config, env, s, error));
  return s;
}

}  // namespace

TEST_CASE("endpoints: SQS, STS, SNS hosts per partition and variant") {
  CHECK(host_of(AwsService::kSqs, "us-east-1") == "sqs.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kSqs, "us-east-1", true) == "sqs-fips.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kSqs, "us-east-1", false, true) == "sqs.us-east-1.api.aws");
  CHECK(host_of(AwsService::kSqs, "us-east-1", true, true) == "sqs-fips.us-east-1.api.aws");
  CHECK(host_of(AwsService::kSqs, "cn-north-1") == "sqs.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kSqs, "cn-north-1", false, true) ==
        "sqs.cn-north-1.api.amazonwebservices.com.cn");
  CHECK(host_of(AwsService::kSts, "cn-north-1") == "sts.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kSts, "us-east-1") == "sts.us-east-1.amazonaws.com");  // regional
  CHECK(host_of(AwsService::kSts, "us-east-2", true) == "sts-fips.us-east-2.amazonaws.com");
  CHECK(host_of(AwsService::kSns, "eu-west-1") == "sns.eu-west-1.amazonaws.com");
  // GovCloud: the regional SQS, STS (and two SNS) endpoints are the FIPS endpoints.
  CHECK(host_of(AwsService::kSqs, "us-gov-west-1", true) == "sqs.us-gov-west-1.amazonaws.com");
  CHECK(host_of(AwsService::kSts, "us-gov-east-1", true) == "sts.us-gov-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kSns, "us-gov-west-1", true) == "sns.us-gov-west-1.amazonaws.com");
  CHECK(host_of(AwsService::kSqs, "us-gov-west-1", true, true) == "sqs-fips.us-gov-west-1.api.aws");
  // The SSO portal (sso profiles).
  CHECK(host_of(AwsService::kSso, "eu-west-1") == "portal.sso.eu-west-1.amazonaws.com");
  CHECK(host_of(AwsService::kSso, "us-east-1", true) == "portal.sso-fips.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kSso, "cn-north-1") == "portal.sso.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kSso, "us-gov-west-1", true) ==
        "portal.sso.us-gov-west-1.amazonaws.com");
  CHECK(service_endpoint_variable(AwsService::kSso) == "AWS_ENDPOINT_URL_SSO");
  CHECK(host_of(AwsService::kSqs, "us-iso-east-1") == "sqs.us-iso-east-1.c2s.ic.gov");
  CHECK(host_of(AwsService::kSqs, "eusc-de-east-1") == "sqs.eusc-de-east-1.amazonaws.eu");
}

TEST_CASE("endpoints: S3 hosts, bucket addressing and what is not offered") {
  CHECK(host_of(AwsService::kS3, "us-east-1") == "s3.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kS3, "us-east-1", true) == "s3-fips.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kS3, "us-east-1", false, true) ==
        "s3.dualstack.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kS3, "us-east-1", true, true) ==
        "s3-fips.dualstack.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kS3, "cn-north-1") == "s3.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kS3, "cn-north-1", false, true) ==
        "s3.dualstack.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kS3, "us-gov-west-1", true) == "s3-fips.us-gov-west-1.amazonaws.com");
  // S3 has no FIPS endpoint in China: an error, never an invented host.
  const std::string cn_fips = host_of(AwsService::kS3, "cn-north-1", true);
  CHECK(cn_fips.starts_with("ERR "));
  CHECK(cn_fips.find("no FIPS endpoint in partition aws-cn") != std::string::npos);
  CHECK(host_of(AwsService::kS3, "cn-northwest-1", true, true).starts_with("ERR "));
  // A region that is not a region name never becomes a host.
  CHECK(host_of(AwsService::kSqs, "us-east-1.evil.com").starts_with("ERR "));
  CHECK(host_of(AwsService::kS3, "").starts_with("ERR "));

  S3BucketAddress a;
  std::string error;
  REQUIRE(s3_bucket_address("cn-north-1", {}, "trail-logs", a, error));
  CHECK(a.host == "trail-logs.s3.cn-north-1.amazonaws.com.cn");
  CHECK_FALSE(a.path_style);
  REQUIRE(s3_bucket_address("us-east-1", {true, false}, "trail-logs", a, error));
  CHECK(a.host == "trail-logs.s3-fips.us-east-1.amazonaws.com");
  for (const char* bucket : {"Trail-Logs", "trail_logs", "trail.logs"}) {
    CAPTURE(bucket);
    REQUIRE(s3_bucket_address("us-east-1", {false, true}, bucket, a, error));
    CHECK(a.host == "s3.dualstack.us-east-1.amazonaws.com");
    CHECK(a.path_style);
  }
  CHECK_FALSE(s3_bucket_address("us-east-1", {}, "evil.com/x", a, error));
  CHECK_FALSE(s3_bucket_address("cn-north-1", {true, false}, "trail-logs", a, error));
}

TEST_CASE("endpoints: variable names follow the SDKs' rule") {
  CHECK(service_endpoint_variable(AwsService::kSqs) == "AWS_ENDPOINT_URL_SQS");
  CHECK(service_endpoint_variable(AwsService::kS3) == "AWS_ENDPOINT_URL_S3");
  CHECK(service_endpoint_variable(AwsService::kSts) == "AWS_ENDPOINT_URL_STS");
  CHECK(service_endpoint_variable(AwsService::kSns) == "AWS_ENDPOINT_URL_SNS");
}

TEST_CASE("endpoints: precedence of the configuration keys and the variables") {
  EndpointConfig config;
  Environment env;
  CHECK(settings_of(AwsService::kS3, config, env).url.empty());

  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  auto s = settings_of(AwsService::kS3, config, env);
  CHECK(s.url == "http://127.0.0.1:1");
  CHECK(s.source == "AWS_ENDPOINT_URL");
  // Every service alike, SNS too.
  CHECK(settings_of(AwsService::kSns, config, env).url == "http://127.0.0.1:1");

  env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:2";
  CHECK(settings_of(AwsService::kS3, config, env).url == "http://127.0.0.1:2");
  CHECK(settings_of(AwsService::kSqs, config, env).url == "http://127.0.0.1:1");

  config.endpoint_url = "http://127.0.0.1:3";
  s = settings_of(AwsService::kS3, config, env);
  CHECK(s.url == "http://127.0.0.1:3");
  CHECK(s.source == "[aws] endpoint_url");

  config.s3_endpoint_url = "http://127.0.0.1:4";
  s = settings_of(AwsService::kS3, config, env);
  CHECK(s.url == "http://127.0.0.1:4");
  CHECK(s.source == "[aws] s3_endpoint_url");
  CHECK(settings_of(AwsService::kSqs, config, env).url == "http://127.0.0.1:3");

  // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ignores the keys and the variables.
  env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "TRUE";
  CHECK(settings_of(AwsService::kS3, config, env).url.empty());
  CHECK(settings_of(AwsService::kSts, config, env).url.empty());
  env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "false";
  CHECK_FALSE(settings_of(AwsService::kS3, config, env).url.empty());
  config.ignore_configured_endpoint_urls = true;
  CHECK(settings_of(AwsService::kS3, config, env).url.empty());
}

TEST_CASE("endpoints: FIPS and dual-stack from the configuration or the environment") {
  EndpointConfig config;
  Environment env;
  CHECK_FALSE(settings_of(AwsService::kSqs, config, env).variant.fips);
  env["AWS_USE_FIPS_ENDPOINT"] = "true";
  CHECK(settings_of(AwsService::kSqs, config, env).variant.fips);
  env["AWS_USE_FIPS_ENDPOINT"] = "";
  config.use_dual_stack = true;
  auto s = settings_of(AwsService::kSqs, config, env);
  CHECK_FALSE(s.variant.fips);
  CHECK(s.variant.dual_stack);

  std::string url, error;
  REQUIRE(resolve_endpoint_url(AwsService::kSqs, "eu-west-1", s, url, error));
  CHECK(url == "https://sqs.eu-west-1.api.aws");

  // A bad boolean is an error naming the variable.
  env["AWS_USE_DUALSTACK_ENDPOINT"] = "yes";
  EndpointSettings bad;
  CHECK_FALSE(endpoint_settings(AwsService::kSqs, config, env, bad, error));
  CHECK(error.find("AWS_USE_DUALSTACK_ENDPOINT") != std::string::npos);

  // An endpoint URL combined with a variant is an error, as in the SDKs.
  s.url = "http://127.0.0.1:4566";
  s.source = "AWS_ENDPOINT_URL";
  CHECK_FALSE(resolve_endpoint_url(AwsService::kSqs, "eu-west-1", s, url, error));
  CHECK(error.find("AWS_ENDPOINT_URL") != std::string::npos);
  s.variant = {};
  REQUIRE(resolve_endpoint_url(AwsService::kSqs, "eu-west-1", s, url, error));
  CHECK(url == "http://127.0.0.1:4566");
  // A malformed URL: named with where it came from.
  s.url = "127.0.0.1:4566?x";
  CHECK_FALSE(resolve_endpoint_url(AwsService::kSqs, "eu-west-1", s, url, error));
  CHECK(error.find("from AWS_ENDPOINT_URL") != std::string::npos);
}

TEST_CASE("endpoints: the region an SQS queue URL names") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"https://sqs.eu-west-1.amazonaws.com/123456789012/trail", "eu-west-1"},
      {"https://sqs.eu-west-1.amazonaws.com:443/123456789012/trail", "eu-west-1"},
      {"https://SQS.EU-WEST-1.AMAZONAWS.COM/123456789012/trail", "eu-west-1"},
      {"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/trail", "cn-north-1"},
      {"https://sqs-fips.us-east-2.amazonaws.com/123456789012/trail", "us-east-2"},
      {"https://sqs.ap-south-1.api.aws/123456789012/trail", "ap-south-1"},
      {"https://sqs-fips.us-gov-west-1.api.aws/123456789012/trail", "us-gov-west-1"},
      {"https://sqs.us-gov-west-1.amazonaws.com/123456789012/trail", "us-gov-west-1"},
      {"https://sqs.cn-northwest-1.api.amazonwebservices.com.cn/1/q", "cn-northwest-1"},
      {"https://sqs.us-iso-east-1.c2s.ic.gov/123456789012/trail", "us-iso-east-1"},
      // Legacy forms.
      {"https://eu-central-1.queue.amazonaws.com/123456789012/trail", "eu-central-1"},
      {"https://queue.amazonaws.com/123456789012/trail", "us-east-1"},
      {"http://queue.amazonaws.com/123456789012/trail", "us-east-1"},
      {"https://cn-north-1.queue.amazonaws.com.cn/123456789012/trail", "cn-north-1"},
      // VPC interface endpoint names.
      {"https://vpce-0abc-1xyz.sqs.eu-west-3.vpce.amazonaws.com/123456789012/trail", "eu-west-3"},
      // Emulators and private names: no region.
      {"http://127.0.0.1:4566/000000000000/q", ""},
      {"http://localhost:4566/000000000000/q", ""},
      {"http://sqs.eu-west-2.localhost.localstack.cloud:4566/000000000000/q", "eu-west-2"},
      {"http://sqs.evil.localhost.localstack.cloud:4566/000000000000/q", ""},
      {"http://eu-west-2.queue.localhost.localstack.cloud:4566/000000000000/q", ""},
      {"http://[::1]:9324/queue/q", ""},
      // Hostile or malformed.
      {"https://sqs.us-east-1.amazonaws.com.evil.com/123456789012/trail", ""},
      {"https://sqs.us-east-1.evil.com/123456789012/trail", ""},
      {"https://user@sqs.us-east-1.amazonaws.com/123456789012/trail", ""},
      {"https://sqs.us-east-1.amazonaws.com/123456789012/trail?x=1", ""},
      {"https://sqs.evil.amazonaws.com/1/q", ""},
      {"https://sqs..amazonaws.com/1/q", ""},
      {"https://sqs.eu-west-1.amazonaws.com./1/q", "eu-west-1"},  // fully qualified
      {"https://eu-west-1.queue.amazonaws.com.:443/1/q", "eu-west-1"},
      {"https://sqs.eu-west-1.amazonaws.com../1/q", ""},  // one dot only
      {"https://sqs.cn-north-1.amazonaws.com/1/q", ""},    // wrong partition suffix
      {"https://sqs.us-east-1.amazonaws.com.cn/1/q", ""},  // wrong partition suffix
      {"https://queue.amazonaws.com.cn/1/q", ""},
      {"https://queue.api.aws/1/q", ""},
      {"https://x.sqs.us-east-1.amazonaws.com/1/q", ""},
      {"ftp://sqs.us-east-1.amazonaws.com/1/q", ""},
      {"sqs.us-east-1.amazonaws.com/1/q", ""},
      {"", ""},
      {std::string("https://sqs.us-east-1.amazonaws.com\0.evil/1/q", 45), ""},
  };
  for (const auto& [url, region] : cases) {
    CAPTURE(url);
    CHECK(sqs_region_from_queue_url(url) == region);
  }
}

TEST_CASE("endpoints: the region an endpoint URL names signs its service") {
  struct Case {
    AwsService service;
    std::string url;
    std::string region;
  };
  const std::vector<Case> cases = {
      // VPC interface endpoints, with the AZ-specific and S3's prefixed names.
      {AwsService::kSqs, "https://vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com", "eu-west-1"},
      {AwsService::kSqs, "https://vpce-0abc-xyz-eu-west-1a.sqs.eu-west-1.vpce.amazonaws.com",
       "eu-west-1"},
      {AwsService::kS3, "https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com",
       "eu-west-1"},
      {AwsService::kS3, "https://vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com", "eu-west-1"},
      {AwsService::kS3, "https://accesspoint.vpce-0abc-xyz.s3.us-east-2.vpce.amazonaws.com",
       "us-east-2"},
      {AwsService::kSts, "https://vpce-0abc-xyz.sts.ap-south-1.vpce.amazonaws.com", "ap-south-1"},
      {AwsService::kSqs, "https://vpce-1.sqs.cn-north-1.vpce.amazonaws.com.cn", "cn-north-1"},
      {AwsService::kSqs, "HTTPS://VPCE-1.SQS.EU-WEST-1.VPCE.AMAZONAWS.COM:443", "eu-west-1"},
      // The service's AWS hosts.
      {AwsService::kSqs, "https://sqs.eu-west-1.amazonaws.com", "eu-west-1"},
      {AwsService::kSqs, "https://eu-west-1.queue.amazonaws.com", "eu-west-1"},
      {AwsService::kSqs, "https://queue.amazonaws.com", "us-east-1"},
      {AwsService::kS3, "https://s3.eu-west-2.amazonaws.com", "eu-west-2"},
      {AwsService::kS3, "https://s3-fips.dualstack.us-east-1.amazonaws.com", "us-east-1"},
      {AwsService::kS3, "https://s3.dualstack.cn-north-1.amazonaws.com.cn", "cn-north-1"},
      {AwsService::kSts, "https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
      {AwsService::kSts, "https://sts-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
      {AwsService::kSts, "https://sts.amazonaws.com", "us-east-1"},
      {AwsService::kSts, "https://sts.us-east-1.api.aws", "us-east-1"},
      // Another service's host, emulators, private names, look-alikes: no region.
      {AwsService::kS3, "https://vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com", ""},
      {AwsService::kSqs, "https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com", ""},
      {AwsService::kS3, "https://queue.amazonaws.com", ""},
      {AwsService::kS3, "https://s3.amazonaws.com", ""},
      {AwsService::kSts, "https://sts.amazonaws.com.cn", ""},
      {AwsService::kSqs, "http://127.0.0.1:4566", ""},
      {AwsService::kSqs, "https://sqs.internal.example", ""},
      {AwsService::kSqs, "https://sqs.vpce.amazonaws.com", ""},
      {AwsService::kSqs, "https://x.sqs.eu-west-1.vpce.amazonaws.com", ""},  // no vpce- id
      {AwsService::kSqs, "https://vpce-1.sqs.evil.vpce.amazonaws.com", ""},
      {AwsService::kSqs, "https://vpce-1.sqs.cn-north-1.vpce.amazonaws.com", ""},  // partition
      {AwsService::kSqs, "https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com.evil.com", ""},
      {AwsService::kSqs, "https://vpce-1.sqs.eu-west-1.vpce.api.aws", ""},
      {AwsService::kSqs, "vpce-1.sqs.eu-west-1.vpce.amazonaws.com", ""},
      {AwsService::kSqs, "", ""},
      {AwsService::kS3, "https://s3.eu-west-1.amazonaws.com.", "eu-west-1"},  // fully qualified
      {AwsService::kSts, "https://sts.eu-west-1.amazonaws.com.:443", "eu-west-1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.url);
    CAPTURE(service_name(c.service));
    CHECK(region_from_endpoint_url(c.service, c.url) == c.region);
  }
}

TEST_CASE("endpoints: CloudTrail hosts, its FIPS rule in GovCloud, its variable and key") {
  CHECK(service_name(AwsService::kCloudTrail) == "cloudtrail");
  CHECK(service_endpoint_variable(AwsService::kCloudTrail) == "AWS_ENDPOINT_URL_CLOUDTRAIL");
  CHECK(host_of(AwsService::kCloudTrail, "eu-west-1") == "cloudtrail.eu-west-1.amazonaws.com");
  CHECK(host_of(AwsService::kCloudTrail, "us-east-1", true) ==
        "cloudtrail-fips.us-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kCloudTrail, "us-east-1", false, true) ==
        "cloudtrail.us-east-1.api.aws");
  CHECK(host_of(AwsService::kCloudTrail, "us-east-1", true, true) ==
        "cloudtrail-fips.us-east-1.api.aws");
  CHECK(host_of(AwsService::kCloudTrail, "cn-north-1") ==
        "cloudtrail.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kCloudTrail, "cn-north-1", true) ==
        "cloudtrail-fips.cn-north-1.amazonaws.com.cn");
  CHECK(host_of(AwsService::kCloudTrail, "not-a-region", true).starts_with("ERR "));
  // botocore's cloudtrail rule set: the two GovCloud regions' FIPS endpoints are the plain
  // hosts; FIPS with dual-stack keeps the -fips label.
  CHECK(host_of(AwsService::kCloudTrail, "us-gov-west-1", true) ==
        "cloudtrail.us-gov-west-1.amazonaws.com");
  CHECK(host_of(AwsService::kCloudTrail, "us-gov-east-1", true) ==
        "cloudtrail.us-gov-east-1.amazonaws.com");
  CHECK(host_of(AwsService::kCloudTrail, "us-gov-west-1", true, true) ==
        "cloudtrail-fips.us-gov-west-1.api.aws");

  EndpointConfig config;
  Environment env;
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  CHECK(settings_of(AwsService::kCloudTrail, config, env).url == "http://127.0.0.1:1");
  env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = "http://127.0.0.1:2";
  auto s = settings_of(AwsService::kCloudTrail, config, env);
  CHECK(s.url == "http://127.0.0.1:2");
  CHECK(s.source == "AWS_ENDPOINT_URL_CLOUDTRAIL");
  CHECK(settings_of(AwsService::kSqs, config, env).url == "http://127.0.0.1:1");
  config.cloudtrail_endpoint_url = "http://127.0.0.1:3";
  s = settings_of(AwsService::kCloudTrail, config, env);
  CHECK(s.url == "http://127.0.0.1:3");
  CHECK(s.source == "[aws] cloudtrail_endpoint_url");
  CHECK(settings_of(AwsService::kS3, config, env).url == "http://127.0.0.1:1");

  // The region a CloudTrail endpoint URL names.
  CHECK(region_from_endpoint_url(AwsService::kCloudTrail,
                                 "https://cloudtrail.eu-west-1.amazonaws.com") == "eu-west-1");
  CHECK(region_from_endpoint_url(AwsService::kCloudTrail,
                                 "https://cloudtrail-fips.us-east-2.amazonaws.com") == "us-east-2");
  CHECK(region_from_endpoint_url(AwsService::kCloudTrail,
                                 "https://vpce-0abc.cloudtrail.ap-south-1.vpce.amazonaws.com") ==
        "ap-south-1");
  CHECK(region_from_endpoint_url(AwsService::kCloudTrail,
                                 "https://sqs.eu-west-1.amazonaws.com").empty());
}
