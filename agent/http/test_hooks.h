// Test hooks of the HTTP layer: a way for the integration tests to reach AWS's real host names
// (sqs.eu-west-1.amazonaws.com, BUCKET.s3.cn-north-1.amazonaws.com.cn, ...) on a stand-in
// listening on 127.0.0.1, with TLS still verified against those names (tests/integration/peers/
// strict_aws.py).
//
// The agent itself can never arm a hook: CurlHttpClient reads them, and nothing in the agent
// installs them (the same pattern as agent/common/failpoint.h). Only the test executable
// `trailwarden_failpoints` (built with the tests; never installed or packaged) links
// tests/integration/failpoint_hook.cpp, which installs connect_to from the environment variable
// TRAILWARDEN_TEST_CONNECT_TO. In `trailwarden`, the hook is one atomic load of a null pointer,
// and a unit test checks that it stays null.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace trailwarden::http::test_hooks {

// The entries CurlHttpClient passes to CURLOPT_CONNECT_TO, in curl's syntax
// "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" (an empty field matches any host or port / keeps
// the request's), e.g. "::127.0.0.1:8443": every request goes to 127.0.0.1:8443, while the URL,
// the Host header, SNI and certificate verification keep the request's own host name. The list
// must live as long as the process.
using ConnectTo = const std::vector<std::string>* (*)();

inline std::atomic<ConnectTo> connect_to{nullptr};

// Test builds only (see above).
inline void install_connect_to(ConnectTo hook) {
  connect_to.store(hook, std::memory_order_release);
}

}  // namespace trailwarden::http::test_hooks
