// SqsClient error handling against a fake HTTP client: the error code as botocore reads it
// (x-amzn-query-error "Code;Fault" first, SQS being awsQueryCompatible), its classification,
// and clock-skew errors corrected from the response's Date and retried at once.
#include "agent/sources/sqs_client.h"

#include <doctest/doctest.h>

#include "agent/aws/signing_clock.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

constexpr const char* kQueue = "https://sqs.us-east-1.amazonaws.com/111122223333/trail";
constexpr const char* kRoute = "POST https://sqs.us-east-1.amazonaws.com/";

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  SqsClient client() {
    SqsClientOptions o;
    o.queue_url = kQueue;
    o.region = "us-east-1";
    return SqsClient(o, http, std::make_shared<StaticCredentials>());
  }
  RemoteStatus receive() {
    SqsClient sqs = client();
    std::vector<QueueMessage> out;
    return sqs.receive(10, 0s, 30s, out);
  }
};

struct ClockGuard {
  ClockGuard() { aws::SigningClock::global().reset(); }
  ~ClockGuard() { aws::SigningClock::global().reset(); }
};

}  // namespace

TEST_CASE("SQS error codes: x-amzn-query-error is Code;Fault and wins when well formed") {
  auto code = [](std::string body, http::HeaderList headers) {
    return sqs_error_code(response(400, std::move(body), std::move(headers)));
  };
  CHECK(code("{}", {{"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"}}) ==
        "AWS.SimpleQueueService.NonExistentQueue");
  CHECK(code(R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"})", {}) ==
        "QueueDoesNotExist");
  CHECK(code(R"({"__type":"com.amazonaws.sqs#KmsAccessDenied"})",
             {{"x-amzn-query-error", "KMS.AccessDeniedException;Sender"}}) ==
        "KMS.AccessDeniedException");
  // Not "Code;Fault": the body's code stays.
  for (const char* bad : {"NoFault", ";Sender", "A;B;C", ""}) {
    CAPTURE(bad);
    CHECK(code(R"({"__type":"com.amazonaws.sqs#QueueDoesNotExist"})",
               {{"x-amzn-query-error", bad}}) == "QueueDoesNotExist");
  }
  CHECK(code("not json", {{"x-amzn-errortype", "InvalidSignatureException:http://internal"}}) ==
        "InvalidSignatureException");
  std::string message;
  sqs_error_code(response(400, R"({"__type":"x#Y","message":"why\u0007"})"), &message);
  CHECK(message.starts_with("why"));
  CHECK(message.find('\a') == std::string::npos);
}

TEST_CASE("SQS: a missing queue named only by x-amzn-query-error is kNotFound") {
  Fixture f;
  f.http->on(kRoute, [](const http::HttpRequest&) {
    return response(400, "",
                    {{"x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender"}});
  });
  RemoteStatus s = f.receive();
  CHECK(s.code == RemoteStatus::Code::kNotFound);
  CHECK(s.message.find("AWS.SimpleQueueService.NonExistentQueue") != std::string::npos);
  CHECK(s.message.find(";Sender") == std::string::npos);
}

TEST_CASE("SQS: query-compatible KMS codes are classified") {
  Fixture f;
  f.http->on(kRoute, [](const http::HttpRequest&) {
    return response(400, R"({"__type":"com.amazonaws.sqs#KmsAccessDenied"})",
                    {{"x-amzn-query-error", "KMS.AccessDeniedException;Sender"}});
  });
  CHECK(f.receive().code == RemoteStatus::Code::kAccessDenied);
  f.http->on(kRoute, [](const http::HttpRequest&) {
    return response(400, R"({"__type":"com.amazonaws.sqs#KmsThrottled"})",
                    {{"x-amzn-query-error", "KMS.ThrottlingException;Sender"}});
  });
  CHECK(f.receive().code == RemoteStatus::Code::kRetry);
}

TEST_CASE("SQS: a signature expired by clock skew is signed again with AWS's time, at once") {
  ClockGuard guard;
  aws::test::LogCapture logs;
  Fixture f;
  const auto aws_now =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) - 10min;
  f.http->on(kRoute, [&](const http::HttpRequest& req) {
    aws::TimePoint t{};
    aws::parse_iso8601(*req.find_header("x-amz-date"), t);
    if (t - aws_now > 5min)  // the host's clock is 10 minutes fast
      return response(400,
                      R"({"__type":"com.amazon.coral.service#InvalidSignatureException",)"
                      R"("message":"Signature expired: 20261203T130000Z is now earlier than ..."})",
                      {{"date", aws::format_http_date(aws_now)}});
    return response(200, "{}");
  });
  RemoteStatus s = f.receive();
  CHECK_MESSAGE(s.ok(), s.message);
  REQUIRE(f.http->calls.size() == 2);
  CHECK(aws::SigningClock::global().offset() < -9min);
  CHECK(logs.text().find("s ahead of AWS; signing with AWS's time; fix NTP") != std::string::npos);
}

TEST_CASE("SQS: refused for the time again after a flip of the shared clock is kRetry") {
  ClockGuard guard;
  Fixture f;
  const auto aws_now =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) - 10min;
  // AWS's Date: 10 min behind the host. Between SQS's correction and its retry, another client
  // moves the process-wide clock back (as a peer with another Date did before the fix).
  f.http->on(kRoute, [&](const http::HttpRequest&) {
    const bool retry = aws::SigningClock::global().offset() != 0ms;
    if (retry) aws::SigningClock::global().reset();  // the flip, before the retry is judged
    return response(400,
                    R"({"__type":"com.amazon.coral.service#InvalidSignatureException",)"
                    R"("message":"Signature expired: 20261203T130000Z is now earlier than ..."})",
                    {{"date", aws::format_http_date(aws_now)}});
  });
  RemoteStatus s = f.receive();
  CHECK(s.code == RemoteStatus::Code::kRetry);  // not kFatal: the daemon keeps running
  CHECK(f.http->calls.size() == 2);
  CHECK(s.message.find("InvalidSignatureException") != std::string::npos);
}

TEST_CASE("SQS: a real signature error is not retried") {
  ClockGuard guard;
  Fixture f;
  f.http->on(kRoute, [](const http::HttpRequest&) {
    return response(403, R"({"__type":"com.amazon.coral.service#SignatureDoesNotMatch"})",
                    {{"date", aws::format_http_date(std::chrono::system_clock::now())}});
  });
  CHECK(f.receive().code == RemoteStatus::Code::kAccessDenied);
  CHECK(f.http->calls.size() == 1);
}

TEST_CASE("SQS: a receive cancelled before it starts sends nothing and is kRetry") {
  Fixture f;
  f.http->on(kRoute, 200, "{}");
  SqsClient sqs = f.client();
  std::atomic<bool> cancel{true};  // SIGTERM came first
  std::vector<QueueMessage> out;
  RemoteStatus s = sqs.receive(10, 20s, 30s, out, &cancel);
  CHECK(s.code == RemoteStatus::Code::kRetry);
  CHECK(s.message == "SQS ReceiveMessage: cancelled");  // as curl's abandoned transfer says
  CHECK(f.http->calls.empty());
  cancel = false;
  CHECK(sqs.receive(10, 20s, 30s, out, &cancel).ok());
  REQUIRE(f.http->calls.size() == 1);
  CHECK(f.http->calls[0].request.cancel == &cancel);  // a long poll in flight is abandoned
  CHECK(f.http->calls[0].timeout == 25s);             // the wait plus request_timeout
}
