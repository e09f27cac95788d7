#include "agent/aws/names.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace trailwarden::aws;

TEST_CASE("region names: AWS's spelling only") {
  for (const char* r : {"us-east-1", "eu-central-2", "ap-southeast-5", "us-gov-west-1",
                        "cn-northwest-1", "il-central-1", "us-isob-east-1", "eusc-de-east-1"}) {
    CAPTURE(r);
    CHECK(is_valid_region(r));
  }
  for (const std::string& r : std::vector<std::string>
       {"", "us", "us-east", "us-east-", "us-east-1.amazonaws.com.evil",
        "us-east-1.amazonaws.com.evil.amazonaws.com", "US-EAST-1", "us_east_1", "us-east-1/",
        "us-east-1:443", "us-east-1 ", "evil.com/x", "us--east-1", "-us-east-1", "us-east-123",
        "u-east-1", "abcde-east-1", "us-1", std::string("us-east-1\0", 10),
        "us-" + std::string(40, 'a') + "-1"}) {
    CAPTURE(r);
    CHECK_FALSE(is_valid_region(r));
  }
}

TEST_CASE("partitions and their DNS suffixes") {
  CHECK(partition_of("us-east-1").name == "aws");
  CHECK(partition_of("us-east-1").dns_suffix == "amazonaws.com");
  CHECK(partition_of("mx-central-1").name == "aws");  // a new commercial region
  CHECK(partition_of("cn-north-1").name == "aws-cn");
  CHECK(partition_of("cn-north-1").dns_suffix == "amazonaws.com.cn");
  CHECK(partition_of("us-gov-west-1").name == "aws-us-gov");
  CHECK(partition_of("us-gov-west-1").dns_suffix == "amazonaws.com");
  CHECK(partition_of("us-iso-east-1").name == "aws-iso");
  CHECK(partition_of("us-isob-east-1").name == "aws-iso-b");
}

TEST_CASE("bucket names") {
  for (const std::string& b : std::vector<std::string>{"trail-bucket", "my.trail.bucket", "abc", "DOC-EXAMPLE-BUCKET1",
                              "legacy_bucket", std::string(63, 'a'), std::string(255, 'a')}) {
    CAPTURE(b);
    CHECK(is_valid_bucket_name(b));
  }
  for (const std::string& b : std::vector<std::string>
       {"", "ab", "-abc", "abc-", ".abc", "a..b", "192.168.1.1", "a/b", "a b", "a?b", "a#b",
        "a@b", "a:b", "evil.com/x", "a%2fb", std::string(256, 'a'), std::string("ab\0c", 4)}) {
    CAPTURE(b);
    CHECK_FALSE(is_valid_bucket_name(b));
  }
  CHECK(is_virtual_host_bucket("trail-bucket"));
  CHECK_FALSE(is_virtual_host_bucket("my.trail.bucket"));  // dots: path-style
  CHECK_FALSE(is_virtual_host_bucket("DOC-EXAMPLE-BUCKET1"));
  CHECK_FALSE(is_virtual_host_bucket("legacy_bucket"));
  CHECK_FALSE(is_virtual_host_bucket(std::string(64, 'a')));
}

TEST_CASE("account ids and AWS event sources") {
  CHECK(is_valid_account_id("123456789012"));
  CHECK_FALSE(is_valid_account_id("12345678901"));
  CHECK_FALSE(is_valid_account_id("1234567890123"));
  CHECK_FALSE(is_valid_account_id("12345678901a"));
  for (const char* s : {"aws.s3", "aws.config", "aws.signin", "aws.cloudtrail", "aws.ec2"})
    CHECK(is_aws_event_source(s));
  for (const char* s : {"", "aws.", "aws", "attacker.custom", "custom.aws.s3", "AWS.S3", "aws.s3.",
                        "aws..s3", "aws.s3 ", "aws.s3/x", "awss3"})
    CHECK_FALSE(is_aws_event_source(s));
}
