// CloudTrailClient (ListPublicKeys) against a fake HTTP client: the request (JSON 1.1, target,
// body, host and signing region per region asked), the answer checked (base64, fingerprints,
// validity times, fields missing), paging and its bounds, errors classified.
#include "agent/sources/cloudtrail_client.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "agent/cli/aws_endpoints.h"
#include "agent/config/config.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

// base64("\x30\x82\x01\x0a" "key-N"): a stand-in for DER bytes.
std::string key_json(const std::string& value, const std::string& fingerprint,
                     const std::string& from = "1700000000", const std::string& until = "1702592000") {
  return R"({"Value":")" + value + R"(","ValidityStartTime":)" + from +
         R"(,"ValidityEndTime":)" + until + R"(,"Fingerprint":")" + fingerprint + R"("})";
}

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  CloudTrailClientOptions options;
  Fixture() {
    options.sleep = [](std::chrono::milliseconds) {};
  }
  CloudTrailClient client() {
    return CloudTrailClient(options, http, std::make_shared<StaticCredentials>());
  }
};


}  // namespace

TEST_CASE("ListPublicKeys: the request is JSON 1.1 to the region's host, signed for it") {
  Fixture f;
  f.http->on("POST https://cloudtrail.eu-west-1.amazonaws.com/", 200,
             R"({"PublicKeyList":[)" + key_json("MIIBCg==", "8eba5db5bc5a") + "]}");
  CloudTrailClient ct = f.client();
  std::vector<TrailPublicKey> keys;
  RemoteStatus s = ct.list_public_keys("eu-west-1", 1700000000, 1700003600, keys);
  REQUIRE(s.ok());
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].der == std::string("\x30\x82\x01\x0a", 4));
  CHECK(keys[0].fingerprint == "8eba5db5bc5a");
  CHECK(keys[0].valid_from == 1700000000);
  CHECK(keys[0].valid_until == 1702592000);
  REQUIRE(f.http->calls.size() == 1);
  const http::HttpRequest& r = f.http->calls[0].request;
  CHECK(r.method == "POST");
  CHECK(*r.find_header("content-type") == "application/x-amz-json-1.1");
  CHECK(*r.find_header("x-amz-target") ==
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys");
  CHECK(r.body == R"({"StartTime":1700000000,"EndTime":1700003600})");
  const std::string* auth = r.find_header("authorization");
  REQUIRE(auth);
  CHECK(auth->find("/eu-west-1/cloudtrail/aws4_request") != std::string::npos);

  // Another region: its own host, its own scope; China's partition suffix.
  f.http->on("POST https://cloudtrail.cn-north-1.amazonaws.com.cn/", 200, R"({"PublicKeyList":[]})");
  REQUIRE(ct.list_public_keys("cn-north-1", 1, 2, keys).ok());
  CHECK(keys.empty());
  CHECK(f.http->calls.back().request.find_header("authorization")->find(
            "/cn-north-1/cloudtrail/aws4_request") != std::string::npos);
}

TEST_CASE("ListPublicKeys: FIPS hosts; an endpoint URL serves every region, signed for each") {
  Fixture f;
  f.options.endpoint.variant.fips = true;
  f.http->on("POST https://cloudtrail-fips.us-east-2.amazonaws.com/", 200, "{}");
  f.http->on("POST https://cloudtrail.us-gov-west-1.amazonaws.com/", 200, "{}");
  f.http->on("POST https://cloudtrail-fips.cn-north-1.amazonaws.com.cn/", 200, "{}");
  std::vector<TrailPublicKey> keys;
  {
    CloudTrailClient ct = f.client();
    CHECK(ct.list_public_keys("us-east-2", 1, 2, keys).ok());
    // GovCloud's west region: its regional host is the FIPS endpoint.
    CHECK(ct.list_public_keys("us-gov-west-1", 1, 2, keys).ok());
    CHECK(ct.list_public_keys("cn-north-1", 1, 2, keys).ok());
    CHECK(f.http->calls.size() == 3);
  }
  f.options.endpoint = {};
  f.options.endpoint.url = "http://127.0.0.1:4566";
  f.options.endpoint.source = "[aws] cloudtrail_endpoint_url";
  f.http->on("POST http://127.0.0.1:4566/", 200, "{}");
  CloudTrailClient ct = f.client();
  for (const std::string region : {"us-east-1", "ap-southeast-2"}) {
    REQUIRE(ct.list_public_keys(region, 1, 2, keys).ok());
    CHECK(f.http->calls.back().request.find_header("authorization")->find(
              "/" + region + "/cloudtrail/aws4_request") != std::string::npos);
  }
  // A hostile region never reaches a host name or a scope.
  RemoteStatus s = ct.list_public_keys("us-east-1/../x", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("not an AWS region name") != std::string::npos);
}

TEST_CASE("ListPublicKeys: an endpoint URL naming a region refuses other regions") {
  Fixture f;
  f.options.endpoint.url = "https://vpce-0abc.cloudtrail.eu-west-1.vpce.amazonaws.com";
  f.options.endpoint.source = "[aws] cloudtrail_endpoint_url";
  f.http->on("POST https://vpce-0abc.cloudtrail.eu-west-1.vpce.amazonaws.com/", 200, "{}");
  CloudTrailClient ct = f.client();
  std::vector<TrailPublicKey> keys;
  CHECK(ct.list_public_keys("eu-west-1", 1, 2, keys).ok());
  RemoteStatus s = ct.list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("serves region eu-west-1 only") != std::string::npos);
  CHECK(f.http->calls.size() == 1);
  // Malformed or combined with a variant: the constructor says so.
  f.options.endpoint.url = "ftp://x";
  CHECK_THROWS(f.client());
  f.options.endpoint.url = "https://ct.example";
  f.options.endpoint.variant.dual_stack = true;
  CHECK_THROWS(f.client());
}

TEST_CASE("ListPublicKeys: every page is read, NextToken sent back") {
  Fixture f;
  int page = 0;
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", [&](const http::HttpRequest& r) {
    ++page;
    if (page == 1) {
      CHECK(r.body.find("NextToken") == std::string::npos);
      return response(200, R"({"PublicKeyList":[)" + key_json("YQ==", "aa") + R"(],"NextToken":"p2"})");
    }
    CHECK(r.body == R"({"StartTime":10,"EndTime":20,"NextToken":"p2"})");
    return response(200, R"({"PublicKeyList":[)" + key_json("Yg==", "bb") + "]}");
  });
  CloudTrailClient ct = f.client();
  std::vector<TrailPublicKey> keys;
  REQUIRE(ct.list_public_keys("us-east-1", 10, 20, keys).ok());
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].der == "a");
  CHECK(keys[1].der == "b");
}

TEST_CASE("ListPublicKeys: paging is bounded; a repeated token is refused") {
  Fixture f;
  int n = 0;
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", [&](const http::HttpRequest&) {
    ++n;
    return response(200, R"({"PublicKeyList":[],"NextToken":"t)" + std::to_string(n) + R"("})");
  });
  f.options.max_pages = 5;
  std::vector<TrailPublicKey> keys;
  RemoteStatus s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("more than 5 pages") != std::string::npos);
  CHECK(n == 5);

  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 200,
             R"({"PublicKeyList":[],"NextToken":"same"})");
  s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("NextToken repeats") != std::string::npos);

  // Too many keys over all pages.
  std::string list;
  for (int i = 0; i < 4; ++i) list += (i ? "," : "") + key_json("YQ==", "aa");
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 200,
             R"({"PublicKeyList":[)" + list + "]}");
  f.options.max_keys = 3;
  s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("more than 3 keys") != std::string::npos);
  CHECK(keys.empty());
}

TEST_CASE("ListPublicKeys parsing: malformed keys are refused, naming the key") {
  struct Case {
    std::string body;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"[]", "not a JSON object"},
      {"not json", "not a JSON object"},
      {R"({"PublicKeyList":{}})", "not an array"},
      {R"({"PublicKeyList":[1]})", "PublicKeyList[0]: not an object"},
      {R"({"PublicKeyList":[{"ValidityStartTime":1,"ValidityEndTime":2,"Fingerprint":"aa"}]})",
       "no Value"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "aa") + "," + key_json("Y Q==", "aa") + "]}",
       "PublicKeyList[1]: Value is not base64"},
      {R"({"PublicKeyList":[)" + key_json("YQ", "aa") + "]}", "not base64"},
      {R"({"PublicKeyList":[)" + key_json("YQ=a", "aa") + "]}", "not base64"},
      {R"({"PublicKeyList":[)" + key_json("Y-_a", "aa") + "]}", "not base64"},
      {R"({"PublicKeyList":[)" + key_json("YR==", "aa") + "]}", "not base64"},  // non-canonical
      {R"({"PublicKeyList":[)" + key_json("", "aa") + "]}", "not base64"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "") + "]}", "no Fingerprint"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "zz") + "]}", "Fingerprint is not hex"},
      {R"({"PublicKeyList":[{"Value":"YQ==","ValidityEndTime":2,"Fingerprint":"aa"}]})",
       "no ValidityStartTime"},
      {R"({"PublicKeyList":[{"Value":"YQ==","ValidityStartTime":1,"Fingerprint":"aa"}]})",
       "no ValidityEndTime"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "aa", "\"1\"") + "]}", "no ValidityStartTime"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "aa", "1e300") + "]}", "no ValidityStartTime"},
      {R"({"PublicKeyList":[)" + key_json("YQ==", "aa", "20", "10") + "]}", "is before"},
      {R"({"PublicKeyList":[],"NextToken":5})", "NextToken is not a string"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    std::vector<TrailPublicKey> keys;
    std::string next, error;
    CHECK_FALSE(parse_list_public_keys(c.body, keys, next, error));
    CHECK(error.find(c.why) != std::string::npos);
  }
  // Oversized Value.
  std::vector<TrailPublicKey> keys;
  std::string next, error;
  CHECK_FALSE(parse_list_public_keys(
      R"({"PublicKeyList":[)" + key_json(std::string(30000, 'A'), "aa") + "]}", keys, next, error));
  CHECK(error.find("over 16384 bytes") != std::string::npos);
}

TEST_CASE("ListPublicKeys parsing: fractional times rounded inwards, empty answers") {
  std::vector<TrailPublicKey> keys;
  std::string next, error;
  REQUIRE(parse_list_public_keys(
      R"({"PublicKeyList":[)" + key_json("MIIBCgKCAQEA", "8EBA5DB5", "1.4394e9", "1442030400.5") +
          R"(],"NextToken":null})",
      keys, next, error));
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].valid_from == 1439400000);
  CHECK(keys[0].valid_until == 1442030400);
  CHECK(keys[0].fingerprint == "8EBA5DB5");
  CHECK(keys[0].der.size() == 9);
  CHECK(next.empty());
  keys.clear();
  REQUIRE(parse_list_public_keys("{}", keys, next, error));
  CHECK(keys.empty());
  REQUIRE(parse_list_public_keys(R"({"PublicKeyList":[]})", keys, next, error));
  CHECK(keys.empty());
  REQUIRE(parse_list_public_keys(R"({"PublicKeyList":[],"NextToken":"abc"})", keys, next, error));
  CHECK(next == "abc");
  // A fraction rounded up past the end (same second) is still a valid range.
  keys.clear();
  REQUIRE(parse_list_public_keys(
      R"({"PublicKeyList":[)" + key_json("YQ==", "aa", "10.5", "11") + "]}", keys, next, error));
  CHECK(keys[0].valid_from == 11);
}

TEST_CASE("ListPublicKeys: errors are classified and name the permission") {
  Fixture f;
  std::vector<TrailPublicKey> keys;
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 400,
             R"({"__type":"AccessDeniedException","message":"User: x is not authorized"})");
  RemoteStatus s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kAccessDenied);
  CHECK(s.message.find("cloudtrail:ListPublicKeys") != std::string::npos);
  CHECK(s.message.find("User: x is not authorized") != std::string::npos);
  CHECK(f.http->calls.size() == 1);

  // Throttling is retried with backoff, then kRetry.
  f.http->calls.clear();
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 400,
             R"({"__type":"com.amazonaws.cloudtrail#ThrottlingException","message":"slow"})");
  f.options.max_attempts = 3;
  s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kRetry);
  CHECK(f.http->calls.size() == 3);
  CHECK(s.message.find("gave up after 3 tries") != std::string::npos);

  // A throttled first page, then the answer.
  int n = 0;
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", [&](const http::HttpRequest&) {
    return ++n == 1 ? response(503, "") : response(200, R"({"PublicKeyList":[]})");
  });
  CHECK(f.client().list_public_keys("us-east-1", 1, 2, keys).ok());
  CHECK(n == 2);

  // Other refusals are not retried.
  f.http->calls.clear();
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 400,
             R"({"__type":"InvalidTimeRangeException","message":"bad"})");
  s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(f.http->calls.size() == 1);
  // An answer that is not the documented shape.
  f.http->on("POST https://cloudtrail.us-east-1.amazonaws.com/", 200, R"({"PublicKeyList":"x"})");
  s = f.client().list_public_keys("us-east-1", 1, 2, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("CloudTrail ListPublicKeys in us-east-1") != std::string::npos);
  // A range that ends before it starts is refused before anything is sent.
  f.http->calls.clear();
  s = f.client().list_public_keys("us-east-1", 5, 4, keys);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(f.http->calls.empty());
}

TEST_CASE("CloudTrail client options from the configuration and the environment") {
  aws::EndpointConfig config;
  aws::Environment env;
  CloudTrailClientOptions o;
  std::string error;
  REQUIRE(cloudtrail_client_options(config, env, o, error));
  CHECK(o.endpoint.url.empty());
  env["AWS_USE_FIPS_ENDPOINT"] = "true";
  REQUIRE(cloudtrail_client_options(config, env, o, error));
  CHECK(o.endpoint.variant.fips);
  config.cloudtrail_endpoint_url = "https://ct.example";
  CHECK_FALSE(cloudtrail_client_options(config, env, o, error));
  CHECK(error.find("[aws] cloudtrail_endpoint_url") != std::string::npos);
  env.erase("AWS_USE_FIPS_ENDPOINT");
  REQUIRE(cloudtrail_client_options(config, env, o, error));
  CHECK(o.endpoint.url == "https://ct.example");
  config.cloudtrail_endpoint_url = "not a url";
  CHECK_FALSE(cloudtrail_client_options(config, env, o, error));
  CHECK(error.find("[aws] cloudtrail_endpoint_url") != std::string::npos);
  config.cloudtrail_endpoint_url.clear();
  env["AWS_USE_DUALSTACK_ENDPOINT"] = "maybe";
  CHECK_FALSE(cloudtrail_client_options(config, env, o, error));
  CHECK(error.find("AWS_USE_DUALSTACK_ENDPOINT") != std::string::npos);
}

TEST_CASE("CloudTrail client options: [aws] cloudtrail_endpoint_url from the TOML file") {
  // The wiring cli/ uses: parse_config -> cli::endpoint_config -> cloudtrail_client_options.
  const Config c = parse_config(R"(
[aws]
region = "us-east-1"
endpoint_url = "http://127.0.0.1:1"
cloudtrail_endpoint_url = "https://vpce-0abc.cloudtrail.eu-west-1.vpce.amazonaws.com"
)",
                                "t.toml", [](const std::string&) -> std::optional<std::string> {
                                  return std::nullopt;
                                });
  CloudTrailClientOptions o;
  std::string error;
  REQUIRE(cloudtrail_client_options(cli::endpoint_config(c), {}, o, error));
  CHECK(o.endpoint.url == "https://vpce-0abc.cloudtrail.eu-west-1.vpce.amazonaws.com");
  CHECK(o.endpoint.source == "[aws] cloudtrail_endpoint_url");
  // Without the key, [aws] endpoint_url serves CloudTrail too.
  const Config d = parse_config("[aws]\nendpoint_url = \"http://127.0.0.1:1\"\n", "t.toml",
                                [](const std::string&) -> std::optional<std::string> {
                                  return std::nullopt;
                                });
  REQUIRE(cloudtrail_client_options(cli::endpoint_config(d), {}, o, error));
  CHECK(o.endpoint.url == "http://127.0.0.1:1");
}
