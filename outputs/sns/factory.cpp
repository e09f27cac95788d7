// The SNS output's constructor for the factory table (outputs/factory.cpp): its configuration
// (sns_config.h), an HTTP client, the agent's AWS credentials, the sink (sns_output.h).
#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

#include "agent/http/curl_http_client.h"
#include "outputs/factory.h"
#include "outputs/sns/sns_config.h"
#include "outputs/sns/sns_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_sns_output(const OutputSettings& s, const OutputEnv& env) {
  SnsOptions options = parse_sns_config(s, env.aws_endpoints, aws::process_environment());
  if (env.validate_only) return nullptr;
  if (!env.aws_credentials)
    throw std::runtime_error(fmt::format("{}: sns output '{}' needs AWS credentials", s.origin, s.name));
  http::CurlHttpOptions http;
  http.ca_file = env.aws_ca_file;
  http.max_response_bytes = size_t{1} << 20;
  http.connect_timeout = std::min(http.connect_timeout, options.timeout);
  return std::make_unique<SnsOutput>(s.name, std::move(options),
                                     std::make_shared<http::CurlHttpClient>(std::move(http)),
                                     env.aws_credentials);
}

}  // namespace trailwarden
