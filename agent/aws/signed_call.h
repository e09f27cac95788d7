// signed_call: the one loop that sends a SigV4-signed request to an AWS service and reads the
// answer, shared by the SQS client (agent/sources/sqs_client), the DynamoDB client
// (agent/store/dynamodb_client) and the SNS output (outputs/sns/sns_output). What differs
// between services (how an error answer names its code, which codes mean an expired token,
// which failures are worth another try) comes in SignedCallOptions; the loop is the same.
//
// One call, attempt by attempt:
//   1. stop with kCancelled when *request.cancel is true (nothing more is sent), or with the
//      last failure when options.deadline has passed (kDeadline if nothing was sent yet);
//   2. credentials from the CredentialsSource (get() failing: kNoCredentials, never retried
//      here: the provider chain has its own retry interval);
//   3. a copy of `request` signed (sigv4.h) with the signing clock's time (signing_clock.h)
//      and sent with HttpClient::perform, the timeout capped by what is left of the deadline;
//   4. a 2xx: kOk, the answer in `response`;
//      no answer (transport error, status 0): kNoAnswer with the error;
//      an error answer: its code and message read by options.read_error, then
//        - an expired-token code (options.expired_token), the first time in the call:
//          CredentialsSource::invalidate() and sent again at once;
//        - a clock-skew refusal from one of AWS's own hosts (correct_clock_from), the first
//          time in the call: the signing clock is corrected and the request signed again and
//          sent at once;
//        - else kRefused with status, code and message;
//   5. a kNoAnswer or kRefused failure that options.retryable accepts is tried again after a
//      jittered exponential backoff (common/backoff.h: backoff_base * 2^n capped at
//      backoff_max), up to options.max_attempts such failures; then `exhausted` is set and the
//      last failure returned. With max_attempts 1 (the default) nothing is retried here: the
//      caller's own retry (SQS polling, the delivery pipeline) decides.
// The loop is bounded: each pass returns, counts a retryable failure, or uses the one token
// refresh or the one clock correction.
//
// The result never holds a credential: only the service's answer, AWS's code and message
// (printable excerpts, as read_error made them) and the transport error. signed_call logs
// nothing itself; correct_clock_from logs its WARN when it moves the clock (naming
// options.service). Which service, action, queue, table or topic failed is for the caller's
// message.
//
// Thread-safety: signed_call is reentrant; it is as thread-safe as the HttpClient and the
// CredentialsSource it is given (the signing clock is process-wide and atomic). The options'
// callbacks are called on the calling thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/http/http.h"

namespace trailwarden::aws {

// The code (and, into `message` when given, AWS's message) of an error answer.
using ErrorReader = std::function<std::string(const HttpResponse& response, std::string* message)>;

// "ExpiredToken" or "ExpiredTokenException": the codes AWS's JSON and query protocols use for
// an expired session token (the default of SignedCallOptions::expired_token).
bool is_expired_token_code(std::string_view code);

struct SignedCallOptions {
  std::string service;          // "SQS", "DynamoDB", "SNS": names the caller in log lines
  AwsService endpoint_service;  // whose hosts may correct the signing clock (is_aws_host)
  std::string signing_name;     // SigV4 service name: "sqs", "dynamodb", "sns"
  std::string region;           // SigV4 signing region
  ErrorReader read_error;       // required
  // Codes that make the call refresh its credentials (once per call).
  std::function<bool(std::string_view code)> expired_token = is_expired_token_code;
  // Whether a failure is tried again: `status` 0 with an empty code for no answer. Empty:
  // nothing is retried.
  std::function<bool(int status, std::string_view code)> retryable;
  // Retryable failures per call (>= 1; 1: none is retried), and the backoff between them.
  int max_attempts = 1;
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_max{2000};
  // How the loop waits between tries. Empty: the real clock, ending early once
  // *request.cancel is true. Tests record the pauses (and move their clock).
  std::function<void(std::chrono::milliseconds)> sleep;
  // Optional: no attempt starts after it and no backoff sleeps past it; each request's
  // timeout is capped by the time left. `now` reads the clock it is on (empty: steady_clock).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::function<std::chrono::steady_clock::time_point()> now;
};

// Options for `service` in `region`: signed as aws::service_name(service) ("sqs", "dynamodb",
// "sns"), named `display_name` ("SQS") in log lines, errors read by `read_error`; the rest as
// declared above (nothing retried).
SignedCallOptions signed_call_options(AwsService service, std::string display_name,
                                      std::string region, ErrorReader read_error);

struct SignedCallResult {
  enum class Outcome {
    kOk,             // 2xx: `response` holds the answer
    kNoCredentials,  // CredentialsSource::get failed: `error` says why
    kNoAnswer,       // no HTTP answer: `error` is the transport's (timeout, refused ...)
    kRefused,        // an error answer: `response.status`, `code`, `message`
    kCancelled,      // *request.cancel became true before an attempt
    kDeadline,       // the deadline had passed before the first request
  };
  Outcome outcome = Outcome::kOk;
  HttpResponse response;  // the last answer (status 0 when none)
  std::string code;       // kRefused: AWS's error code ("" when the answer named none)
  std::string message;    // kRefused: AWS's message, printable ("" when none)
  std::string error;      // kNoCredentials, kNoAnswer
  bool token_refreshed = false;  // the credentials were refreshed once in this call
  bool clock_corrected = false;  // the signing clock was corrected once in this call
  bool exhausted = false;  // stopped retrying: max_attempts retryable failures, or the deadline
  int requests = 0;        // HTTP requests sent (for the caller's request metrics)
  int failures = 0;        // retryable failures (options.retryable) among them

  bool ok() const { return outcome == Outcome::kOk; }
  // Requests beyond the first (refreshes, clock corrections, backoff retries).
  int retries() const { return requests > 1 ? requests - 1 : 0; }
};

// Sends `request` (unsigned: method, scheme, host, path, query, headers, body and cancel set
// by the caller; every attempt signs a fresh copy) as described above. `timeout` is per request.
SignedCallResult signed_call(HttpClient& http, CredentialsSource& credentials,
                             const HttpRequest& request, std::chrono::milliseconds timeout,
                             const SignedCallOptions& options);

// Waits `d`, in slices, returning early once *cancel is true (cancel may be null).
void pause_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>* cancel);

}  // namespace trailwarden::aws
