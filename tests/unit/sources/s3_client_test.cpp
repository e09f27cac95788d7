// S3Client request building and region handling against a fake HTTP client: a message never
// decides where signed requests go.
#include "agent/sources/s3_client.h"

#include <doctest/doctest.h>

#include "agent/aws/signing_clock.h"
#include "agent/sources/notification.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  S3ClientOptions options;
  Fixture() { options.region = "us-east-1"; }
  S3Client client() { return S3Client(options, http, std::make_shared<StaticCredentials>()); }
};

std::string s3_event(const std::string& bucket, const std::string& key, const std::string& region) {
  return R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":")" + region +
         R"(","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":")" + bucket +
         R"("},"object":{"key":")" + key + R"(","size":1}}}]})";
}

std::string eventbridge_object_created(const std::string& bucket, const std::string& region) {
  return R"({"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2021-11-12T00:00:00Z","region":")" +
         region + R"(","resources":[],"detail":{"bucket":{"name":")" + bucket +
         R"("},"object":{"key":"AWSLogs/a.json.gz","size":5}}})";
}

}  // namespace

TEST_CASE("S3 requests: a hostile region in the notification never reaches the host name") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz", 200, "{}");
  S3Client s3 = f.client();
  for (const std::string& body :
       {s3_event("trail", "AWSLogs/a.json.gz", "us-east-1.amazonaws.com.evil"),
        s3_event("trail", "AWSLogs/a.json.gz", "eu-west-1"),
        eventbridge_object_created("trail", "us-east-1.amazonaws.com.evil.amazonaws.com#")}) {
    CAPTURE(body);
    Notification n = parse_notification(body);
    REQUIRE(n.kind == Notification::Kind::kObjects);
    Buffer out;
    RemoteStatus s = s3.get(n.objects[0], 1024, out);
    CHECK(s.ok());
  }
  REQUIRE(f.http->calls.size() == 3);
  for (const auto& c : f.http->calls) {
    CHECK(c.request.host == "trail.s3.us-east-1.amazonaws.com");
    const std::string* auth = c.request.find_header("authorization");
    REQUIRE(auth);
    CHECK(auth->find("/us-east-1/s3/aws4_request") != std::string::npos);
  }
}

TEST_CASE("S3 requests: hosts follow the configured region's partition") {
  Fixture f;
  ObjectRef o;
  o.bucket = "trail";
  o.key = "AWSLogs/a b.json.gz";
  http::HttpRequest req;
  std::string error;
  S3Client s3 = f.client();
  REQUIRE(s3.build_request(o, "cn-north-1", req, error));
  CHECK(req.host == "trail.s3.cn-north-1.amazonaws.com.cn");
  CHECK(req.path == "/AWSLogs/a%20b.json.gz");
  REQUIRE(s3.build_request(o, "us-gov-west-1", req, error));
  CHECK(req.host == "trail.s3.us-gov-west-1.amazonaws.com");
  // Names that cannot be a DNS label are addressed path-style.
  o.bucket = "my.trail.bucket";
  REQUIRE(s3.build_request(o, "us-east-1", req, error));
  CHECK(req.host == "s3.us-east-1.amazonaws.com");
  CHECK(req.path == "/my.trail.bucket/AWSLogs/a%20b.json.gz");
  o.bucket = "Legacy_Bucket";
  REQUIRE(s3.build_request(o, "us-east-1", req, error));
  CHECK(req.host == "s3.us-east-1.amazonaws.com");
  CHECK(req.path.starts_with("/Legacy_Bucket/"));
  // A region that is not a region name never becomes a host.
  o.bucket = "trail";
  CHECK_FALSE(s3.build_request(o, "us-east-1.evil.com", req, error));
  CHECK(error.find("not an AWS region name") != std::string::npos);
}

TEST_CASE("S3 requests: FIPS and dual-stack hosts, in the redirected region too") {
  Fixture f;
  f.options.variant = {true, true};
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  http::HttpRequest req;
  std::string error;
  REQUIRE(s3.build_request(o, "us-east-1", req, error));
  CHECK(req.host == "trail.s3-fips.dualstack.us-east-1.amazonaws.com");
  REQUIRE(s3.build_request(o, "us-gov-west-1", req, error));
  CHECK(req.host == "trail.s3-fips.dualstack.us-gov-west-1.amazonaws.com");
  o.bucket = "Trail_Logs";
  REQUIRE(s3.build_request(o, "eu-west-1", req, error));
  CHECK(req.host == "s3-fips.dualstack.eu-west-1.amazonaws.com");
  CHECK(req.path == "/Trail_Logs/k");
  // S3 offers no FIPS endpoint in China: refused, never an invented host.
  o.bucket = "trail";
  CHECK_FALSE(s3.build_request(o, "cn-north-1", req, error));
  CHECK(error.find("aws-cn") != std::string::npos);
  f.options.region = "cn-north-1";
  CHECK_THROWS_WITH_AS(f.client(), doctest::Contains("no FIPS endpoint"), std::runtime_error);
  f.options.variant = {false, true};
  S3Client cn = f.client();
  REQUIRE(cn.build_request(o, "cn-north-1", req, error));
  CHECK(req.host == "trail.s3.dualstack.cn-north-1.amazonaws.com.cn");
  // An endpoint URL names the host: a variant with it is a configuration error.
  f.options.endpoint_url = "http://127.0.0.1:4566";
  CHECK_THROWS_AS(f.client(), std::runtime_error);
}

TEST_CASE("S3 requests: invalid bucket names are refused before any request") {
  Fixture f;
  S3Client s3 = f.client();
  for (const std::string& b : std::vector<std::string>{"evil.com/x", "a@b", "x?y", "a..b", "..", "b#", "192.168.0.1",
                              std::string("ab\0c", 4), "trail.s3.amazonaws.com:8080"}) {
    CAPTURE(b);
    ObjectRef o;
    o.bucket = b;
    o.key = "k";
    http::HttpRequest req;
    std::string error;
    CHECK_FALSE(s3.build_request(o, "us-east-1", req, error));
    CHECK(error.find("not a valid S3 bucket name") != std::string::npos);
    Buffer out;
    RemoteStatus s = s3.get(o, 1024, out);
    CHECK(s.code == RemoteStatus::Code::kFatal);
  }
  CHECK(f.http->calls.empty());
}

TEST_CASE("S3 requests: the configured region must be a region name") {
  Fixture f;
  f.options.region = "us-east-1.evil.com";
  CHECK_THROWS_WITH_AS(f.client(), doctest::Contains("not a region name"), std::runtime_error);
  f.options.endpoint_url = "http://127.0.0.1:4566";  // an emulator signs with what it is given
  CHECK_NOTHROW(f.client());
}

TEST_CASE("S3 redirects: followed once to S3's own region, remembered per bucket") {
  Fixture f;
  int redirects = 0;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
    ++redirects;
    return response(301, "<Error><Code>PermanentRedirect</Code></Error>",
                    {{"x-amz-bucket-region", "eu-west-1"}});
  });
  f.http->on("GET https://trail.s3.eu-west-1.amazonaws.com/k", 200, "data");
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  for (int i = 0; i < 3; ++i) {
    Buffer out;
    REQUIRE(s3.get(o, 1024, out).ok());
    CHECK(out.view() == "data");
  }
  CHECK(redirects == 1);  // later objects go straight to the bucket's region
  CHECK(s3.region_for("trail") == "eu-west-1");
  CHECK(s3.region_for("other") == "us-east-1");
  const std::string* auth = f.http->calls.back().request.find_header("authorization");
  REQUIRE(auth);
  CHECK(auth->find("/eu-west-1/s3/aws4_request") != std::string::npos);
}

TEST_CASE("S3 redirects: a malformed or foreign-partition region is not followed") {
  for (const char* hint : {"eu-west-1.evil.com", "cn-north-1", "us-gov-west-1"}) {
    CAPTURE(hint);
    Fixture f;
    f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
      return response(301, "<Error><Code>PermanentRedirect</Code></Error>",
                      {{"x-amz-bucket-region", hint}});
    });
    S3Client s3 = f.client();
    ObjectRef o;
    o.bucket = "trail";
    o.key = "k";
    Buffer out;
    RemoteStatus s = s3.get(o, 1024, out);
    CHECK(s.code == RemoteStatus::Code::kFatal);
    CHECK(s.message.find("not followed") != std::string::npos);
    CHECK(f.http->calls.size() == 1);
    CHECK(s3.region_for("trail") == "us-east-1");
  }
}

TEST_CASE("S3 redirects: the region cache is bounded") {
  Fixture f;
  f.options.region_cache_size = 2;
  for (const char* b : {"b-one", "b-two", "b-three"}) {
    f.http->on(std::string("GET https://") + b + ".s3.us-east-1.amazonaws.com/k",
               [](const http::HttpRequest&) {
                 return response(301, "", {{"x-amz-bucket-region", "eu-west-1"}});
               });
    f.http->on(std::string("GET https://") + b + ".s3.eu-west-1.amazonaws.com/k", 200, "x");
  }
  S3Client s3 = f.client();
  for (const char* b : {"b-one", "b-two", "b-three"}) {
    ObjectRef o;
    o.bucket = b;
    o.key = "k";
    Buffer out;
    REQUIRE(s3.get(o, 1024, out).ok());
  }
  CHECK(s3.region_for("b-one") == "us-east-1");  // evicted, oldest first
  CHECK(s3.region_for("b-two") == "eu-west-1");
  CHECK(s3.region_for("b-three") == "eu-west-1");
}

TEST_CASE("S3 redirects: AuthorizationHeaderMalformed names the region in its body") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", 400,
             "<Error><Code>AuthorizationHeaderMalformed</Code><Region>us-west-2</Region></Error>");
  f.http->on("GET https://trail.s3.us-west-2.amazonaws.com/k", 200, "data");
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  REQUIRE(s3.get(o, 1024, out).ok());
  CHECK(s3.region_for("trail") == "us-west-2");
}

TEST_CASE("S3 redirects: a bucket in an opt-in region answers IllegalLocationConstraintException") {
  for (const char* hint : {"af-south-1", "ap-east-1", "me-central-1", "il-central-1"}) {
    CAPTURE(hint);
    Fixture f;
    f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
      return response(400,
                      "<Error><Code>IllegalLocationConstraintException</Code><Message>The " +
                          std::string(hint) +
                          " location constraint is incompatible for the region specific "
                          "endpoint this request was sent to.</Message></Error>",
                      {{"x-amz-bucket-region", hint}});
    });
    f.http->on(std::string("GET https://trail.s3.") + hint + ".amazonaws.com/k", 200, "data");
    S3Client s3 = f.client();
    ObjectRef o;
    o.bucket = "trail";
    o.key = "k";
    Buffer out;
    RemoteStatus s = s3.get(o, 1024, out);
    REQUIRE_MESSAGE(s.ok(), s.message);
    CHECK(out.view() == "data");
    CHECK(s3.region_for("trail") == hint);
    const std::string* auth = f.http->calls.back().request.find_header("authorization");
    REQUIRE(auth);
    CHECK(auth->find(std::string("/") + hint + "/s3/aws4_request") != std::string::npos);
  }
}

TEST_CASE("S3 redirects: IllegalLocationConstraintException gets the same partition checks") {
  for (const char* hint : {"cn-northwest-1", "us-gov-east-1", "af-south-1.evil.com"}) {
    CAPTURE(hint);
    Fixture f;
    f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
      return response(400, "<Error><Code>IllegalLocationConstraintException</Code></Error>",
                      {{"x-amz-bucket-region", hint}});
    });
    S3Client s3 = f.client();
    ObjectRef o;
    o.bucket = "trail";
    o.key = "k";
    Buffer out;
    RemoteStatus s = s3.get(o, 1024, out);
    CHECK(s.code == RemoteStatus::Code::kFatal);
    CHECK(s.message.find("not followed") != std::string::npos);
    CHECK(f.http->calls.size() == 1);
  }
}

// ---- Clock skew: S3 says RequestTimeTooSkewed with its Date; the request is signed again ----

namespace {

struct ClockGuard {
  ClockGuard() { aws::SigningClock::global().reset(); }
  ~ClockGuard() { aws::SigningClock::global().reset(); }
};

aws::TimePoint amz_date_of(const http::HttpRequest& req) {
  aws::TimePoint t{};
  const std::string* d = req.find_header("x-amz-date");
  if (d) aws::parse_iso8601(*d, t);
  return t;
}

}  // namespace

TEST_CASE("S3: RequestTimeTooSkewed corrects the signing clock from Date and retries at once") {
  using namespace std::chrono_literals;
  ClockGuard guard;
  aws::test::LogCapture logs;
  Fixture f;
  const auto aws_now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) +
                       40min;  // the host's clock is 40 minutes slow
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz",
             [&](const http::HttpRequest& req) {
               if (aws_now - amz_date_of(req) > 15min)
                 return response(403,
                                 "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference "
                                 "between the request time and the current time is too "
                                 "large.</Message></Error>",
                                 {{"date", aws::format_http_date(aws_now)}});
               return response(200, "{}");
             });
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "AWSLogs/a.json.gz";
  Buffer out;
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK_MESSAGE(s.ok(), s.message);
  REQUIRE(f.http->calls.size() == 2);
  CHECK(aws_now - amz_date_of(f.http->calls[1].request) < 3s);
  CHECK(aws::SigningClock::global().offset() > 39min);
  CHECK(logs.text().find("s behind AWS; signing with AWS's time; fix NTP") != std::string::npos);
  // The next object is signed right the first time.
  CHECK(s3.get(o, 1024, out).ok());
  CHECK(f.http->calls.size() == 3);
}

TEST_CASE("S3: a skew error whose time is not materially different is an error, not a loop") {
  ClockGuard guard;
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
    return response(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>",
                    {{"date", aws::format_http_date(std::chrono::system_clock::now())}});
  });
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK(s.code == RemoteStatus::Code::kAccessDenied);
  CHECK(f.http->calls.size() == 1);
  CHECK(aws::SigningClock::global().offset().count() == 0);
}

TEST_CASE("S3: a gateway's own Date behind endpoint_url never moves the signing clock") {
  using namespace std::chrono_literals;
  ClockGuard guard;
  Fixture f;
  f.options.endpoint_url = "http://127.0.0.1:9000";  // an S3-compatible gateway, its clock 1 h on
  f.http->on("GET http://127.0.0.1:9000/trail/k", [](const http::HttpRequest&) {
    return response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>",
                    {{"date", aws::format_http_date(std::chrono::system_clock::now() + 1h)}});
  });
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK_FALSE(s.ok());
  CHECK(f.http->calls.size() == 1);
  CHECK(aws::SigningClock::global().offset() == 0ms);
}

TEST_CASE("S3: still refused for the time after the one correction is kRetry, never fatal") {
  using namespace std::chrono_literals;
  ClockGuard guard;
  Fixture f;
  // AWS's Date says 40 min on; the retry is refused again (another request moved the clock
  // back in between).
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [&](const http::HttpRequest&) {
    aws::SigningClock::global().reset();
    return response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>",
                    {{"date", aws::format_http_date(std::chrono::system_clock::now() + 40min)}});
  });
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK(s.code == RemoteStatus::Code::kRetry);
  CHECK(f.http->calls.size() == 2);
}

// ---- Versioned buckets: GetObject with versionId needs s3:GetObjectVersion ----

namespace {

// A versioned bucket whose policy grants s3:GetObject only: a read naming a version is denied.
void versioned_bucket_without_get_object_version(FakeHttp& http, const std::string& current) {
  http.on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz",
          [current](const http::HttpRequest& req) {
            for (const auto& [name, value] : req.query)
              if (name == "versionId")
                return response(403, "<Error><Code>AccessDenied</Code></Error>");
            return response(200, "{\"Records\":[]}", {{"x-amz-version-id", current}});
          });
}

ObjectRef versioned_object(const std::string& version) {
  ObjectRef o;
  o.bucket = "trail";
  o.key = "AWSLogs/a.json.gz";
  o.version_id = version;
  return o;
}

}  // namespace

TEST_CASE("S3: a denied versioned read is read once more without versionId, warned once a bucket") {
  aws::test::LogCapture logs;
  Fixture f;
  versioned_bucket_without_get_object_version(*f.http, "v1");
  S3Client s3 = f.client();
  Buffer out;
  for (int i = 0; i < 2; ++i) {
    RemoteStatus s = s3.get(versioned_object("v1"), 1024, out);
    CHECK_MESSAGE(s.ok(), s.message);
  }
  REQUIRE(f.http->calls.size() == 4);
  CHECK(f.http->calls[0].request.query ==
        http::QueryList{{"versionId", "v1"}});  // the notified version is asked for first
  CHECK(f.http->calls[1].request.query.empty());
  CHECK(s3.stats().version_fallbacks == 2);
  CHECK(s3.stats().version_mismatches == 0);
  const std::string text = logs.text();
  CHECK(text.find("needs s3:GetObjectVersion") != std::string::npos);
  CHECK(text.find("needs s3:GetObjectVersion") == text.rfind("needs s3:GetObjectVersion"));
}

TEST_CASE("S3: an object overwritten since its notification is refused, logged and counted") {
  aws::test::LogCapture logs;
  Fixture f;
  versioned_bucket_without_get_object_version(*f.http, "v2");
  S3Client s3 = f.client();
  Buffer out;
  RemoteStatus s = s3.get(versioned_object("v1"), 1024, out);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(out.size() == 0);
  CHECK(s3.stats().version_mismatches == 1);
  const std::string text = logs.text();
  CHECK(text.find("s3://trail/AWSLogs/a.json.gz: the notification names version v1, but the "
                  "object read without versionId is version v2: overwritten since the "
                  "notification") != std::string::npos);
  CHECK(text.find("grant s3:GetObjectVersion") != std::string::npos);
  CHECK(text.find("[error]") != std::string::npos);
}

TEST_CASE("S3: the unversioned re-read without a version header is refused") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz",
             [](const http::HttpRequest& req) {
               for (const auto& [name, value] : req.query)
                 if (name == "versionId")
                   return response(403, "<Error><Code>AccessDenied</Code></Error>");
               return response(200, "{\"Records\":[]}");
             });
  S3Client s3 = f.client();
  Buffer out;
  RemoteStatus s = s3.get(versioned_object("v1"), 1024, out);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("no x-amz-version-id") != std::string::npos);
  CHECK(s3.stats().version_mismatches == 1);
}

TEST_CASE("S3: the unversioned re-read is If-Match the notified ETag; 412 refuses it") {
  aws::test::LogCapture logs;
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz",
             [](const http::HttpRequest& req) {
               for (const auto& [name, value] : req.query)
                 if (name == "versionId")
                   return response(403, "<Error><Code>AccessDenied</Code></Error>");
               const std::string* m = req.find_header("If-Match");
               if (m && *m != "\"e1\"")
                 return response(412, "<Error><Code>PreconditionFailed</Code></Error>");
               return response(200, "{\"Records\":[]}", {{"x-amz-version-id", "v1"}});
             });
  S3Client s3 = f.client();
  Buffer out;
  ObjectRef o = versioned_object("v1");
  o.etag = "e1";
  CHECK_MESSAGE(s3.get(o, 1024, out).ok(), "the notified ETag matches");
  REQUIRE(f.http->calls.size() == 2);
  CHECK(f.http->calls[0].request.find_header("If-Match") == nullptr);  // versioned: pinned
  REQUIRE(f.http->calls[1].request.find_header("If-Match") != nullptr);
  o.etag = "e0";  // overwritten: S3 has another ETag
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("overwritten since the notification") != std::string::npos);
  CHECK(s3.stats().version_mismatches == 1);
}

TEST_CASE("S3: a read to verify without an ETag checks the notified size") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/b.json.gz", 200,
             "{\"Records\":[]}");
  S3Client s3 = f.client();
  Buffer out;
  ObjectRef o = versioned_object("");
  o.key = "AWSLogs/b.json.gz";
  o.verify_identity = true;
  o.size = 14;
  CHECK(s3.get(o, 1024, out).ok());
  o.size = 15;
  RemoteStatus s = s3.get(o, 1024, out);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("14 bytes were read where the notification says 15") != std::string::npos);
  CHECK(f.http->calls[1].request.find_header("If-Match") == nullptr);
}

TEST_CASE("S3: unversioned reads are not retried on AccessDenied; a denial twice is the error") {
  aws::test::LogCapture logs;
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/a.json.gz", 403,
             "<Error><Code>AccessDenied</Code></Error>");
  S3Client s3 = f.client();
  Buffer out;
  ObjectRef plain = versioned_object("");
  CHECK(s3.get(plain, 1024, out).code == RemoteStatus::Code::kAccessDenied);
  CHECK(f.http->calls.size() == 1);
  RemoteStatus s = s3.get(versioned_object("v1"), 1024, out);
  CHECK(s.code == RemoteStatus::Code::kAccessDenied);
  CHECK(s.message.find("also without versionId") != std::string::npos);
  CHECK(f.http->calls.size() == 3);
  CHECK(s3.stats().version_fallbacks == 0);
  // Not a version permission problem: no advice to grant s3:GetObjectVersion.
  CHECK(logs.text().find("s3:GetObjectVersion") == std::string::npos);
}
