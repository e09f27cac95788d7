// SqsClient: the MessageQueue of an SQS queue, over the AWS JSON protocol
// (X-Amz-Target: AmazonSQS.<Action>), signed with SigV4 and sent by aws::signed_call
// (agent/aws/signed_call.h; no retry with backoff there: SqsSource polls again). Errors are
// classified for the daemon:
// throttling, 5xx and network errors are kRetry; a missing queue is kNotFound; rejected
// credentials or permissions are kAccessDenied (an expired token is refreshed and retried once;
// a clock-skew error corrects aws::SigningClock and is retried at once).
// Thread-safe if the HttpClient and CredentialsSource are.
#pragma once

#include <memory>
#include <string>

#include "agent/aws/credentials.h"
#include "agent/aws/signed_call.h"
#include "agent/http/http.h"
#include "agent/sources/queue.h"

namespace trailwarden {

struct SqsClientOptions {
  std::string queue_url;     // https://sqs.<region>.amazonaws.com/<account>/<name>
  std::string region;        // signing region: the queue URL's (agent/cli/aws_endpoints.h)
  std::string endpoint_url;  // optional: where requests go (overrides, FIPS / dual-stack hosts);
                             // "": the queue URL's host
  std::chrono::milliseconds request_timeout{5000};  // added to the long-poll wait
};

class SqsClient : public MessageQueue {
 public:
  // Throws std::runtime_error if the queue URL or endpoint is malformed.
  SqsClient(SqsClientOptions options, std::shared_ptr<http::HttpClient> http,
            std::shared_ptr<aws::CredentialsSource> credentials);

  RemoteStatus receive(size_t max, std::chrono::seconds wait, std::chrono::seconds visibility,
                       std::vector<QueueMessage>& out,
                       const std::atomic<bool>* cancel = nullptr) override;
  RemoteStatus delete_messages(const std::vector<std::string>& receipts,
                               std::vector<std::string>& failed) override;
  RemoteStatus extend_visibility(const std::vector<std::string>& receipts,
                                 std::chrono::seconds visibility) override;

 private:
  // Sends one action; on success `response` holds the JSON body.
  RemoteStatus call(std::string_view action, const std::string& body,
                    std::chrono::milliseconds timeout, std::string& response,
                    const std::atomic<bool>* cancel = nullptr);

  SqsClientOptions options_;
  http::HttpRequest endpoint_;  // scheme, host and base path of the endpoint
  std::shared_ptr<http::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
  aws::SignedCallOptions call_options_;  // SQS's signing and error reading (aws/signed_call.h)
};

// The error code of an SQS JSON-protocol error response, as botocore reads it: the body's
// "__type" (or "code") shortened ("com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist"),
// else the x-amzn-errortype header; replaced by the query-compatible code of an
// x-amzn-query-error header "Code;Fault" ("AWS.SimpleQueueService.NonExistentQueue;Sender" ->
// "AWS.SimpleQueueService.NonExistentQueue") when it has exactly that form. `message`, if given,
// receives the body's message (printable). Exposed for tests.
std::string sqs_error_code(const http::HttpResponse& response, std::string* message = nullptr);

// Classifies an AWS error response (HTTP status + error code) for retry decisions: first the
// HTTP rule every client shares (http::classify_status: no answer, 408, 429, 5xx are retried),
// then AWS's error codes (throttling, missing queue or key, denied). Exposed for tests and the
// S3 client.
RemoteStatus::Code classify_aws_error(int http_status, std::string_view code);

}  // namespace trailwarden
