// Where `run` sends its AWS requests and which region signs them, from [aws], [source.sqs]
// queue_url and the environment (agent/aws/endpoints.h has the host and precedence rules).
//
// The agent's region is [aws] region, AWS_REGION, AWS_DEFAULT_REGION, else the region the queue
// URL names; it is S3's first guess for a bucket (redirects correct it) and STS's region.
// SQS is signed with the region its queue URL names (sqs.<region>.amazonaws.com[.cn], the
// FIPS and dual-stack forms, the legacy <region>.queue.amazonaws.com and queue.amazonaws.com)
// and sent to the queue URL's host, or to that region's FIPS / dual-stack host when asked for;
// a configured region that differs is reported in `warnings` (EKS sets AWS_REGION to the
// cluster's region). Only an SQS endpoint URL override, or a queue URL naming no region (an
// emulator), makes the agent's region sign SQS.
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
