// STS hosts of the credential providers: the endpoint helper's variants and variables
// (agent/aws/endpoints.h) through resolve_sts, seen on the requests a web identity fetch sends.
#include <doctest/doctest.h>

#include "agent/aws/credentials.h"
#include "agent/aws/sts.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

struct WebIdentity {
  World w;
  WebIdentity() {
    w.env = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"},
             {"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"},
             {"AWS_REGION", "us-east-2"}};
    w.files["/var/run/secrets/token"] = "WEB-IDENTITY-JWT";
  }
  // The URL the fetch posted to, or "ERR <message>".
  std::string fetch_url(const CredentialsOptions& options = {}) {
    w.http->calls.clear();
    auto reply = [](const HttpRequest&) {
      return response(200, sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAWEB", "S", "T",
                                               "2024-01-01T01:00:00Z"));
    };
    for (const char* url :
         {"POST https://sts.us-east-2.amazonaws.com/",
          "POST https://sts-fips.us-east-2.amazonaws.com/", "POST https://sts.us-east-2.api.aws/",
          "POST https://sts-fips.us-east-2.api.aws/", "POST http://127.0.0.1:4566/"})
      w.http->on(url, reply);
    auto p = make_web_identity_provider(w.context(), options);
    Credentials c;
    std::string m;
    if (p->fetch(c, m) != FetchStatus::kOk) return "ERR " + m;
    REQUIRE(w.http->calls.size() == 1);
    const HttpRequest& r = w.http->calls[0].request;
    return r.scheme + "://" + r.host + r.path;
  }
};

}  // namespace

TEST_CASE("STS endpoints of the providers: FIPS, dual-stack and the endpoint variables") {
  LogCapture log_capture;
  WebIdentity t;
  CHECK(t.fetch_url() == "https://sts.us-east-2.amazonaws.com/");
  t.w.env["AWS_USE_FIPS_ENDPOINT"] = "true";
  CHECK(t.fetch_url() == "https://sts-fips.us-east-2.amazonaws.com/");
  t.w.env["AWS_USE_FIPS_ENDPOINT"] = "false";
  CredentialsOptions o;
  o.use_dualstack_endpoint = true;
  CHECK(t.fetch_url(o) == "https://sts.us-east-2.api.aws/");
  o.use_fips_endpoint = true;
  CHECK(t.fetch_url(o) == "https://sts-fips.us-east-2.api.aws/");

  // An endpoint URL with a variant is refused, naming where the URL came from.
  t.w.env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:4566";
  const std::string refused = t.fetch_url(o);
  CHECK(refused.starts_with("ERR "));
  CHECK(refused.find("AWS_ENDPOINT_URL_STS") != std::string::npos);
  CHECK(t.fetch_url() == "http://127.0.0.1:4566/");
  // ... and ignored with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the option.
  t.w.env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  CHECK(t.fetch_url() == "https://sts.us-east-2.amazonaws.com/");
  t.w.env.erase("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  CredentialsOptions ignore;
  ignore.ignore_configured_endpoint_urls = true;
  ignore.sts_endpoint = "http://127.0.0.1:4566";
  CHECK(t.fetch_url(ignore) == "https://sts.us-east-2.amazonaws.com/");

  // GovCloud's FIPS STS endpoint is the regional host.
  t.w.env.erase("AWS_ENDPOINT_URL_STS");
  t.w.env["AWS_REGION"] = "us-gov-west-1";
  t.w.env["AWS_USE_FIPS_ENDPOINT"] = "true";
  t.w.http->on("POST https://sts.us-gov-west-1.amazonaws.com/", 200,
               sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAGOV", "S", "T",
                                   "2024-01-01T01:00:00Z"));
  CHECK(t.fetch_url() == "https://sts.us-gov-west-1.amazonaws.com/");
}

TEST_CASE("STS endpoints: make_sts_endpoint with a variant") {
  StsEndpoint e;
  std::string error;
  EndpointSettings s;
  s.variant.fips = true;
  REQUIRE(make_sts_endpoint("cn-north-1", s, e, error));
  CHECK(e.url() == "https://sts-fips.cn-north-1.amazonaws.com.cn/");
  CHECK(e.region == "cn-north-1");
  s.url = "https://sts.example.internal";
  s.source = "[aws] sts_endpoint_url";
  CHECK_FALSE(make_sts_endpoint("cn-north-1", s, e, error));
  CHECK(error.find("[aws] sts_endpoint_url") != std::string::npos);
}
