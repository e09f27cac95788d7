// The signing clock: HTTP dates, the SDKs' clock-skew codes, the threshold and the bound of a
// correction, and STS AssumeRole signing again with AWS's time after RequestExpired.
#include "agent/aws/signing_clock.h"

#include <doctest/doctest.h>

#include "agent/aws/sts.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace std::chrono_literals;
using test::response;
using test::utc;

namespace {

// Every test leaves the process-wide clock as it found it (the system clock).
struct ClockGuard {
  ClockGuard() { SigningClock::global().reset(); }
  ~ClockGuard() { SigningClock::global().reset(); }
};

}  // namespace

TEST_CASE("a peer's date beyond what the clock can hold is refused, never converted") {
  // 64-bit nanoseconds end in 2262: converting "4052" overflowed (found by aws_input_fuzz).
  TimePoint t;
  CHECK_FALSE(parse_http_date("Thu, 03 Dec 4052 14:45:00 GMT", t));
  CHECK_FALSE(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", t));
  CHECK_FALSE(parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT", t));
  CHECK_FALSE(parse_iso8601("9999-12-31T23:59:59Z", t));
  CHECK_FALSE(parse_iso8601("0001-01-01T00:00:00Z", t));
  REQUIRE(parse_iso8601("2199-12-31T23:59:59Z", t));
  REQUIRE(parse_http_date("Tue, 31 Dec 2199 23:59:59 GMT", t));
}

TEST_CASE("HTTP dates (RFC 7231 IMF-fixdate) are parsed strictly") {
  TimePoint t;
  REQUIRE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t));
  CHECK(t == utc(1994, 11, 6, 8, 49, 37));
  REQUIRE(parse_http_date("Thu, 03 Dec 2026 12:43:52 GMT", t));
  CHECK(t == utc(2026, 12, 3, 12, 43, 52));
  CHECK(format_http_date(utc(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(utc(2026, 12, 3, 12, 43, 52)) == "Thu, 03 Dec 2026 12:43:52 GMT");
  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
                          "Sun Nov  6 08:49:37 1994", "Sun, 31 Feb 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Xyz 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMT ", "1994-11-06T08:49:37Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_http_date(bad, t));
  }
}

TEST_CASE("the SDKs' clock-skew error codes") {
  for (const char* c : {"RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture",
                        "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"})
    CHECK(is_clock_skew_error(c));
  for (const char* c : {"", "AccessDenied", "ExpiredToken", "InvalidClientTokenId"})
    CHECK_FALSE(is_clock_skew_error(c));
}

TEST_CASE("the signing clock moves only for a material difference, and never beyond its bound") {
  ClockGuard guard;
  SigningClock clock;
  const TimePoint now = utc(2026, 12, 3, 12, 0, 0);
  CHECK_FALSE(clock.correct(now + 3min, now));  // within the threshold: left alone
  CHECK(clock.offset() == 0ms);
  CHECK(clock.correct(now + 1h, now));  // the system clock is an hour behind
  CHECK(clock.offset() == 1h);
  const auto skewed = clock.now() - std::chrono::system_clock::now();
  CHECK(skewed > 59min);
  CHECK(skewed < 61min);
  CHECK_FALSE(clock.correct(now + 1h + 30s, now));  // already right
  CHECK(clock.correct(now - 10min, now));           // ahead of AWS now
  CHECK(clock.offset() == -10min);
  CHECK_FALSE(clock.correct(now + 25h, now));  // beyond kMaxOffset: refused
  CHECK(clock.offset() == -10min);
  CHECK(clock.correct(now, now));  // NTP fixed the clock: back to no offset
  CHECK(clock.offset() == 0ms);
}

TEST_CASE("a skew error with the server's time corrects the global clock and is logged once") {
  ClockGuard guard;
  test::LogCapture logs;
  const TimePoint system_now = std::chrono::system_clock::now();
  const auto aws_time = std::chrono::floor<std::chrono::seconds>(system_now) + 2h;
  HttpResponse r = response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>");
  // No server time anywhere: nothing to correct with.
  CHECK_FALSE(correct_clock_from(r, "RequestTimeTooSkewed", "S3", system_now, true));
  // S3's <ServerTime> when there is no Date header.
  r.body = "<Error><Code>RequestTimeTooSkewed</Code><ServerTime>" + format_iso8601(aws_time) +
           "</ServerTime></Error>";
  CHECK_FALSE(correct_clock_from(r, "AccessDenied", "S3", system_now, true));  // not a skew code
  CHECK(correct_clock_from(r, "RequestTimeTooSkewed", "S3", system_now, true));
  CHECK(SigningClock::global().offset() > 119min);
  // Another request signed before the correction, refused the same way: retried too, with no
  // second correction.
  CHECK(correct_clock_from(r, "RequestTimeTooSkewed", "S3", system_now, true));
  // A request signed with the corrected clock and still refused: not a matter of time.
  CHECK_FALSE(
      correct_clock_from(r, "RequestTimeTooSkewed", "S3", SigningClock::global().now(), true));
  const std::string text = logs.text();
  CHECK(text.find("system clock is 7") != std::string::npos);
  CHECK(text.find("s behind AWS; signing with AWS's time; fix NTP") != std::string::npos);
  CHECK(text.find("fix NTP") == text.rfind("fix NTP"));  // once per change
}

TEST_CASE("a server time beyond the bound is not signed with, and the request not retried") {
  ClockGuard guard;
  test::LogCapture logs;
  const TimePoint system_now = std::chrono::system_clock::now();
  HttpResponse r = response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>",
                            {{"date", format_http_date(system_now + 48h)}});
  CHECK_FALSE(correct_clock_from(r, "RequestTimeTooSkewed", "S3", system_now, true));
  CHECK(SigningClock::global().offset() == 0ms);
  CHECK(logs.text().find("Fix the system clock") != std::string::npos);
}

TEST_CASE("STS AssumeRole signs again with AWS's time after RequestExpired") {
  ClockGuard guard;
  test::LogCapture logs;
  test::FakeHttp http;
  StsEndpoint endpoint;
  std::string error;
  REQUIRE(make_sts_endpoint("us-east-1", "", endpoint, error));
  const TimePoint system_now =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  const TimePoint aws_now = system_now + 20min;  // the host's clock is 20 minutes slow
  std::vector<TimePoint> signed_at;
  http.on("POST https://sts.us-east-1.amazonaws.com/", [&](const HttpRequest& req) {
    TimePoint t;
    REQUIRE(parse_iso8601(*req.find_header("x-amz-date"), t));
    signed_at.push_back(t);
    if (aws_now - t > 5min)
      return response(400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>RequestExpired</Code>"
                      "<Message>Request has expired.</Message></Error></ErrorResponse>",
                      {{"date", format_http_date(aws_now)}});
    return response(200,
                    "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1"
                    "</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t"
                    "</SessionToken><Expiration>2099-12-03T13:20:00Z</Expiration></Credentials>"
                    "</AssumeRoleResult></AssumeRoleResponse>");
  });
  Credentials source;
  source.access_key_id = "AKIDEXAMPLE";
  source.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  AssumeRoleParams params;
  params.role_arn = "arn:aws:iam::111122223333:role/trail";
  params.role_session_name = "trailwarden";
  Credentials out;
  REQUIRE_MESSAGE(sts_assume_role(http, endpoint, source, params, system_now, 5s, out, error),
                  error);
  CHECK(out.access_key_id == "ASIA1");
  REQUIRE(signed_at.size() == 2);
  CHECK(signed_at[0] == system_now);
  CHECK(aws_now - signed_at[1] < 3s);
  // A second call signs with the corrected clock straight away.
  REQUIRE(sts_assume_role(http, endpoint, source, params, system_now, 5s, out, error));
  REQUIRE(signed_at.size() == 3);
  CHECK(aws_now - signed_at[2] < 3s);
}

TEST_CASE("only AWS's own hosts teach the signing clock") {
  ClockGuard guard;
  auto req = [](std::string scheme, std::string host) {
    HttpRequest r;
    r.scheme = std::move(scheme);
    r.host = std::move(host);
    return r;
  };
  CHECK(is_aws_host(AwsService::kSqs, req("https", "sqs.eu-west-1.amazonaws.com")));
  CHECK(is_aws_host(AwsService::kSqs,
                    req("https", "vpce-0123-abcd.sqs.eu-west-1.vpce.amazonaws.com")));
  CHECK(is_aws_host(AwsService::kS3, req("https", "s3.eu-west-1.amazonaws.com")));
  CHECK(is_aws_host(AwsService::kS3, req("https", "my.trail.bucket.s3.eu-west-1.amazonaws.com")));
  CHECK(is_aws_host(AwsService::kSts, req("https", "sts.amazonaws.com")));
  CHECK_FALSE(is_aws_host(AwsService::kS3, req("http", "s3.eu-west-1.amazonaws.com")));
  CHECK_FALSE(is_aws_host(AwsService::kS3, req("https", "minio.internal:9000")));
  CHECK_FALSE(is_aws_host(AwsService::kS3, req("https", "127.0.0.1:9000")));
  CHECK_FALSE(is_aws_host(AwsService::kSqs, req("https", "s3.eu-west-1.amazonaws.com")));

  // A gateway's Date never moves the clock, whatever it says.
  const TimePoint system_now = std::chrono::system_clock::now();
  HttpResponse r = response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>",
                            {{"date", format_http_date(system_now + 2h)}});
  CHECK_FALSE(correct_clock_from(r, "RequestTimeTooSkewed", "S3", system_now, false));
  CHECK(SigningClock::global().offset() == 0ms);
}

TEST_CASE("the offset changing back and forth is said at WARN at most once per 10 minutes") {
  ClockGuard guard;
  test::LogCapture logs;
  SigningClock clock;
  const TimePoint t0 = std::chrono::system_clock::now();
  CHECK(clock.correct(t0 + 20min, t0));
  CHECK(clock.correct(t0 + 1s, t0 + 1s));
  CHECK(clock.correct(t0 + 22min, t0 + 2s));
  CHECK(clock.correct(t0 + 3s, t0 + 3s));
  const std::string text = logs.text();
  size_t warns = 0;
  for (size_t at = text.find("[warning]"); at != std::string::npos;
       at = text.find("[warning]", at + 1))
    ++warns;
  CHECK(warns == 1);
  CHECK(text.find("agrees with AWS again") != std::string::npos);  // at INFO, not lost
  // Ten minutes later: WARN again.
  CHECK(clock.correct(t0 + 10min + 20min, t0 + 10min));
  const std::string later = logs.text();
  size_t warns_later = 0;
  for (size_t at = later.find("[warning]"); at != std::string::npos;
       at = later.find("[warning]", at + 1))
    ++warns_later;
  CHECK(warns_later == 2);
}
