// Whether a failed HTTP exchange is worth trying again, and why: the one rule every HTTP
// caller follows (S3 and SQS through classify_aws_error, the Splunk HEC output directly).
// AWS error codes (throttling, expired tokens ...) are the AWS layer's business on top of it.
//
// Retryable: no response at all (connection refused, TLS, timeout, cancelled: `error` set,
// status 0), no final response (1xx), 408 Request Timeout, 429 Too Many Requests and every
// 5xx. Everything else is not: the peer answered and retrying the same request gets the same
// answer. Callers ask only about failures; a 2xx is "not retryable" like any other answer.
// Pure functions, thread-safe.
#pragma once

#include <string_view>

#include "agent/http/http.h"

namespace trailwarden::http {

struct Retryability {
  bool retryable = false;
  std::string_view reason;  // "no response", "request timeout", "throttled", "server error" ...
};

Retryability classify_status(int status);
// classify_status(), or "no response" when `response.error` is set.
Retryability classify(const HttpResponse& response);

}  // namespace trailwarden::http
