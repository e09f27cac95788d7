// Where requests to an AWS service go: the one place that builds AWS host names, for every
// service the agent calls (SQS, S3, STS, the SSO portal, DynamoDB, CloudTrail; SNS for
// completeness) and every partition (agent/aws/names.h), with the FIPS and dual-stack variants,
// resolved as the AWS SDKs' endpoint rule sets do (botocore's endpoint-rule-set-1.json of sqs,
// s3, sts, sns, sso, dynamodb and cloudtrail;
// checked against botocore by tests/integration/test_endpoints_botocore.py):
//
//   plain       <svc>.<region>.<dns suffix>              sqs.us-east-1.amazonaws.com
//   FIPS        <svc>-fips.<region>.<dns suffix>         sqs-fips.us-east-1.amazonaws.com
//   dual-stack  <svc>.<region>.<dual-stack suffix>       sqs.us-east-1.api.aws
//   both        <svc>-fips.<region>.<dual-stack suffix>  sqs-fips.us-east-1.api.aws
//
// with <svc> "portal.sso" for the SSO portal, except: S3 keeps the partition's DNS suffix and
// spells dual-stack as a label (s3.dualstack.<region>, s3-fips.dualstack.<region>) and has no
// FIPS endpoint in aws-cn; in aws-us-gov the FIPS endpoints of SQS, STS, DynamoDB and the SSO portal
// are the plain host names, and those of SNS and CloudTrail in us-gov-east-1 and us-gov-west-1
// (cloudtrail.us-gov-west-1.amazonaws.com; FIPS with dual-stack stays cloudtrail-fips.<region>.
// <dual-stack suffix>). STS is always
// regional (the SDKs' sts_regional_endpoints = regional; never the global sts.amazonaws.com).
// A variant a partition does not offer is an error, never an invented host.
//
// Endpoint URLs that replace those hosts come from the configuration and the SDKs' variables.
// Precedence, first non-empty wins (the configuration file beats the environment, as for the
// region):
//   1. [aws] <service>_endpoint_url      (sqs_endpoint_url, s3_endpoint_url, sts_endpoint_url,
//                                          cloudtrail_endpoint_url)
//   2. [aws] endpoint_url
//   3. AWS_ENDPOINT_URL_<SERVICE>         (SQS, S3, STS, SNS, SSO, DYNAMODB, CLOUDTRAIL: the SDKs'
//                                          rule, the service id
//                                          upper-cased with spaces as underscores)
//   4. AWS_ENDPOINT_URL
//   5. the AWS host above.
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true (or [aws] ignore_configured_endpoint_urls = true)
// ignores 1-4, like the SDKs ignore their environment and config-file endpoint settings.
// use_fips / use_dualstack are [aws] use_fips_endpoint / use_dualstack_endpoint, or
// AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT = true; combined with an endpoint URL they
// are an error (as in the SDKs: the URL names the host).
//
// Pure functions of their arguments (the environment is passed in); thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "agent/aws/credentials.h"

namespace trailwarden::aws {

// kSso is the IAM Identity Center portal (portal.sso.<region>..., sso profiles); kCloudTrail is
// CloudTrail's API (ListPublicKeys for digest validation, agent/sources/cloudtrail_client.h).
enum class AwsService { kSqs, kS3, kSts, kSns, kSso, kDynamodb, kCloudTrail };

// "sqs", "s3", "sts", "sns", "sso", "dynamodb", "cloudtrail": the SDKs' service id, lower-case
// (the variables' suffix).
std::string_view service_name(AwsService service);
// The variable of the service's endpoint URL: "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3", ...
std::string service_endpoint_variable(AwsService service);

struct EndpointVariant {
  bool fips = false;
  bool dual_stack = false;
};

// The AWS host name of `service` in `region` (a valid region name, names.h). false with
// `error` for an invalid region or a variant the service does not offer in its partition.
bool aws_service_host(AwsService service, std::string_view region, EndpointVariant variant,
                      std::string& host, std::string& error);

// Where a GetObject for `bucket` goes at AWS: virtual-hosted "<bucket>.<s3 host>" when the
// name can be a host label (names.h is_virtual_host_bucket), otherwise path-style "<s3 host>"
// with the bucket as the first path segment (names with dots, capitals or underscores).
struct S3BucketAddress {
  std::string host;
  bool path_style = false;
};
bool s3_bucket_address(std::string_view region, EndpointVariant variant, std::string_view bucket,
                       S3BucketAddress& out, std::string& error);

// What the operator configured in [aws] (agent/config); the environment adds to it.
struct EndpointConfig {
  std::string endpoint_url;  // [aws] endpoint_url: every service
  std::string sqs_endpoint_url;
  std::string s3_endpoint_url;
  std::string sts_endpoint_url;
  std::string cloudtrail_endpoint_url;  // [aws] cloudtrail_endpoint_url
  bool use_fips = false;        // [aws] use_fips_endpoint
  bool use_dual_stack = false;  // [aws] use_dualstack_endpoint
  bool ignore_configured_endpoint_urls = false;
};

// The settings of one service after the environment and the precedence above.
struct EndpointSettings {
  std::string url;     // an endpoint URL replacing the AWS host; "" for the AWS host
  std::string source;  // where `url` came from: "[aws] sqs_endpoint_url", "AWS_ENDPOINT_URL", ...
  EndpointVariant variant;
};

// false with `error` when a boolean variable (AWS_USE_FIPS_ENDPOINT,
// AWS_USE_DUALSTACK_ENDPOINT, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) is neither "true" nor
// "false" (any case; unset or empty is false), naming the variable.
bool endpoint_settings(AwsService service, const EndpointConfig& config, const Environment& env,
                       EndpointSettings& out, std::string& error);

// The endpoint of `service` for `region`: settings.url if set, else "https://" + the AWS host.
// false with `error` (naming the service, the setting and the region) if the URL is malformed
// (http.h parse_endpoint_url) or combines with FIPS or dual-stack, or the AWS host is not
// offered.
bool resolve_endpoint_url(AwsService service, std::string_view region,
                          const EndpointSettings& settings, std::string& url, std::string& error);

// The region an endpoint URL of `service` names in its host, which is the region that must sign
// requests sent there (an endpoint serves one region; AWS refuses a signature scoped to another):
//   every service  <svc>.<region>.<suffix>, <svc>-fips.<region>.<suffix> (the partition's DNS or
//                  dual-stack suffix), and VPC interface endpoints
//                  vpce-<id>[-<az>].<svc>.<region>.vpce.<suffix> with any prefix labels (S3's
//                  bucket., accesspoint., control.)
//   S3             s3.dualstack.<region>.<suffix>, s3-fips.dualstack.<region>.<suffix>
//   SQS            the legacy <region>.queue.<suffix> and queue.amazonaws.com (us-east-1)
//   STS            the global sts.amazonaws.com (us-east-1)
// The region must be a valid region name whose partition has that suffix; the host is compared
// case-insensitively, and without one trailing dot (a fully qualified name). "" for every other
// URL (emulators, private DNS names, malformed URLs).
std::string region_from_endpoint_url(AwsService service, std::string_view url);

// The region an SQS queue URL names in its host: sqs.<region>.<suffix>,
// sqs-fips.<region>.<suffix> (with the partition's DNS or dual-stack suffix), the legacy
// <region>.queue.<suffix> and queue.amazonaws.com (us-east-1), and VPC endpoint names
// (*.sqs.<region>.vpce.<suffix>), and LocalStack's sqs.<region>.localhost.localstack.cloud.
// The region must be a valid region name whose partition has that suffix; one trailing dot of
// the host (a fully qualified name) is ignored. "" for every other URL (emulators such as http://127.0.0.1:4566/000000000000/q, malformed or hostile URLs): the
// host names no region.
std::string sqs_region_from_queue_url(std::string_view queue_url);

}  // namespace trailwarden::aws
