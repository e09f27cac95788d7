// http::classify: the one retry rule of every HTTP caller (S3, SQS, Splunk HEC).
#include "agent/http/classify.h"

#include <doctest/doctest.h>

#include "agent/sources/sqs_client.h"

using namespace trailwarden::http;

TEST_CASE("classify: no response, 1xx, 408, 429 and 5xx are retryable, with the reason") {
  HttpResponse r;
  r.error = "Connection refused";
  CHECK(classify(r).retryable);
  CHECK(classify(r).reason == "no response");
  r.error.clear();
  r.status = 0;
  CHECK(classify(r).retryable);
  CHECK(classify_status(100).retryable);
  CHECK(classify_status(408).reason == "request timeout");
  CHECK(classify_status(429).reason == "throttled");
  for (int s : {500, 502, 503, 504, 599}) {
    CAPTURE(s);
    CHECK(classify_status(s).retryable);
    CHECK(classify_status(s).reason == "server error");
  }
}

TEST_CASE("classify: an answer that retrying would only repeat is not retryable") {
  for (int s : {200, 204, 301, 307, 400, 401, 403, 404, 405, 409, 412, 413, 499}) {
    CAPTURE(s);
    CHECK_FALSE(classify_status(s).retryable);
  }
  CHECK(classify_status(403).reason == "refused");
  CHECK(classify_status(301).reason == "redirect");
  HttpResponse r;
  r.status = 503;
  r.connected = true;
  CHECK(classify(r).retryable);
  r.status = 400;
  CHECK_FALSE(classify(r).retryable);
}

TEST_CASE("S3 and SQS start from the same rule: a bare 408 is retried, as Splunk HEC does") {
  using Code = trailwarden::RemoteStatus::Code;
  CHECK(trailwarden::classify_aws_error(408, "") == Code::kRetry);  // kFatal before the one rule
  CHECK(trailwarden::classify_aws_error(429, "") == Code::kRetry);
  CHECK(trailwarden::classify_aws_error(503, "") == Code::kRetry);
  CHECK(trailwarden::classify_aws_error(0, "") == Code::kRetry);
  CHECK(trailwarden::classify_aws_error(400, "ThrottlingException") == Code::kRetry);
  CHECK(trailwarden::classify_aws_error(400, "") == Code::kFatal);
  CHECK(trailwarden::classify_aws_error(404, "") == Code::kNotFound);
  CHECK(trailwarden::classify_aws_error(403, "AccessDenied") == Code::kAccessDenied);
}
