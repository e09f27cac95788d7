// The Splunk HEC output's constructor for the factory table (outputs/factory.cpp): its
// configuration (splunk_hec_config.h), an HTTP client for it, the sink (splunk_hec_output.h).
#include <algorithm>

#include "agent/http/curl_http_client.h"
#include "outputs/factory.h"
#include "outputs/splunk_hec/splunk_hec_config.h"
#include "outputs/splunk_hec/splunk_hec_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_splunk_hec_output(const OutputSettings& s, const OutputEnv& env) {
  if (env.validate_only) {
    OutputEnv no_state = env;
    no_state.state_dir.clear();  // do not create the channel file
    parse_splunk_hec_config(s, no_state);
    return nullptr;
  }
  SplunkHecConfig config = parse_splunk_hec_config(s, env);
  SplunkHecOptions& options = config.options;
  http::CurlHttpOptions http;
  http.ca_file = config.ca_file;
  http.max_response_bytes = size_t{1} << 20;  // HEC answers are a few bytes
  http.connect_timeout = std::min(http.connect_timeout, options.timeout);
  return std::make_unique<SplunkHecOutput>(s.name, std::move(options),
                                           std::make_shared<http::CurlHttpClient>(std::move(http)));
}

}  // namespace trailwarden
