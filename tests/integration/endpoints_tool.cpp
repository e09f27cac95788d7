// endpoints_tool: answers endpoint questions with trailwarden's helper (agent/aws/endpoints.h)
// for test_endpoints_botocore.py. One question per line on stdin, one answer per line on stdout:
//
//   host SERVICE REGION FIPS DUALSTACK     -> "https://<host>" or "ERR <message>"
//   s3 REGION FIPS DUALSTACK BUCKET        -> "https://<host>[/<bucket>]" or "ERR <message>"
//   queue URL                              -> the region the queue URL names, or "-"
//   partitions                             -> "<name> <dns> <dual-stack dns> <fips> <dual>" each
//
// SERVICE is sqs, s3, sts, sns, sso, dynamodb or cloudtrail; FIPS and DUALSTACK are 0 or 1. Exit status: 0, 2 bad input.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "agent/aws/endpoints.h"
#include "agent/aws/names.h"

using namespace trailwarden::aws;

namespace {

bool service_of(const std::string& s, AwsService& out) {
  for (AwsService svc :
       {AwsService::kSqs, AwsService::kS3, AwsService::kSts, AwsService::kSns, AwsService::kSso,
        AwsService::kDynamodb, AwsService::kCloudTrail})
    if (service_name(svc) == s) {
      out = svc;
      return true;
    }
  return false;
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "host" || cmd == "s3") {
      std::string svc_name = cmd == "s3" ? "s3" : "", region, bucket;
      int fips = 0, dual = 0;
      if (cmd == "host") in >> svc_name;
      in >> region >> fips >> dual;
      if (cmd == "s3") in >> bucket;
      AwsService svc{};
      if (!in || !service_of(svc_name, svc)) {
        std::fprintf(stderr, "endpoints_tool: bad line: %s\n", line.c_str());
        return 2;
      }
      const EndpointVariant variant{fips != 0, dual != 0};
      std::string error;
      if (cmd == "host") {
        std::string host;
        if (aws_service_host(svc, region, variant, host, error))
          std::cout << "https://" << host;
        else
          std::cout << "ERR " << error;
      } else {
        S3BucketAddress a;
        if (s3_bucket_address(region, variant, bucket, a, error))
          std::cout << "https://" << a.host << (a.path_style ? "/" + bucket : "");
        else
          std::cout << "ERR " << error;
      }
    } else if (cmd == "queue") {
      std::string url;
      in >> url;
      const std::string region = sqs_region_from_queue_url(url);
      std::cout << (region.empty() ? "-" : region);
    } else if (cmd == "partitions") {
      for (const Partition& p : known_partitions())
        std::cout << p.name << ' ' << p.dns_suffix << ' ' << p.dual_stack_dns_suffix << ' '
                  << p.supports_fips << ' ' << p.supports_dual_stack << '\n';
      std::cout << "end";
    } else {
      std::fprintf(stderr, "endpoints_tool: unknown command: %s\n", line.c_str());
      return 2;
    }
    std::cout << '\n';
  }
  return 0;
}
