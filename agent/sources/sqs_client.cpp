#include "agent/sources/sqs_client.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <fmt/format.h>
#include <stdexcept>

#include "agent/aws/signing_clock.h"
#include "agent/common/json_writer.h"
#include "agent/http/classify.h"

namespace trailwarden {

namespace {

// "com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist"
std::string_view short_error_code(std::string_view type) {
  size_t hash = type.rfind('#');
  if (hash != std::string_view::npos) type = type.substr(hash + 1);
  size_t colon = type.find(':');
  if (colon != std::string_view::npos) type = type.substr(0, colon);
  return type;
}

std::string json_request(const std::string& queue_url,
                         const std::function<void(JsonWriter&)>& fields) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("QueueUrl", std::string_view(queue_url));
  fields(w);
  w.end_object();
  return body;
}

}  // namespace

RemoteStatus::Code classify_aws_error(int status, std::string_view code) {
  using Code = RemoteStatus::Code;
  if (http::classify_status(status).retryable) return Code::kRetry;
  static constexpr std::string_view kThrottling[] = {
      "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
      "RequestThrottledException", "TooManyRequestsException", "SlowDown", "RequestLimitExceeded",
      "ServiceUnavailable", "InternalError", "InternalFailure", "RequestTimeout",
      "RequestTimeoutException", "KmsThrottled", "PriorRequestNotComplete"};
  for (auto t : kThrottling)
    if (code == t) return Code::kRetry;
  if (code == "KMS.ThrottlingException") return Code::kRetry;  // KmsThrottled's query code
  if (code == "QueueDoesNotExist" || code == "AWS.SimpleQueueService.NonExistentQueue" ||
      code == "NoSuchKey" || code == "NoSuchBucket" || status == 404)
    return Code::kNotFound;
  if (code == "AccessDenied" || code == "AccessDeniedException" || code == "InvalidClientTokenId" ||
      code == "UnrecognizedClientException" || code == "SignatureDoesNotMatch" ||
      code == "InvalidAccessKeyId" || code == "ExpiredToken" || code == "ExpiredTokenException" ||
      code == "KmsAccessDenied" || code == "KMS.AccessDeniedException" ||
      code == "KMS.DisabledException" || code == "KmsDisabled" ||
      code == "KMS.NotFoundException" || code == "KmsNotFound" || status == 401 || status == 403)
    return Code::kAccessDenied;
  return Code::kFatal;
}

SqsClient::SqsClient(SqsClientOptions options, std::shared_ptr<http::HttpClient> http,
                     std::shared_ptr<aws::CredentialsSource> credentials)
    : options_(std::move(options)), http_(std::move(http)), credentials_(std::move(credentials)) {
  std::string error;
  const std::string& url = options_.endpoint_url.empty() ? options_.queue_url : options_.endpoint_url;
  if (!http::parse_endpoint_url(url, endpoint_, error))
    throw std::runtime_error(fmt::format("source.sqs: bad URL {}: {}", url, error));
  endpoint_.path = "/";  // the JSON protocol posts to the endpoint's root
  if (options_.region.empty()) throw std::runtime_error("source.sqs: no AWS region configured");
  call_options_ =
      aws::signed_call_options(aws::AwsService::kSqs, "SQS", options_.region, &sqs_error_code);
}

std::string sqs_error_code(const http::HttpResponse& r, std::string* message) {
  // {"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"..."}, and for the query-era
  // codes x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender
  std::string code;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(r.body).get(e) == simdjson::SUCCESS && e.is_object()) {
    std::string_view t;
    if (e["__type"].get_string().get(t) == simdjson::SUCCESS ||
        e["code"].get_string().get(t) == simdjson::SUCCESS)
      code = short_error_code(t);
    std::string_view m;
    if (message && (e["message"].get_string().get(m) == simdjson::SUCCESS ||
                    e["Message"].get_string().get(m) == simdjson::SUCCESS))
      *message = http::printable_excerpt(m);
  }
  if (code.empty())
    if (const std::string* t = r.find_header("x-amzn-errortype")) code = short_error_code(*t);
  // SQS is awsQueryCompatible: as botocore does, the query code wins when the header is
  // exactly "Code;Fault" with a code.
  if (const std::string* q = r.find_header("x-amzn-query-error")) {
    const size_t semi = q->find(';');
    if (semi != std::string::npos && semi > 0 && q->find(';', semi + 1) == std::string::npos)
      code = q->substr(0, semi);
  }
  return http::printable_excerpt(code, 128);
}

RemoteStatus SqsClient::call(std::string_view action, const std::string& body,
                             std::chrono::milliseconds timeout, std::string& response,
                             const std::atomic<bool>* cancel) {
  http::HttpRequest req = endpoint_;
  req.method = "POST";
  req.body = body;
  req.cancel = cancel;
  req.set_header("Content-Type", "application/x-amz-json-1.0");
  req.set_header("X-Amz-Target", fmt::format("AmazonSQS.{}", action));
  // Nothing is retried here (SqsSource backs off and polls again): the call refreshes an
  // expired token and corrects the signing clock, once each.
  aws::SignedCallResult r = aws::signed_call(*http_, *credentials_, req, timeout, call_options_);
  using Outcome = aws::SignedCallResult::Outcome;
  switch (r.outcome) {
    case Outcome::kOk:
      response = std::move(r.response.body);
      return {};
    case Outcome::kNoCredentials:
      return {RemoteStatus::Code::kRetry, fmt::format("no AWS credentials: {}", r.error)};
    case Outcome::kNoAnswer:
      return {RemoteStatus::Code::kRetry, fmt::format("SQS {}: {}", action, r.error)};
    case Outcome::kCancelled:
    case Outcome::kDeadline:  // no deadline is set
      return {RemoteStatus::Code::kRetry, fmt::format("SQS {}: cancelled", action)};
    case Outcome::kRefused:
      break;
  }
  // Refused for the time again after the one correction (another request moved the signing
  // clock in between): the next attempt signs with the clock as it is then.
  if (r.clock_corrected && aws::is_clock_skew_error(r.code))
    return {RemoteStatus::Code::kRetry,
            fmt::format("SQS {}: HTTP {} {} again after correcting the signing clock; retrying",
                        action, r.response.status, r.code)};
  return {classify_aws_error(r.response.status, r.code),
          fmt::format("SQS {} failed: HTTP {} {}{}{}", action, r.response.status, r.code,
                      r.message.empty() ? "" : ": ", r.message)};
}

RemoteStatus SqsClient::receive(size_t max, std::chrono::seconds wait,
                                std::chrono::seconds visibility, std::vector<QueueMessage>& out,
                                const std::atomic<bool>* cancel) {
  std::string body = json_request(options_.queue_url, [&](JsonWriter& w) {
    w.field("MaxNumberOfMessages", static_cast<int64_t>(std::clamp<size_t>(max, 1, 10)));
    w.field("WaitTimeSeconds", static_cast<int64_t>(wait.count()));
    w.field("VisibilityTimeout", static_cast<int64_t>(visibility.count()));
    w.key("AttributeNames").begin_array().value("ApproximateReceiveCount").value("SentTimestamp").end_array();
    w.key("MessageSystemAttributeNames")
        .begin_array()
        .value("ApproximateReceiveCount")
        .value("SentTimestamp")
        .end_array();
  });
  std::string response;
  RemoteStatus s = call("ReceiveMessage", body,
                        std::chrono::duration_cast<std::chrono::milliseconds>(wait) +
                            options_.request_timeout,
                        response, cancel);
  if (!s.ok()) return s;
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (p.parse(response).get(root) != simdjson::SUCCESS || !root.is_object())
    return {RemoteStatus::Code::kRetry,
            fmt::format("SQS ReceiveMessage: response is not JSON: {}", http::printable_excerpt(response))};
  simdjson::dom::array messages;
  if (root["Messages"].get_array().get(messages) != simdjson::SUCCESS) return {};  // none
  for (simdjson::dom::element m : messages) {
    QueueMessage q;
    std::string_view id, receipt, msg_body;
    if (m["MessageId"].get_string().get(id) || m["ReceiptHandle"].get_string().get(receipt) ||
        m["Body"].get_string().get(msg_body))
      continue;  // cannot be acknowledged anyway; it will come back and be reported then
    q.id = std::string(id);
    q.receipt_handle = std::string(receipt);
    q.body = std::string(msg_body);
    std::string_view count, sent;
    if (m["Attributes"]["ApproximateReceiveCount"].get_string().get(count) == simdjson::SUCCESS)
      std::from_chars(count.data(), count.data() + count.size(), q.receive_count);
    if (m["Attributes"]["SentTimestamp"].get_string().get(sent) == simdjson::SUCCESS)
      std::from_chars(sent.data(), sent.data() + sent.size(), q.sent_ms);
    out.push_back(std::move(q));
  }
  return {};
}

namespace {

// Parses a *Batch response: the ids in "Failed" (and any not in "Successful").
void failed_entries(std::string_view response, const std::vector<std::string>& receipts,
                    std::vector<std::string>& failed) {
  std::vector<bool> ok(receipts.size(), false);
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (p.parse(response).get(root) == simdjson::SUCCESS) {
    simdjson::dom::array succeeded;
    if (root["Successful"].get_array().get(succeeded) == simdjson::SUCCESS) {
      for (simdjson::dom::element s : succeeded) {
        std::string_view id;
        size_t index = 0;
        if (s["Id"].get_string().get(id) == simdjson::SUCCESS) {
          auto r = std::from_chars(id.data(), id.data() + id.size(), index);
          if (r.ec == std::errc() && index < ok.size()) ok[index] = true;
        }
      }
    }
  }
  for (size_t i = 0; i < receipts.size(); ++i)
    if (!ok[i]) failed.push_back(receipts[i]);
}

// {"QueueUrl":...,"Entries":[{"Id":"0","ReceiptHandle":...[,"VisibilityTimeout":N]},...]}
std::string batch_request(const std::string& queue_url, const std::vector<std::string>& receipts,
                          std::optional<int64_t> visibility) {
  return json_request(queue_url, [&](JsonWriter& w) {
    w.key("Entries").begin_array();
    for (size_t i = 0; i < receipts.size(); ++i) {
      w.begin_object();
      w.field("Id", std::string_view(std::to_string(i)));
      w.field("ReceiptHandle", std::string_view(receipts[i]));
      if (visibility) w.field("VisibilityTimeout", *visibility);
      w.end_object();
    }
    w.end_array();
  });
}

}  // namespace

RemoteStatus SqsClient::delete_messages(const std::vector<std::string>& receipts,
                                        std::vector<std::string>& failed) {
  if (receipts.empty()) return {};
  std::string body = batch_request(options_.queue_url, receipts, std::nullopt);
  std::string response;
  RemoteStatus s = call("DeleteMessageBatch", body, options_.request_timeout, response);
  if (!s.ok()) return s;
  failed_entries(response, receipts, failed);
  return {};
}

RemoteStatus SqsClient::extend_visibility(const std::vector<std::string>& receipts,
                                          std::chrono::seconds visibility) {
  if (receipts.empty()) return {};
  std::string body =
      batch_request(options_.queue_url, receipts, static_cast<int64_t>(visibility.count()));
  std::string response;
  RemoteStatus s = call("ChangeMessageVisibilityBatch", body, options_.request_timeout, response);
  if (!s.ok()) return s;
  std::vector<std::string> failed;
  failed_entries(response, receipts, failed);
  if (!failed.empty())
    return {RemoteStatus::Code::kFatal,
            fmt::format("ChangeMessageVisibilityBatch: {} of {} entries failed", failed.size(),
                        receipts.size())};
  return {};
}

}  // namespace trailwarden
