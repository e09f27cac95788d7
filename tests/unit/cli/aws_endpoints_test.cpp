// Which region signs SQS, where SQS and S3 requests go, from [aws], the queue URL and the
// environment (agent/cli/aws_endpoints.h).
#include "agent/cli/aws_endpoints.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using namespace trailwarden;
using namespace trailwarden::cli;

namespace {

Config config_for(const std::string& queue_url) {
  Config c;
  c.sqs.queue_url = queue_url;
  return c;
}

}  // namespace

TEST_CASE("SQS region: the queue URL's region signs, a different AWS_REGION is warned about") {
  // EKS: AWS_REGION is the cluster's region, the queue is elsewhere.
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  aws::Environment env{{"AWS_REGION", "us-west-2"}};
  AwsEndpoints e;
  std::string error;
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  CHECK(e.sqs_region == "eu-west-1");
  CHECK(e.sqs_endpoint_url.empty());  // the queue URL's own host
  CHECK(e.region == "us-west-2");     // S3's first guess and STS
  CHECK(e.region_source == "AWS_REGION");
  REQUIRE(e.warnings.size() == 1);
  CHECK(e.warnings[0].find("eu-west-1") != std::string::npos);
  CHECK(e.warnings[0].find("AWS_REGION") != std::string::npos);

  // [aws] region wins over the environment as the agent's region, not as SQS's.
  c.aws.region = "ap-south-1";
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  CHECK(e.sqs_region == "eu-west-1");
  CHECK(e.region == "ap-south-1");
  CHECK(e.region_source == "[aws] region");

  // Another partition: an error naming both (credentials and S3 live in one partition).
  c.aws.region = "cn-north-1";
  CHECK_FALSE(plan_aws_endpoints(c, env, e, error));
  CHECK(error.find("the queue URL https://sqs.eu-west-1.amazonaws.com/123456789012/trail names "
                   "region eu-west-1 of partition aws, but the agent's region cn-north-1 (from "
                   "[aws] region) is in partition aws-cn") != std::string::npos);

  // The same region: no warning.
  c.aws.region = "eu-west-1";
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  CHECK(e.warnings.empty());
}

TEST_CASE("SQS region: legacy queue hosts sign with their region and keep their host") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("https://queue.amazonaws.com/123456789012/trail");
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "eu-west-1"}}, e, error));
  CHECK(e.sqs_region == "us-east-1");
  CHECK(e.sqs_endpoint_url.empty());
  c = config_for("https://ap-northeast-1.queue.amazonaws.com/123456789012/trail");
  REQUIRE(plan_aws_endpoints(c, {}, e, error));
  CHECK(e.sqs_region == "ap-northeast-1");
  CHECK(e.region == "ap-northeast-1");
  CHECK(e.region_source == "the queue URL");
  CHECK(e.warnings.empty());
}

TEST_CASE("SQS region: a VPC endpoint signs with its own region, not AWS_REGION") {
  // The review finding: AWS_REGION=us-east-1, queue and interface endpoint in eu-west-1.
  AwsEndpoints e;
  std::string error;
  const std::string vpce = "https://vpce-0abc-xyz.sqs.eu-west-1.vpce.amazonaws.com";
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  c.aws.sqs_endpoint_url = vpce;
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}}, e, error));
  CHECK(e.sqs_region == "eu-west-1");
  CHECK(e.sqs_endpoint_url == vpce);
  CHECK(e.region == "us-east-1");
  REQUIRE(e.warnings.size() == 1);  // once
  CHECK(e.warnings[0] ==
        "the SQS endpoint " + vpce +
            " (from [aws] sqs_endpoint_url) is in region eu-west-1, AWS_REGION says us-east-1: "
            "SQS requests are signed for eu-west-1 (the endpoint's region)");
  // [aws] endpoint_url and AWS_ENDPOINT_URL_SQS alike; an AZ-specific name too. An SQS
  // endpoint as every service's endpoint sends S3 and STS there: said.
  c.aws.sqs_endpoint_url.clear();
  c.aws.endpoint_url = vpce;
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}}, e, error));
  CHECK(e.sqs_region == "eu-west-1");
  REQUIRE(e.warnings.size() == 2);
  CHECK(e.warnings[1] == "[aws] endpoint_url " + vpce +
                             " is an SQS endpoint, but it applies to every service: S3, STS "
                             "requests go there too and fail; set [aws] sqs_endpoint_url (or "
                             "AWS_ENDPOINT_URL_SQS) instead");
  c.aws.s3_endpoint_url = "http://s3.local";  // S3 has its own: only STS goes astray
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}}, e, error));
  REQUIRE(e.warnings.size() == 2);
  CHECK(e.warnings[1].find(": STS requests go there too") != std::string::npos);
  c.aws.s3_endpoint_url.clear();
  c.aws.endpoint_url.clear();
  REQUIRE(
      plan_aws_endpoints(c,
                         {{"AWS_REGION", "us-east-1"},
                          {"AWS_ENDPOINT_URL_SQS",
                           "https://vpce-0abc-xyz-eu-west-1a.sqs.eu-west-1.vpce.amazonaws.com"}},
                         e, error));
  CHECK(e.sqs_region == "eu-west-1");
  // Every AWS SQS host form names its region.
  for (const auto& [url, region] : std::vector<std::pair<std::string, std::string>>{
           {"https://sqs.eu-west-1.amazonaws.com", "eu-west-1"},
           {"https://sqs-fips.us-east-2.amazonaws.com", "us-east-2"},
           {"https://sqs.eu-west-1.api.aws", "eu-west-1"},
           {"https://eu-central-1.queue.amazonaws.com", "eu-central-1"},
           {"https://queue.amazonaws.com", "us-east-1"}}) {  // aws-cn: an error (below)
    CAPTURE(url);
    c.aws.sqs_endpoint_url = url;
    REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}}, e, error));
    CHECK(e.sqs_region == region);
  }
  // The same region everywhere: no warning.
  c.aws.sqs_endpoint_url = vpce;
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "eu-west-1"}}, e, error));
  CHECK(e.warnings.empty());
  // An endpoint in another region than the queue: its region signs, said once.
  c.aws.sqs_endpoint_url = "https://vpce-1.sqs.eu-central-1.vpce.amazonaws.com";
  REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}}, e, error));
  CHECK(e.sqs_region == "eu-central-1");
  REQUIRE(e.warnings.size() == 1);
  CHECK(e.warnings[0].find("the queue URL names region eu-west-1") != std::string::npos);
  CHECK(e.warnings[0].find("only the queues of its own region") != std::string::npos);
}

TEST_CASE("SQS region: an endpoint naming no region signs with the queue URL's, else the agent's") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  c.aws.region = "us-east-1";
  // A private name (or an emulator) in front of a real queue URL: the queue's region.
  REQUIRE(
      plan_aws_endpoints(c, {{"AWS_ENDPOINT_URL_SQS", "https://sqs.internal.example"}}, e, error));
  CHECK(e.sqs_endpoint_url == "https://sqs.internal.example");
  CHECK(e.sqs_region == "eu-west-1");
  REQUIRE(e.warnings.size() == 1);
  CHECK(e.warnings[0].find("the queue URL names region eu-west-1, [aws] region says us-east-1") ==
        0);
  // Hosts that only look like AWS's name no region.
  for (const char* url : {"https://vpce-1.sqs.evil.vpce.amazonaws.com",
                          "https://sqs.eu-west-1.amazonaws.com.evil.com",
                          "https://vpce-1.sqs.cn-north-1.vpce.amazonaws.com",
                          "https://x.sqs.eu-central-1.amazonaws.com"}) {
    CAPTURE(url);
    c.aws.sqs_endpoint_url = url;
    REQUIRE(plan_aws_endpoints(c, {}, e, error));
    CHECK(e.sqs_region == "eu-west-1");
  }
  // An emulator queue URL and endpoint: the agent's region.
  c = config_for("http://127.0.0.1:4566/000000000000/q");
  c.aws.region = "us-east-1";
  c.aws.sqs_endpoint_url = "http://127.0.0.1:4566";
  REQUIRE(plan_aws_endpoints(c, {}, e, error));
  CHECK(e.sqs_region == "us-east-1");
  CHECK(e.warnings.empty());
  // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS undoes the override.
  c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  c.aws.region = "eu-west-1";
  REQUIRE(plan_aws_endpoints(
      c,
      {{"AWS_ENDPOINT_URL_SQS", "https://vpce-1.sqs.us-east-1.vpce.amazonaws.com"},
       {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}},
      e, error));
  CHECK(e.sqs_endpoint_url.empty());
  CHECK(e.sqs_region == "eu-west-1");
}

TEST_CASE("S3 and STS regions: an endpoint naming a region signs with it") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  const aws::Environment env{{"AWS_REGION", "us-east-1"}};
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  CHECK(e.s3_region == "us-east-1");  // no endpoint: the agent's region, redirects correct it
  CHECK(e.sts_region == "us-east-1");
  for (const auto& [url, region] : std::vector<std::pair<std::string, std::string>>{
           {"https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com", "eu-west-1"},
           {"https://vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com", "eu-west-1"},
           {"https://s3.eu-west-2.amazonaws.com", "eu-west-2"},
           {"https://s3-fips.us-east-2.amazonaws.com", "us-east-2"},
           {"https://s3.dualstack.ap-south-1.amazonaws.com", "ap-south-1"},
           {"http://127.0.0.1:9000", "us-east-1"},
           {"https://s3.amazonaws.com", "us-east-1"},
           {"https://vpce-1.sqs.eu-west-1.vpce.amazonaws.com", "us-east-1"}}) {  // not S3's
    CAPTURE(url);
    c.aws.s3_endpoint_url = url;
    REQUIRE(plan_aws_endpoints(c, env, e, error));
    CHECK(e.s3_region == region);
    CHECK(e.s3.url == url);
    CHECK(e.region == "us-east-1");
  }
  c.aws.s3_endpoint_url = "https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com";
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  REQUIRE(e.warnings.size() == 2);  // SQS (queue URL) and S3, once each
  CHECK(e.warnings[1] ==
        "the S3 endpoint https://bucket.vpce-0abc-xyz.s3.eu-west-1.vpce.amazonaws.com (from [aws] "
        "s3_endpoint_url) is in region eu-west-1, AWS_REGION says us-east-1: S3 requests are "
        "signed for eu-west-1 (the endpoint's region)");
  c.aws.s3_endpoint_url.clear();
  for (const auto& [url, region] : std::vector<std::pair<std::string, std::string>>{
           {"https://vpce-0abc-xyz.sts.eu-west-1.vpce.amazonaws.com", "eu-west-1"},
           {"https://sts.eu-west-1.amazonaws.com", "eu-west-1"},
           {"https://sts-fips.us-east-2.amazonaws.com", "us-east-2"},
           {"https://sts.amazonaws.com", "us-east-1"},  // the global endpoint
           {"https://sts.internal.example", "us-east-1"}}) {
    CAPTURE(url);
    REQUIRE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL_STS", url}}, e,
                               error));
    CHECK(e.sts_region == region);
  }
}

TEST_CASE("SQS and S3: FIPS and dual-stack hosts in the queue's region and partition") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("https://sqs.us-east-2.amazonaws.com/123456789012/trail");
  REQUIRE(plan_aws_endpoints(c, {{"AWS_USE_FIPS_ENDPOINT", "true"}}, e, error));
  CHECK(e.sqs_endpoint_url == "https://sqs-fips.us-east-2.amazonaws.com");
  CHECK(e.sqs_region == "us-east-2");
  CHECK(e.s3.variant.fips);
  c.aws.use_dualstack_endpoint = true;
  REQUIRE(plan_aws_endpoints(c, {}, e, error));
  CHECK(e.sqs_endpoint_url == "https://sqs.us-east-2.api.aws");
  CHECK(e.s3.variant.dual_stack);

  // China: S3 has no FIPS endpoint; said at start-up.
  c = config_for("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/trail");
  c.aws.use_fips_endpoint = true;
  CHECK_FALSE(plan_aws_endpoints(c, {}, e, error));
  CHECK(error.find("aws-cn") != std::string::npos);

  // An emulator queue URL names no AWS host to make FIPS.
  c = config_for("http://127.0.0.1:4566/000000000000/q");
  c.aws.region = "us-east-1";
  c.aws.use_fips_endpoint = true;
  CHECK_FALSE(plan_aws_endpoints(c, {}, e, error));
  CHECK(error.find("sqs_endpoint_url") != std::string::npos);
  // An endpoint URL with FIPS: an error naming where the URL came from.
  c.aws.use_fips_endpoint = false;
  c.aws.endpoint_url = "http://127.0.0.1:4566";
  CHECK_FALSE(plan_aws_endpoints(c, {{"AWS_USE_FIPS_ENDPOINT", "true"}}, e, error));
  CHECK(error.find("[aws] endpoint_url") != std::string::npos);
}

TEST_CASE("regions: none, or not a region name, is an error naming its source") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("http://127.0.0.1:4566/000000000000/q");
  CHECK_FALSE(plan_aws_endpoints(c, {}, e, error));
  CHECK(error.find("no AWS region") != std::string::npos);
  REQUIRE(plan_aws_endpoints(c, {{"AWS_DEFAULT_REGION", "eu-north-1"}}, e, error));
  CHECK(e.sqs_region == "eu-north-1");  // an emulator: the configured region signs
  CHECK(e.sqs_endpoint_url.empty());
  CHECK_FALSE(plan_aws_endpoints(c, {{"AWS_REGION", "us-east-1.evil.com"}}, e, error));
  CHECK(error.find("AWS_REGION") != std::string::npos);
}

TEST_CASE("regions: an endpoint override in another partition than the agent's is an error") {
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  c.aws.region = "eu-west-1";
  AwsEndpoints e;
  std::string error;
  for (auto [key, url] : std::vector<std::pair<std::string, std::string>>{
           {"sqs", "https://sqs.cn-north-1.amazonaws.com.cn"},
           {"s3", "https://s3.us-gov-west-1.amazonaws.com"},
           {"sts", "https://sts.cn-northwest-1.amazonaws.com.cn"}}) {
    CAPTURE(key);
    Config k = c;
    (key == "sqs" ? k.aws.sqs_endpoint_url : key == "s3" ? k.aws.s3_endpoint_url
                                                        : k.aws.sts_endpoint_url) = url;
    CHECK_FALSE(plan_aws_endpoints(k, {}, e, error));
    CHECK(error.find(url) != std::string::npos);
    CHECK(error.find("the agent's region eu-west-1 (from [aws] region) is in partition aws")
          != std::string::npos);
  }
}
