// Where `run` sends its AWS requests and which region signs them, from [aws], [source.sqs]
// queue_url and the environment (agent/aws/endpoints.h has the host and precedence rules).
//
// The agent's region is [aws] region, AWS_REGION, AWS_DEFAULT_REGION, else the region the queue
// URL names; it is S3's first guess for a bucket (redirects correct it) and STS's region.
// SQS is signed with the region its queue URL names (sqs.<region>.amazonaws.com[.cn], the
// FIPS and dual-stack forms, the legacy <region>.queue.amazonaws.com and queue.amazonaws.com)
// and sent to the queue URL's host, or to that region's FIPS / dual-stack host when asked for;
// a configured region that differs is reported in `warnings` (EKS sets AWS_REGION to the
// cluster's region).
//
// An endpoint URL (a VPC interface endpoint, say) serves one region: the region its host names
// (aws::region_from_endpoint_url: vpce-<id>.<svc>.<region>.vpce.amazonaws.com and every AWS host
// form of the service) signs that service's requests. So an SQS endpoint URL signs with its own
// region, else the queue URL's, else the agent's (an emulator); an S3 or STS endpoint URL with
// its own region, else the agent's. A configured region that differs from the one an endpoint
// names, or an SQS endpoint in another region than the queue, is reported in `warnings` (once
// per service).
#pragma once

#include <string>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/config/config.h"

namespace trailwarden::cli {

struct AwsEndpoints {
  std::string region;         // the agent's region ("" when nothing names one)
  std::string region_source;  // "[aws] region", "AWS_REGION", "AWS_DEFAULT_REGION", "the queue URL"
  std::string sqs_region;     // signs SQS
  std::string s3_region;      // signs S3 until a redirect names the bucket's region
  std::string sts_region;     // signs STS (AssumeRole, AssumeRoleWithWebIdentity)
  std::string sqs_endpoint_url;       // where SQS requests go; "" for the queue URL's own host
  aws::EndpointSettings s3;           // S3: an endpoint URL or the AWS host variant
  std::vector<std::string> warnings;  // for start-up (logged once) and check-config
};

// [aws] as the endpoint helper takes it.
aws::EndpointConfig endpoint_config(const Config& c);

// False with `error` (naming the setting) when no region can be found, a region is not a
// region name, an endpoint setting is malformed, or the variant asked for is not offered.
bool plan_aws_endpoints(const Config& c, const aws::Environment& env, AwsEndpoints& out,
                        std::string& error);

}  // namespace trailwarden::cli
