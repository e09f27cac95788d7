// SSO profiles through the profile provider: sso_session and legacy forms, the token cache key,
// GetRoleCredentials against a fake portal, expiry and the errors that say what to do.
#include "agent/aws/sso_credentials.h"

#include <doctest/doctest.h>

#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

// sha1("corp") and sha1("https://corp.awsapps.com/start"), as botocore's SSOTokenLoader.
const std::string kSessionCache = "/h/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json";
const std::string kLegacyCache = "/h/.aws/sso/cache/a51746d4aa793ae07b25e90c3a5db96fc7832bd7.json";
const std::string kPortal = "GET https://portal.sso.eu-west-1.amazonaws.com/federation/credentials";

const std::string kSessionConfig =
    "[profile audit]\nsso_session = corp\nsso_account_id = 123456789012\n"
    "sso_role_name = SecurityAudit\nregion = us-east-1\n"
    "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
    "sso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n";

std::string token_json(const std::string& expires) {
  return "{\"startUrl\":\"https://corp.awsapps.com/start\",\"region\":\"eu-west-1\","
         "\"accessToken\":\"SSO-BEARER\",\"expiresAt\":\"" +
         expires + "\",\"refreshToken\":\"SSO-REFRESH\"}";
}

void serve_portal(World& w, const std::string& key = kPortal) {
  w.http->on(key, [](const HttpRequest& r) {
    const std::string* t = r.find_header("x-amz-sso_bearer_token");
    if (t == nullptr || *t != "SSO-BEARER") {
      return response(401, "{\"message\":\"Session token not found or invalid\"}",
                      {{"x-amzn-errortype", "UnauthorizedException:http://internal"}});
    }
    if (r.query != QueryList{{"account_id", "123456789012"}, {"role_name", "SecurityAudit"}}) {
      return response(400, "bad query");
    }
    return response(200,
                    "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSO\",\"secretAccessKey\":"
                    "\"SSO-SECRET\",\"sessionToken\":\"SSO-TOKEN\",\"expiration\":1704070800000}}");
  });
}

void check_clean(const std::string& m) {
  for (const char* s : {"SSO-BEARER", "SSO-SECRET", "SSO-TOKEN", "SSO-REFRESH"}) {
    CHECK_MESSAGE(m.find(s) == std::string::npos, s << " in " << m);
  }
}

}  // namespace

TEST_CASE("sso profiles: sso_session, cached token, GetRoleCredentials") {
  LogCapture log_capture;
  World w;
  w.env = {{"HOME", "/h"}, {"AWS_PROFILE", "audit"}};
  w.files["/h/.aws/config"] = kSessionConfig;
  w.files[kSessionCache] = token_json("2024-01-01T08:00:00Z");
  serve_portal(w);
  Credentials c;
  std::string m;
  auto p = make_profile_provider(w.context(), CredentialsOptions{});
  REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIASSO");
  CHECK(c.secret_access_key == "SSO-SECRET");
  CHECK(c.session_token == "SSO-TOKEN");
  CHECK(*c.expiration == utc(2024, 1, 1, 1));  // 1704070800000 ms
  CHECK(c.provider == "profile audit (sso)");
  const HttpRequest& r = w.http->calls.back().request;
  CHECK(r.find_header("authorization") == nullptr);  // unsigned

  SUBCASE("legacy sso_start_url / sso_region in the profile: the start URL keys the cache") {
    w.files["/h/.aws/config"] =
        "[profile audit]\nsso_start_url = https://corp.awsapps.com/start\n"
        "sso_region = eu-west-1\nsso_account_id = 123456789012\nsso_role_name = SecurityAudit\n";
    w.files.erase(kSessionCache);
    w.files[kLegacyCache] = token_json("2024-01-01T08:00:00UTC");  // older CLI format
    p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIASSO");
  }
  SUBCASE("endpoint override: AWS_ENDPOINT_URL_SSO, unless ignored") {
    w.env["AWS_ENDPOINT_URL_SSO"] = "http://127.0.0.1:8443";
    serve_portal(w, "GET http://127.0.0.1:8443/federation/credentials");
    w.http->on(kPortal, 500, "");
    p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    w.env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m.find("HTTP 500 from GET https://portal.sso.eu-west-1.amazonaws.com") !=
          std::string::npos);
  }
  SUBCASE("the [aws] endpoint keys apply to the portal as to STS") {
    CredentialsOptions fips;
    fips.use_fips_endpoint = true;
    serve_portal(w, "GET https://portal.sso-fips.eu-west-1.amazonaws.com/federation/credentials");
    p = make_profile_provider(w.context(), fips);
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(w.http->calls.back().request.host == "portal.sso-fips.eu-west-1.amazonaws.com");

    CredentialsOptions dual;
    dual.use_dualstack_endpoint = true;
    serve_portal(w, "GET https://portal.sso.eu-west-1.api.aws/federation/credentials");
    p = make_profile_provider(w.context(), dual);
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(w.http->calls.back().request.host == "portal.sso.eu-west-1.api.aws");

    // [aws] ignore_configured_endpoint_urls = true: AWS_ENDPOINT_URL_SSO is not used.
    w.env["AWS_ENDPOINT_URL_SSO"] = "http://127.0.0.1:8443";
    w.http->on("GET http://127.0.0.1:8443/federation/credentials", 500, "");
    CredentialsOptions ignore;
    ignore.ignore_configured_endpoint_urls = true;
    p = make_profile_provider(w.context(), ignore);
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(w.http->calls.back().request.host == "portal.sso.eu-west-1.amazonaws.com");
  }
  SUBCASE("an expired cached token: run aws sso login") {
    w.files[kSessionCache] = token_json("2023-12-31T23:59:00Z");
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m == "profile 'audit': the cached SSO token " + kSessionCache +
                   " expired at 2023-12-31T23:59:00Z (run `aws sso login --profile audit`; "
                   "trailwarden does not refresh SSO tokens: for an unattended agent prefer a "
                   "role)");
    check_clean(m);
  }
  SUBCASE("no cached token") {
    w.files.erase(kSessionCache);
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m == "profile 'audit': no cached SSO token " + kSessionCache +
                   " (run `aws sso login --profile audit`)");
  }
  SUBCASE("the portal refuses the token") {
    w.files[kSessionCache] =
        "{\"accessToken\":\"SSO-REVOKED\",\"expiresAt\":\"2024-01-01T08:00:00Z\"}";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kFailed);
    CHECK(m.find("SSO GetRoleCredentials: HTTP 401 from GET "
                 "https://portal.sso.eu-west-1.amazonaws.com/federation/credentials: "
                 "UnauthorizedException (the cached token was refused") != std::string::npos);
    CHECK(m.find("SSO-REVOKED") == std::string::npos);
  }
  SUBCASE("configuration errors are permanent") {
    w.files["/h/.aws/config"] =
        "[profile audit]\nsso_session = other\nsso_account_id = 123456789012\n"
        "sso_role_name = R\n";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kInvalid);
    CHECK(m ==
          "profile 'audit': sso_session 'other': no [sso-session other] section in the "
          "config file");
    w.files["/h/.aws/config"] = kSessionConfig + "[profile audit]\nsso_region = us-west-2\n";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kInvalid);
    CHECK(m == "profile 'audit': sso_region differs between the profile and [sso-session corp]");
    w.files["/h/.aws/config"] = "[profile audit]\nsso_role_name = R\n";
    p = make_profile_provider(w.context(), CredentialsOptions{});
    CHECK(p->fetch(c, m) == FetchStatus::kInvalid);
    CHECK(m ==
          "profile 'audit': is configured for IAM Identity Center (SSO) but lacks "
          "sso_start_url, sso_region, sso_account_id");
  }
  SUBCASE("an SSO profile as source_profile of a role") {
    w.files["/h/.aws/config"] = kSessionConfig +
                                "[profile ops]\nrole_arn = arn:aws:iam::1:role/ops\n"
                                "source_profile = audit\n";
    w.env["AWS_PROFILE"] = "ops";
    w.http->on("POST https://sts.us-east-1.amazonaws.com/", [](const HttpRequest& req) {
      return req.find_header("x-amz-security-token") != nullptr &&
                     *req.find_header("x-amz-security-token") == "SSO-TOKEN"
                 ? response(200, sts_credentials_xml("AssumeRole", "ASIAOPS", "STS-SECRET",
                                                     "STS-TOKEN", "2024-01-01T01:00:00Z"))
                 : response(403, sts_error_xml("AccessDenied", "wrong source"));
    });
    p = make_profile_provider(w.context(), CredentialsOptions{});
    REQUIRE_MESSAGE(p->fetch(c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAOPS");
  }
}
