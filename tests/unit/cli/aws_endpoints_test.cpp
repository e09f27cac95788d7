// Which region signs SQS, where SQS and S3 requests go, from [aws], the queue URL and the
// environment (agent/cli/aws_endpoints.h).
#include "agent/cli/aws_endpoints.h"

#include <doctest/doctest.h>

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

  // Another partition: said so, since S3 cannot follow its buckets there.
  c.aws.region = "cn-north-1";
  REQUIRE(plan_aws_endpoints(c, env, e, error));
  REQUIRE(e.warnings.size() == 1);
  CHECK(e.warnings[0].find("partition aws-cn while the queue is in aws") != std::string::npos);

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

TEST_CASE("SQS region: an endpoint override makes the configured region sign") {
  AwsEndpoints e;
  std::string error;
  Config c = config_for("https://sqs.eu-west-1.amazonaws.com/123456789012/trail");
  c.aws.region = "us-east-1";
  c.aws.sqs_endpoint_url = "https://vpce-1.sqs.us-east-1.vpce.amazonaws.com";
  REQUIRE(plan_aws_endpoints(c, {}, e, error));
  CHECK(e.sqs_region == "us-east-1");
  CHECK(e.sqs_endpoint_url == "https://vpce-1.sqs.us-east-1.vpce.amazonaws.com");
  // ... from the environment too, and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS undoes it.
  c.aws.sqs_endpoint_url.clear();
  REQUIRE(plan_aws_endpoints(c, {{"AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"}}, e, error));
  CHECK(e.sqs_endpoint_url == "http://127.0.0.1:4566");
  CHECK(e.sqs_region == "us-east-1");
  REQUIRE(plan_aws_endpoints(c,
                             {{"AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"},
                              {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}},
                             e, error));
  CHECK(e.sqs_endpoint_url.empty());
  CHECK(e.sqs_region == "eu-west-1");
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
