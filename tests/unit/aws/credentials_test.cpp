// The credential providers and the caching chain, against an in-memory environment, in-memory
// files, a fake HTTP client and a settable clock (tests/unit/aws/fakes.h).
#include "agent/aws/credentials.h"

#include <doctest/doctest.h>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "agent/aws/sigv4.h"
#include "agent/aws/sts.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

const std::string kSts = "POST https://sts.us-east-1.amazonaws.com/";
const std::string kImdsToken = "PUT http://169.254.169.254/latest/api/token";
const std::string kImdsRoles =
    "GET http://169.254.169.254/latest/meta-data/iam/security-credentials/";

CredentialsOptions opts() { return CredentialsOptions{}; }

FetchStatus fetch(CredentialsProvider& p, Credentials& c, std::string& message) {
  c = Credentials{};
  message.clear();
  return p.fetch(c, message);
}

std::string imds_json(const std::string& id, const std::string& secret, const std::string& token,
                      const std::string& expiration) {
  return "{\"Code\":\"Success\",\"LastUpdated\":\"2024-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\","
         "\"AccessKeyId\":\"" +
         id + "\",\"SecretAccessKey\":\"" + secret + "\",\"Token\":\"" + token +
         "\",\"Expiration\":\"" + expiration + "\"}";
}

void serve_imds(World& w, const std::string& role = "app-role",
                const std::string& expiration = "2024-01-01T06:00:00Z") {
  w.http->on(kImdsToken, [](const HttpRequest& r) {
    const std::string* ttl = r.find_header("x-aws-ec2-metadata-token-ttl-seconds");
    if (ttl == nullptr || *ttl != "21600") return response(400, "missing TTL");
    return response(200, "IMDS-SESSION-TOKEN");
  });
  auto need_token = [](const HttpRequest& r) {
    const std::string* t = r.find_header("x-aws-ec2-metadata-token");
    return t != nullptr && *t == "IMDS-SESSION-TOKEN";
  };
  w.http->on(kImdsRoles, [need_token, role](const HttpRequest& r) {
    return need_token(r) ? response(200, role + "\n") : response(401, "");
  });
  w.http->on(kImdsRoles + role, [need_token, expiration](const HttpRequest& r) {
    return need_token(r)
               ? response(200, imds_json("ASIAIMDS", "IMDS-SECRET", "IMDS-TOKEN", expiration))
               : response(401, "");
  });
}

// Every string a test considers secret; none may appear in any message.
const std::vector<std::string> kSecrets = {
    "ENV-SECRET",         "ENV-TOKEN",      "FILE-SECRET",      "FILE-TOKEN",
    "WEB-IDENTITY-JWT",   "CONTAINER-AUTH", "CONTAINER-SECRET", "CONTAINER-TOKEN",
    "IMDS-SESSION-TOKEN", "IMDS-SECRET",    "IMDS-TOKEN",       "STS-SECRET",
    "STS-TOKEN",          "SOURCE-SECRET",  "SOURCE-TOKEN"};

void check_no_secret(const std::string& text) {
  for (const std::string& s : kSecrets) {
    CHECK_MESSAGE(text.find(s) == std::string::npos, "secret " << s << " in: " << text);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// environment

TEST_CASE("environment provider") {
  LogCapture log_capture;
  World w;
  auto p = make_environment_provider(w.context());
  Credentials c;
  std::string m;
  CHECK(p->name() == "environment");
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
  CHECK(m == "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");

  w.env = {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "ENV-SECRET"}};
  p = make_environment_provider(w.context());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "AKIDENV");
  CHECK(c.secret_access_key == "ENV-SECRET");
  CHECK(c.session_token.empty());
  CHECK_FALSE(c.expiration);
  CHECK(c.provider == "environment");

  w.env["AWS_SESSION_TOKEN"] = "ENV-TOKEN";
  p = make_environment_provider(w.context());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.session_token == "ENV-TOKEN");

  w.env.erase("AWS_SECRET_ACCESS_KEY");
  p = make_environment_provider(w.context());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");

  w.env = {{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", "ENV-SECRET"}};
  p = make_environment_provider(w.context());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  check_no_secret(m);
}

// ---------------------------------------------------------------------------------------------
// web identity

TEST_CASE("web identity provider: AssumeRoleWithWebIdentity, unsigned, token from file") {
  LogCapture log_capture;
  World w;
  Credentials c;
  std::string m;
  auto p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
  CHECK(m == "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set");

  w.env = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"}};
  p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not");

  w.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/secrets/token";
  p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m == "web identity token file /var/run/secrets/token does not exist");

  w.files["/var/run/secrets/token"] = "  WEB-IDENTITY-JWT\n";
  w.http->on(kSts, 200,
             sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAWEB", "STS-SECRET", "STS-TOKEN",
                                 "2024-01-01T01:00:00Z"));
  p = make_web_identity_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "ASIAWEB");
  CHECK(c.secret_access_key == "STS-SECRET");
  CHECK(c.session_token == "STS-TOKEN");
  CHECK(*c.expiration == utc(2024, 1, 1, 1));
  CHECK(c.provider == "web-identity");
  REQUIRE(w.http->calls.size() == 1);
  const HttpRequest& r = w.http->calls[0].request;
  CHECK(r.find_header("authorization") == nullptr);  // unsigned
  CHECK(*r.find_header("content-type") == "application/x-www-form-urlencoded; charset=utf-8");
  auto f = form_fields(r.body);
  CHECK(f["Action"] == "AssumeRoleWithWebIdentity");
  CHECK(f["Version"] == "2011-06-15");
  CHECK(f["RoleArn"] == "arn:aws:iam::123456789012:role/irsa");
  CHECK(f["WebIdentityToken"] == "WEB-IDENTITY-JWT");
  CHECK(f["RoleSessionName"] == "trailwarden-1704067200");
  CHECK(w.http->calls[0].timeout == std::chrono::milliseconds(10000));

  // Session name, region and endpoint from the environment; the file is read again each time.
  w.env["AWS_ROLE_SESSION_NAME"] = "my-session";
  w.env["AWS_REGION"] = "eu-west-3";
  w.files["/var/run/secrets/token"] = "ROTATED-JWT";
  w.http->on("POST https://sts.eu-west-3.amazonaws.com/", 200,
             sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAWEB2", "STS-SECRET", "STS-TOKEN",
                                 "2024-01-01T01:00:00Z"));
  p = make_web_identity_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "ASIAWEB2");
  f = form_fields(w.http->calls.back().request.body);
  CHECK(f["RoleSessionName"] == "my-session");
  CHECK(f["WebIdentityToken"] == "ROTATED-JWT");

  w.env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:4566";
  w.http->on("POST http://127.0.0.1:4566/", 200,
             sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIALOCAL", "STS-SECRET",
                                 "STS-TOKEN", "2024-01-01T01:00:00Z"));
  p = make_web_identity_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "ASIALOCAL");
}

TEST_CASE("web identity provider: STS errors name the call, never the token") {
  LogCapture log_capture;
  World w;
  w.env = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"},
           {"AWS_WEB_IDENTITY_TOKEN_FILE", "/t"}};
  w.files["/t"] = "WEB-IDENTITY-JWT";
  // A hostile or buggy endpoint echoes the token.
  w.http->on(kSts, 400, sts_error_xml("InvalidIdentityToken", "bad token WEB-IDENTITY-JWT"));
  auto p = make_web_identity_provider(w.context(), opts());
  Credentials c;
  std::string m;
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m.find("STS AssumeRoleWithWebIdentity") != std::string::npos);
  CHECK(m.find("HTTP 400 InvalidIdentityToken") != std::string::npos);
  CHECK(m.find("[redacted]") != std::string::npos);
  check_no_secret(m);

  w.http->on(kSts, [](const HttpRequest&) { return transport_error("timed out after 10000 ms"); });
  p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m.find("timed out") != std::string::npos);

  w.files["/t"] = "two words";
  p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m.find("spaces or control characters") != std::string::npos);
  w.unreadable["/t"] = "Permission denied";
  p = make_web_identity_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m == "cannot read web identity token file: /t: Permission denied");
}

// ---------------------------------------------------------------------------------------------
// shared files

TEST_CASE("profile provider: files, locations, profile selection") {
  LogCapture log_capture;
  World w;
  Credentials c;
  std::string m;
  auto p = make_profile_provider(w.context(), opts());
  CHECK(p->name() == "profile default");
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
  CHECK(m == "no shared config or credentials file (HOME is not set)");

  w.env["HOME"] = "/home/u";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
  CHECK(m ==
        "no shared config or credentials file (looked for /home/u/.aws/config, "
        "/home/u/.aws/credentials)");

  w.files["/home/u/.aws/credentials"] =
      "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = FILE-SECRET\n"
      "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = FILE-SECRET\n"
      "aws_session_token = FILE-TOKEN\n";
  p = make_profile_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "AKIDFILE");
  CHECK(c.provider == "profile default");
  CHECK_FALSE(c.expiration);

  w.env["AWS_PROFILE"] = "dev";
  p = make_profile_provider(w.context(), opts());
  CHECK(p->name() == "profile dev");
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "AKIDDEV");
  CHECK(c.session_token == "FILE-TOKEN");

  // The option wins over AWS_PROFILE; an explicitly chosen missing profile is an error.
  CredentialsOptions o;
  o.profile = "nope";
  p = make_profile_provider(w.context(), o);
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "no profile 'nope' in /home/u/.aws/config, /home/u/.aws/credentials");
  // ... but a missing default profile just passes to the next provider.
  w.env.erase("AWS_PROFILE");
  w.files["/home/u/.aws/credentials"] = "[other]\naws_access_key_id = A\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);

  // Explicit file locations (with ~ expansion); config "[profile x]"; credentials file wins.
  w.env["AWS_SHARED_CREDENTIALS_FILE"] = "~/creds";
  w.env["AWS_CONFIG_FILE"] = "/etc/aws/config";
  w.env["AWS_PROFILE"] = "x";
  w.files["/etc/aws/config"] =
      "[profile x]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = FILE-SECRET\n"
      "region = eu-west-1\n";
  p = make_profile_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "AKIDCONFIG");
  CHECK(w.reads["/home/u/creds"] == 1);
  w.files["/home/u/creds"] = "[x]\naws_access_key_id = AKIDCREDS\n";
  p = make_profile_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(c.access_key_id == "AKIDCREDS");        // credentials file wins per key
  CHECK(c.secret_access_key == "FILE-SECRET");  // merged from the config file
  check_no_secret(m);
}

TEST_CASE("profile provider: errors name file, line, profile and key, never values") {
  LogCapture log_capture;
  World w;
  w.env = {{"HOME", "/h"}};
  Credentials c;
  std::string m;
  w.files["/h/.aws/credentials"] = "[default]\naws_access_key_id = AKID\nFILE-SECRET\n";
  auto p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "/h/.aws/credentials:3: expected 'name = value'");
  check_no_secret(m);

  w.files["/h/.aws/credentials"] = "[default]\naws_secret_access_key = FILE-SECRET\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "profile 'default' has aws_secret_access_key but no aws_access_key_id");

  w.files["/h/.aws/credentials"] = "[default]\naws_access_key_id = AKID\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "profile 'default' has aws_access_key_id but no aws_secret_access_key");

  w.files["/h/.aws/credentials"] = "[default]\ncredential_process = /nonexistent/creds\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m ==
        "profile 'default': credential_process '/nonexistent/creds' cannot be started: No such "
        "file or directory");

  w.files.erase("/h/.aws/credentials");
  w.files["/h/.aws/config"] = "[default]\nsso_session = corp\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m ==
        "profile 'default' has sso_session or sso_start_url but neither sso_account_id nor "
        "sso_role_name");

  w.files["/h/.aws/config"] = "[default]\nregion = us-east-1\n";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
  CHECK(m ==
        "profile 'default' has no credentials (aws_access_key_id, role_arn, sso_*, "
        "credential_process)");

  w.unreadable["/h/.aws/config"] = "Permission denied";
  p = make_profile_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m == "cannot read /h/.aws/config: Permission denied");
}

TEST_CASE("profile provider: role_arn with source_profile, chains, credential_source") {
  LogCapture log_capture;
  World w;
  w.env = {{"HOME", "/h"}, {"AWS_PROFILE", "ops"}};
  w.files["/h/.aws/credentials"] =
      "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = SOURCE-SECRET\n";
  w.files["/h/.aws/config"] =
      "[profile ops]\nrole_arn = arn:aws:iam::111111111111:role/ops\nsource_profile = mid\n"
      "external_id = ext-42\nrole_session_name = ops-session\nduration_seconds = 900\n"
      "region = ap-southeast-2\n"
      "[profile mid]\nrole_arn = arn:aws:iam::222222222222:role/mid\nsource_profile = base\n";
  // STS (in the ops profile's region) answers by role, checking the signature's key id.
  int n = 0;
  w.http->on("POST https://sts.ap-southeast-2.amazonaws.com/", [&n](const HttpRequest& r) {
    ++n;
    const auto f = form_fields(r.body);
    const std::string* auth = r.find_header("authorization");
    if (auth == nullptr) return response(403, sts_error_xml("MissingAuthenticationToken", "no"));
    if (f.at("RoleArn") == "arn:aws:iam::222222222222:role/mid") {
      if (auth->find("Credential=AKIDBASE/") == std::string::npos) return response(403, "");
      return response(200, sts_credentials_xml("AssumeRole", "ASIAMID", "STS-SECRET", "STS-TOKEN",
                                               "2024-01-01T02:00:00Z"));
    }
    if (auth->find("Credential=ASIAMID/") == std::string::npos ||
        r.find_header("x-amz-security-token") == nullptr) {
      return response(403, "");
    }
    return response(200, sts_credentials_xml("AssumeRole", "ASIAOPS", "STS-SECRET", "STS-TOKEN",
                                             "2024-01-01T00:15:00Z"));
  });
  auto p = make_profile_provider(w.context(), opts());
  Credentials c;
  std::string m;
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIAOPS");
  CHECK(c.provider == "profile ops");
  CHECK(*c.expiration == utc(2024, 1, 1, 0, 15));
  CHECK(n == 2);
  const HttpRequest& last = w.http->calls.back().request;
  auto f = form_fields(last.body);
  CHECK(f["Action"] == "AssumeRole");
  CHECK(f["ExternalId"] == "ext-42");
  CHECK(f["RoleSessionName"] == "ops-session");
  CHECK(f["DurationSeconds"] == "900");
  // The request carries a valid SigV4 signature for sts in ap-southeast-2.
  HttpRequest again = last;
  Credentials mid{"ASIAMID", "STS-SECRET", "STS-TOKEN", std::nullopt, ""};
  sign_v4(again, mid, "ap-southeast-2", "sts", w.now);
  CHECK(*again.find_header("authorization") == *last.find_header("authorization"));

  SUBCASE("a profile may be its own source") {
    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:aws:iam::222222222222:role/mid\nsource_profile = ops\n"
        "aws_access_key_id = AKIDBASE\naws_secret_access_key = SOURCE-SECRET\n"
        "region = ap-southeast-2\n";
    p = make_profile_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAMID");
  }
  SUBCASE("loops, missing and dangling sources are errors") {
    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r1\nsource_profile = a\n"
        "[profile a]\nrole_arn = arn:r2\nsource_profile = ops\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("source_profile loop: ops -> a -> ops") != std::string::npos);

    w.files["/h/.aws/config"] = "[profile ops]\nrole_arn = arn:r1\nsource_profile = ghost\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m == "profile 'ops': source_profile 'ghost' does not exist");

    w.files["/h/.aws/config"] = "[profile ops]\nrole_arn = arn:r1\nsource_profile = ops\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("names the profile itself") != std::string::npos);

    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r1\nsource_profile = empty\n[profile empty]\nregion = x\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("source_profile 'empty': profile 'empty' has no credentials") !=
          std::string::npos);

    w.files["/h/.aws/config"] = "[profile ops]\nrole_arn = arn:r1\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("needs source_profile, credential_source or web_identity_token_file") !=
          std::string::npos);

    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r1\nsource_profile = base\ncredential_source = "
        "Environment\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("mutually exclusive") != std::string::npos);

    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r1\nsource_profile = base\nmfa_serial = arn:mfa\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("mfa_serial is not supported") != std::string::npos);

    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r1\nsource_profile = base\nduration_seconds = 12h\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("duration_seconds") != std::string::npos);

    std::string chain = "[profile ops]\nrole_arn = arn:r\nsource_profile = p1\n";
    for (int i = 1; i < 12; ++i) {
      chain += "[profile p" + std::to_string(i) + "]\nrole_arn = arn:r\nsource_profile = p" +
               std::to_string(i + 1) + "\n";
    }
    w.files["/h/.aws/config"] = chain;
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("chain longer than 8") != std::string::npos);
  }
  SUBCASE("credential_source") {
    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:aws:iam::222222222222:role/mid\n"
        "credential_source = Environment\nregion = ap-southeast-2\n";
    w.env["AWS_ACCESS_KEY_ID"] = "AKIDBASE";
    w.env["AWS_SECRET_ACCESS_KEY"] = "SOURCE-SECRET";
    p = make_profile_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAMID");

    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:r\ncredential_source = Ec2InstanceMetadata\n";
    w.env["AWS_EC2_METADATA_DISABLED"] = "true";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m ==
          "profile 'ops': credential_source Ec2InstanceMetadata: disabled by "
          "AWS_EC2_METADATA_DISABLED");

    w.files["/h/.aws/config"] = "[profile ops]\nrole_arn = arn:r\ncredential_source = Magic\n";
    p = make_profile_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("credential_source must be") != std::string::npos);
  }
  SUBCASE("web_identity_token_file in a profile") {
    w.files["/h/.aws/config"] =
        "[profile ops]\nrole_arn = arn:aws:iam::333333333333:role/web\n"
        "web_identity_token_file = /tok\n";
    w.files["/tok"] = "WEB-IDENTITY-JWT";
    w.http->on(kSts, 200,
               sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAPWEB", "STS-SECRET",
                                   "STS-TOKEN", "2024-01-01T01:00:00Z"));
    p = make_profile_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAPWEB");
    CHECK(form_fields(w.http->calls.back().request.body)["WebIdentityToken"] == "WEB-IDENTITY-JWT");
  }
  check_no_secret(m);
}

// ---------------------------------------------------------------------------------------------
// container

TEST_CASE("container provider: relative URI (ECS)") {
  LogCapture log_capture;
  World w;
  Credentials c;
  std::string m;
  auto p = make_container_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);

  w.env = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc-123"},
           {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/ignored"},
           {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "CONTAINER-AUTH"}};
  w.http->on("GET http://169.254.170.2/v2/credentials/abc-123", 200,
             "{\"RoleArn\":\"arn:aws:iam::1:role/task\",\"AccessKeyId\":\"ASIAECS\","
             "\"SecretAccessKey\":\"CONTAINER-SECRET\",\"Token\":\"CONTAINER-TOKEN\","
             "\"Expiration\":\"2024-01-01T06:00:00Z\"}");
  p = make_container_provider(w.context(), opts());
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIAECS");
  CHECK(c.session_token == "CONTAINER-TOKEN");
  CHECK(*c.expiration == utc(2024, 1, 1, 6));
  CHECK(c.provider == "container");
  const HttpRequest& r = w.http->calls.back().request;
  CHECK(r.find_header("authorization") == nullptr);  // not for the relative URI
  CHECK(*r.find_header("accept") == "application/json");
  CHECK(w.http->calls.back().timeout == std::chrono::milliseconds(2000));  // botocore's

  w.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "v2/no-slash";
  p = make_container_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
}

TEST_CASE("container provider: full URI, authorization token, allowed hosts, errors") {
  LogCapture log_capture;
  World w;
  Credentials c;
  std::string m;
  w.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"},
           {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "CONTAINER-AUTH"}};
  w.http->on("GET http://169.254.170.23/v1/credentials", [](const HttpRequest& r) {
    const std::string* a = r.find_header("authorization");
    if (a == nullptr) return response(401, "{\"code\":\"NoToken\",\"message\":\"missing\"}");
    if (*a == "CONTAINER-AUTH" || *a == "ROTATED-AUTH") {
      return response(200,
                      "{\"AccessKeyId\":\"ASIAPOD\",\"SecretAccessKey\":\"CONTAINER-SECRET\","
                      "\"Token\":\"CONTAINER-TOKEN\",\"Expiration\":\"2024-01-01T06:00:00Z\"}");
    }
    // Echoes the token it was given: must not reach any message.
    return response(403, "{\"code\":\"AccessDenied\",\"message\":\"token " + *a + " refused\"}");
  });
  auto p = make_container_provider(w.context(), opts());
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIAPOD");
  CHECK(*w.http->calls.back().request.find_header("authorization") == "CONTAINER-AUTH");

  // The token file wins over the variable and is read on every fetch.
  w.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/pod-identity/token";
  w.files["/var/run/pod-identity/token"] = "ROTATED-AUTH\n";
  p = make_container_provider(w.context(), opts());
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(*w.http->calls.back().request.find_header("authorization") == "ROTATED-AUTH");
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(w.reads["/var/run/pod-identity/token"] == 2);

  w.files["/var/run/pod-identity/token"] = "CONTAINER-AUTH-WRONG";
  p = make_container_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m.find("HTTP 403 from GET http://169.254.170.23/v1/credentials: AccessDenied") !=
        std::string::npos);
  CHECK(m.find("[redacted]") != std::string::npos);
  check_no_secret(m);

  w.files["/var/run/pod-identity/token"] = "bad\ntoken";
  p = make_container_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m.find("spaces or control characters") != std::string::npos);
  w.env.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  w.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "bad\r\ninjected: header";
  p = make_container_provider(w.context(), opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
  CHECK(m == "AWS_CONTAINER_AUTHORIZATION_TOKEN contains spaces or control characters");

  // Plain http only to loopback and the documented link-local addresses.
  for (const char* bad : {"http://169.254.169.254/creds", "http://10.0.0.1/creds",
                          "http://localhost.evil.com/c", "http://127.0.0.1.nip.io/c"}) {
    w.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = bad;
    p = make_container_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m.find("is not allowed") != std::string::npos);
  }
  w.env.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  for (const char* good :
       {"https://creds.example.com/c", "http://127.0.0.1:8080/c", "http://[::1]:8080/c",
        "http://localhost/c", "http://[fd00:ec2::23]/c"}) {
    w.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = good;
    HttpRequest target;
    std::string err;
    REQUIRE(parse_endpoint_url(good, target, err));
    w.http->on("GET " + target.scheme + "://" + target.host + target.path, 200,
               "{\"AccessKeyId\":\"ASIAOK\",\"SecretAccessKey\":\"CONTAINER-SECRET\"}");
    p = make_container_provider(w.context(), opts());
    CHECK_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, good << ": " << m);
    CHECK(c.session_token.empty());
    CHECK_FALSE(c.expiration);
  }
  // Query strings are kept.
  w.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:8080/c?role=a%20b&x";
  p = make_container_provider(w.context(), opts());
  REQUIRE(fetch(*p, c, m) == FetchStatus::kOk);
  CHECK(w.http->calls.back().request.url() == "http://127.0.0.1:8080/c?role=a%20b&x=");

  // Bad bodies.
  w.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:8080/c";
  for (const char* body :
       {"not json", "[]", "{\"AccessKeyId\":\"A\"}",
        "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"S\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"x\"}"}) {
    w.http->on("GET http://127.0.0.1:8080/c", 200, body);
    p = make_container_provider(w.context(), opts());
    CHECK_MESSAGE(fetch(*p, c, m) == FetchStatus::kFailed, body);
    CHECK(m.find("GET http://127.0.0.1:8080/c: ") == 0);
  }
  w.http->on("GET http://127.0.0.1:8080/c", 500, "oops");
  p = make_container_provider(w.context(), opts());
  const size_t before = w.http->calls.size();
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(m == "HTTP 500 from GET http://127.0.0.1:8080/c: oops (3 attempts)");
  CHECK(w.http->calls.size() - before == 3);  // container_attempts
}

// ---------------------------------------------------------------------------------------------
// IMDS

TEST_CASE("imds provider: IMDSv2 token, role, credentials") {
  LogCapture log_capture;
  World w;
  serve_imds(w);
  auto p = make_imds_provider(w.context(), opts());
  Credentials c;
  std::string m;
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIAIMDS");
  CHECK(c.secret_access_key == "IMDS-SECRET");
  CHECK(c.session_token == "IMDS-TOKEN");
  CHECK(*c.expiration == utc(2024, 1, 1, 6));
  CHECK(c.provider == "imds (role app-role)");
  REQUIRE(w.http->calls.size() == 3);
  CHECK(w.http->calls[0].request.method == "PUT");
  for (const auto& call : w.http->calls) CHECK(call.timeout == std::chrono::milliseconds(1000));

  SUBCASE("disabled") {
    w.env["AWS_EC2_METADATA_DISABLED"] = "TRUE";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kNotConfigured);
    CHECK(m == "disabled by AWS_EC2_METADATA_DISABLED");
  }
  SUBCASE("endpoint override and IPv6 mode") {
    w.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:1338/";
    w.http->on("PUT http://127.0.0.1:1338/latest/api/token", 200, "T");
    w.http->on("GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/", 200, "r");
    w.http->on("GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/r", 200,
               imds_json("ASIALOCAL", "IMDS-SECRET", "IMDS-TOKEN", "2024-01-01T06:00:00Z"));
    p = make_imds_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIALOCAL");
    w.env.erase("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    w.env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] = "IPv6";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("PUT http://[fd00:ec2::254]/latest/api/token") != std::string::npos);
    w.env["AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"] = "IPv5";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m == "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6");
  }
  SUBCASE("IMDSv1 fallback when the token is refused, unless disabled") {
    w.http->on(kImdsToken, 403, "");
    w.http->on(kImdsRoles, 200, "v1-role");
    w.http->on(kImdsRoles + "v1-role", [](const HttpRequest& r) {
      return r.find_header("x-aws-ec2-metadata-token") == nullptr
                 ? response(200, imds_json("ASIAV1", "IMDS-SECRET", "IMDS-TOKEN",
                                           "2024-01-01T06:00:00Z"))
                 : response(400, "");
    });
    p = make_imds_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(c.access_key_id == "ASIAV1");
    w.env["AWS_EC2_METADATA_V1_DISABLED"] = "true";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED") != std::string::npos);
  }
  SUBCASE("failures") {
    w.http->on(kImdsRoles, 404, "");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("no IAM role is attached to this instance") == 0);

    w.http->on(kImdsRoles, 200, "../../latest/user-data");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("malformed role name") != std::string::npos);

    serve_imds(w);
    w.http->on(kImdsRoles + "app-role", 200,
               "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"x\"}");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("Code is AssumeRoleUnauthorizedAccess") != std::string::npos);

    // Token, Expiration are required from IMDS.
    w.http->on(kImdsRoles + "app-role", 200,
               "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"IMDS-SECRET\"}");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("lacks Token or Expiration") != std::string::npos);

    // An error page echoing the IMDS session token.
    w.http->on(kImdsRoles, 400, "bad token IMDS-SESSION-TOKEN");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    check_no_secret(m);

    w.http->on(kImdsToken, 400, "");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);  // botocore: BadIMDSRequestError
    CHECK(m == "HTTP 400 from PUT http://169.254.169.254/latest/api/token");
  }
  SUBCASE("a transient 5xx is retried when AWS_METADATA_SERVICE_NUM_ATTEMPTS allows") {
    w.env["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] = "2";
    int n = 0;
    w.http->on(kImdsRoles, [&n](const HttpRequest&) {
      return ++n == 1 ? response(503, "") : response(200, "app-role");
    });
    p = make_imds_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(n == 2);
  }
}

// ---------------------------------------------------------------------------------------------
// the chain

TEST_CASE("default chain: order and stop-on-failure") {
  LogCapture log_capture;
  World w;
  serve_imds(w);
  w.env = {{"HOME", "/h"}};
  w.files["/h/.aws/credentials"] =
      "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = FILE-SECRET\n";
  w.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:9/c";
  w.http->on("GET http://127.0.0.1:9/c", 200,
             "{\"AccessKeyId\":\"ASIACONT\",\"SecretAccessKey\":\"CONTAINER-SECRET\"}");
  auto get = [&w](CredentialsOptions o = {}) {
    auto source = make_credentials_source(w.context(), o);
    Credentials c;
    std::string error;
    const bool ok = source->get(c, error);
    check_no_secret(error);
    return std::make_pair(ok ? c.access_key_id : std::string(), error);
  };
  // profile before container before imds
  CHECK(get().first == "AKIDFILE");
  CHECK(w.http->calls.empty());
  // environment first of all
  w.env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  w.env["AWS_SECRET_ACCESS_KEY"] = "ENV-SECRET";
  CHECK(get().first == "AKIDENV");
  w.env.erase("AWS_ACCESS_KEY_ID");
  w.env.erase("AWS_SECRET_ACCESS_KEY");
  // web identity before the profile
  w.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/t";
  w.env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/web";
  w.files["/t"] = "WEB-IDENTITY-JWT";
  w.http->on(kSts, 200,
             sts_credentials_xml("AssumeRoleWithWebIdentity", "ASIAWEB", "STS-SECRET", "STS-TOKEN",
                                 "2024-01-01T01:00:00Z"));
  CHECK(get().first == "ASIAWEB");
  w.env.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
  w.env.erase("AWS_ROLE_ARN");
  // container before imds
  w.files.clear();
  CHECK(get().first == "ASIACONT");
  w.env.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  CHECK(get().first == "ASIAIMDS");

  // A configured provider that fails stops the chain: no fallback to another identity.
  w.env["AWS_ACCESS_KEY_ID"] = "AKIDENV";  // without the secret
  w.http->calls.clear();
  auto [id, error] = get();
  CHECK(id.empty());
  CHECK(error ==
        "no AWS credentials [environment: FAILED: AWS_ACCESS_KEY_ID is set but "
        "AWS_SECRET_ACCESS_KEY is not]");
  CHECK(w.http->calls.empty());  // IMDS was not asked
}

TEST_CASE("default chain: the failure message lists every provider and why") {
  LogCapture log_capture;
  World w;
  w.env = {{"HOME", "/h"}};
  auto source = make_credentials_source(w.context(), opts());
  Credentials c;
  std::string error;
  CHECK_FALSE(source->get(c, error));
  CHECK(error ==
        "no AWS credentials ["
        "environment: not configured (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set); "
        "web-identity: not configured (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set); "
        "profile default: not configured (no shared config or credentials file (looked for "
        "/h/.aws/config, /h/.aws/credentials)); "
        "container: not configured (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
        "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set); "
        "imds: FAILED: GET http://169.254.169.254/latest/meta-data/iam/security-credentials/: "
        "connection refused (no fake route) (IMDSv1, after no IMDSv2 session token: PUT "
        "http://169.254.169.254/latest/api/token: connection refused (no fake route))]");

  w.env["AWS_EC2_METADATA_DISABLED"] = "true";
  source = make_credentials_source(w.context(), opts());
  CHECK_FALSE(source->get(c, error));
  CHECK(error.find("imds: not configured (disabled by AWS_EC2_METADATA_DISABLED)]") !=
        std::string::npos);
}

namespace {

// A provider whose answers the test scripts, counting calls.
class ScriptedProvider final : public CredentialsProvider {
 public:
  std::string name() const override { return "scripted"; }
  FetchStatus fetch(Credentials& out, std::string& message) override {
    ++calls;
    if (fail) {
      message = "endpoint down";
      return FetchStatus::kFailed;
    }
    out = next;
    return FetchStatus::kOk;
  }
  std::atomic<int> calls{0};
  bool fail = false;
  Credentials next;
};

}  // namespace

TEST_CASE("chain cache: refresh before expiry, keep old credentials on failure, retry interval") {
  LogCapture log_capture;
  TimePoint now = utc(2024, 1, 1);
  auto owned = std::make_unique<ScriptedProvider>();
  ScriptedProvider& p = *owned;
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::move(owned));
  CredentialsChain chain(
      "no AWS credentials", std::move(providers), [&now] { return now; }, std::chrono::minutes(5),
      std::chrono::seconds(10));
  p.next = {"ASIA1", "S1", "T1", utc(2024, 1, 1, 1), ""};
  Credentials c;
  std::string error;
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA1");
  CHECK(c.provider == "scripted");
  CHECK(p.calls.load() == 1);

  now = utc(2024, 1, 1, 0, 54, 59);  // 5 min + 1 s before expiry: cached
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == 1);

  now = utc(2024, 1, 1, 0, 55, 0);  // inside the refresh window: refreshed
  p.next = {"ASIA2", "S2", "T2", utc(2024, 1, 1, 2), ""};
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA2");
  CHECK(p.calls.load() == 2);

  // Refresh fails inside the window: the old credentials are still handed out, and the
  // endpoint is not asked again until the retry interval has passed.
  now = utc(2024, 1, 1, 1, 56);
  p.fail = true;
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA2");
  CHECK(p.calls.load() == 3);
  now += std::chrono::seconds(9);
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == 3);
  now += std::chrono::seconds(1);
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == 4);
  // Once they have expired, the failure is reported.
  now = utc(2024, 1, 1, 2);
  CHECK_FALSE(chain.get(c, error));
  CHECK(error == "no AWS credentials [scripted: FAILED: endpoint down]");
  // No cached credentials: every get() tries again (the caller paces itself).
  CHECK_FALSE(chain.get(c, error));
  CHECK(p.calls.load() == 6);

  p.fail = false;
  p.next = {"ASIA3", "S3", "T3", utc(2024, 1, 1, 3), ""};
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA3");
  // invalidate() forces a fetch.
  p.next = {"ASIA4", "S4", "T4", utc(2024, 1, 1, 4), ""};
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA3");
  chain.invalidate();
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA4");

  // Credentials without expiration are never refreshed.
  p.next = {"AKIDLONG", "S", "", std::nullopt, ""};
  chain.invalidate();
  REQUIRE(chain.get(c, error));
  const int calls = p.calls;
  now = utc(2030, 1, 1);
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == calls);

  // Credentials already expired by this clock are used (AWS decides: the clock may be wrong);
  // incomplete ones are a failure.
  p.next = {"ASIAOLD", "S", "T", utc(2029, 1, 1), ""};
  chain.invalidate();
  CHECK(chain.get(c, error));
  CHECK(c.access_key_id == "ASIAOLD");
  p.next = {"AKID", "", "", std::nullopt, ""};
  chain.invalidate();
  CHECK_FALSE(chain.get(c, error));
  CHECK(error == "no AWS credentials [scripted: FAILED: returned incomplete credentials]");
}

TEST_CASE("chain cache: a clock 2 h ahead of AWS gets credentials, refreshed once per interval") {
  LogCapture log_capture;
  const TimePoint aws_now = utc(2024, 1, 1);
  TimePoint now = aws_now + std::chrono::hours(2);  // this host's clock
  auto owned = std::make_unique<ScriptedProvider>();
  ScriptedProvider& p = *owned;
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::move(owned));
  CredentialsChain chain(
      "cannot assume role", std::move(providers), [&now] { return now; }, std::chrono::minutes(5),
      std::chrono::seconds(30));
  // AssumeRole's credentials, valid for an hour of AWS's time: "expired" by the host's clock.
  p.next = {"ASIA1", "S1", "T1", aws_now + std::chrono::hours(1), ""};
  Credentials c;
  std::string error;
  REQUIRE_MESSAGE(chain.get(c, error), error);
  CHECK(c.access_key_id == "ASIA1");
  CHECK(log_capture.text().find("already past by this host's clock") != std::string::npos);
  CHECK(p.calls.load() == 1);
  // Not fetched again on every call: once per retry interval.
  for (int i = 0; i < 100; ++i) {
    now += std::chrono::milliseconds(200);  // 20 s in all
    REQUIRE(chain.get(c, error));
  }
  CHECK(p.calls.load() == 1);
  now += std::chrono::seconds(10);
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == 2);
  REQUIRE(chain.get(c, error));
  CHECK(p.calls.load() == 2);
}

TEST_CASE("chain cache: concurrent get() fetches once") {
  LogCapture log_capture;
  auto owned = std::make_unique<ScriptedProvider>();
  ScriptedProvider& p = *owned;
  p.next = {"ASIA1", "S1", "T1", utc(2024, 1, 1, 1), ""};
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::move(owned));
  CredentialsChain chain(
      "x", std::move(providers), [] { return utc(2024, 1, 1); }, std::chrono::minutes(5),
      std::chrono::seconds(10));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 200; ++j) {
        Credentials c;
        std::string error;
        if (chain.get(c, error) && c.access_key_id == "ASIA1") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 1600);
  CHECK(p.calls.load() == 1);
}

namespace {

// A provider that blocks in fetch() until released, counting calls.
class BlockingProvider final : public CredentialsProvider {
 public:
  std::string name() const override { return "blocking"; }
  FetchStatus fetch(Credentials& out, std::string&) override {
    std::unique_lock<std::mutex> lock(mu);
    ++calls;
    entered.notify_all();
    released.wait(lock, [&] { return !block; });
    out = next;
    return FetchStatus::kOk;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    block = false;
    released.notify_all();
  }
  std::mutex mu;
  std::condition_variable entered, released;
  int calls = 0;  // guarded by mu
  bool block = false;
  Credentials next;
};

}  // namespace

TEST_CASE("chain cache: a refresh does not hold up callers while the cached ones are valid") {
  LogCapture log_capture;
  std::atomic<int64_t> now_s{0};  // seconds after 2024-01-01T00:00:00Z
  auto owned = std::make_unique<BlockingProvider>();
  BlockingProvider& p = *owned;
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::move(owned));
  CredentialsChain chain(
      "x", std::move(providers),
      [&now_s] { return utc(2024, 1, 1) + std::chrono::seconds(now_s.load()); },
      std::chrono::minutes(5), std::chrono::seconds(10));
  p.next = {"ASIA1", "S1", "T1", utc(2024, 1, 1, 1), ""};
  Credentials c;
  std::string error;
  REQUIRE(chain.get(c, error));

  now_s = 56 * 60;  // inside the refresh window, still valid for 4 minutes
  p.next = {"ASIA2", "S2", "T2", utc(2024, 1, 1, 2), ""};
  p.block = true;
  std::thread refresher([&] {
    Credentials r;
    std::string e;
    CHECK(chain.get(r, e));
    CHECK(r.access_key_id == "ASIA2");
  });
  {
    std::unique_lock<std::mutex> lock(p.mu);
    REQUIRE(p.entered.wait_for(lock, std::chrono::seconds(10), [&] { return p.calls == 2; }));
  }
  // The refresh is blocked in the provider: another caller gets the cached ones at once.
  auto second = std::async(std::launch::async, [&] {
    Credentials r;
    std::string e;
    const bool ok = chain.get(r, e);
    return ok ? r.access_key_id : "failed: " + e;
  });
  const bool prompt = second.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  CHECK_MESSAGE(prompt, "get() waited for the refresh although the cached ones are valid");
  p.release();
  refresher.join();
  CHECK(second.get() == "ASIA1");
  {
    std::lock_guard<std::mutex> lock(p.mu);
    CHECK(p.calls == 2);
  }
  REQUIRE(chain.get(c, error));
  CHECK(c.access_key_id == "ASIA2");

  // Nothing valid to fall back on: callers wait for the fetch in progress and use its result.
  chain.invalidate();
  p.next = {"ASIA3", "S3", "T3", utc(2024, 1, 1, 3), ""};
  p.block = true;
  std::thread first([&] {
    Credentials r;
    std::string e;
    CHECK(chain.get(r, e));
  });
  {
    std::unique_lock<std::mutex> lock(p.mu);
    REQUIRE(p.entered.wait_for(lock, std::chrono::seconds(10), [&] { return p.calls == 3; }));
  }
  auto waiter = std::async(std::launch::async, [&] {
    Credentials r;
    std::string e;
    return chain.get(r, e) ? r.access_key_id : "failed: " + e;
  });
  CHECK(waiter.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  p.release();
  first.join();
  CHECK(waiter.get() == "ASIA3");
  std::lock_guard<std::mutex> lock(p.mu);
  CHECK(p.calls == 3);
}

TEST_CASE("assume role on top of the chain") {
  LogCapture log_capture;
  World w;
  w.env = {{"AWS_ACCESS_KEY_ID", "AKIDSOURCE"},
           {"AWS_SECRET_ACCESS_KEY", "SOURCE-SECRET"},
           {"AWS_SESSION_TOKEN", "SOURCE-TOKEN"},
           {"AWS_REGION", "eu-central-1"}};
  CredentialsOptions o;
  o.role_arn = "arn:aws:iam::999999999999:role/trailwarden";
  o.external_id = "ext-1";
  o.role_session_name = "tw";
  o.role_duration = std::chrono::seconds(1800);
  int n = 0;
  w.http->on("POST https://sts.eu-central-1.amazonaws.com/", [&n](const HttpRequest& r) {
    ++n;
    const std::string* auth = r.find_header("authorization");
    if (auth == nullptr || auth->find("Credential=AKIDSOURCE/") == std::string::npos ||
        auth->find("/eu-central-1/sts/aws4_request") == std::string::npos ||
        *r.find_header("x-amz-security-token") != "SOURCE-TOKEN") {
      return response(403, sts_error_xml("SignatureDoesNotMatch", "bad signature"));
    }
    return response(200, sts_credentials_xml("AssumeRole", "ASIAROLE" + std::to_string(n),
                                             "STS-SECRET", "STS-TOKEN", "2024-01-01T01:00:00Z"));
  });
  auto source = make_credentials_source(w.context(), o);
  Credentials c;
  std::string error;
  REQUIRE_MESSAGE(source->get(c, error), error);
  CHECK(c.access_key_id == "ASIAROLE1");
  CHECK(c.provider ==
        "assume-role arn:aws:iam::999999999999:role/trailwarden (source: environment)");
  auto f = form_fields(w.http->calls.back().request.body);
  CHECK(f["ExternalId"] == "ext-1");
  CHECK(f["RoleSessionName"] == "tw");
  CHECK(f["DurationSeconds"] == "1800");
  // Cached, then refreshed before expiry.
  REQUIRE(source->get(c, error));
  CHECK(n == 1);
  w.now = utc(2024, 1, 1, 0, 56);
  REQUIRE(source->get(c, error));
  CHECK(c.access_key_id == "ASIAROLE2");

  // STS refuses: the message names the role, the call and the AWS error.
  w.http->on("POST https://sts.eu-central-1.amazonaws.com/", 403,
             sts_error_xml("AccessDenied", "not authorized to perform sts:AssumeRole"));
  source = make_credentials_source(w.context(), o);
  CHECK_FALSE(source->get(c, error));
  CHECK(error ==
        "cannot assume role arn:aws:iam::999999999999:role/trailwarden [assume-role "
        "arn:aws:iam::999999999999:role/trailwarden: FAILED: STS AssumeRole "
        "(https://sts.eu-central-1.amazonaws.com): HTTP 403 AccessDenied: not authorized to "
        "perform sts:AssumeRole]");
  check_no_secret(error);

  // No source credentials: the message carries the base chain's.
  w.env.clear();
  w.env["AWS_EC2_METADATA_DISABLED"] = "true";
  source = make_credentials_source(w.context(), o);
  CHECK_FALSE(source->get(c, error));
  CHECK(error.find("FAILED: source credentials: no AWS credentials [environment: not configured") !=
        std::string::npos);
}

TEST_CASE("STS endpoints") {
  LogCapture log_capture;
  StsEndpoint e;
  std::string error;
  REQUIRE(make_sts_endpoint("us-east-1", "", e, error));
  CHECK(e.url() == "https://sts.us-east-1.amazonaws.com/");
  REQUIRE(make_sts_endpoint("cn-north-1", "", e, error));
  CHECK(e.url() == "https://sts.cn-north-1.amazonaws.com.cn/");
  REQUIRE(make_sts_endpoint("us-gov-west-1", "https://sts.example.internal:8443/sts", e, error));
  CHECK(e.url() == "https://sts.example.internal:8443/sts");
  CHECK(e.region == "us-gov-west-1");
  REQUIRE(make_sts_endpoint("us-iso-east-1", "", e, error));  // the partition's own suffix
  CHECK(e.url() == "https://sts.us-iso-east-1.c2s.ic.gov/");
  REQUIRE(make_sts_endpoint("eusc-de-east-1", "", e, error));
  CHECK(e.url() == "https://sts.eusc-de-east-1.amazonaws.eu/");
  // Region names as names.h defines them, the same check as S3's and the configuration's.
  for (const char* bad : {"localhost", "us-east-1-", "-us-east-1", "us--east-1", "x", "us-east",
                          "useast1"}) {
    CAPTURE(bad);
    CHECK_FALSE(make_sts_endpoint(bad, "", e, error));
    CHECK(error.find("not an AWS region name") != std::string::npos);
  }
  CHECK_FALSE(make_sts_endpoint("us east", "", e, error));
  CHECK_FALSE(make_sts_endpoint("", "", e, error));
  CHECK_FALSE(make_sts_endpoint("us-east-1", "sts.amazonaws.com", e, error));
}

TEST_CASE("describe() and the log never show secrets") {
  LogCapture log_capture;
  Credentials c{"ASIAEXAMPLEKEYID1234", "ENV-SECRET", "ENV-TOKEN", utc(2024, 1, 1, 1), "imds"};
  CHECK(describe(c) == "ASIA...1234 from imds, expires 2024-01-01T01:00:00Z");
  c.expiration.reset();
  c.access_key_id = "short";
  CHECK(describe(c) == "**** from imds, long-term");

  // Every log line written while credentials are fetched, refreshed and fail.
  {
    World w;
    serve_imds(w, "app-role", "2024-01-01T00:10:00Z");
    auto source = make_credentials_source(w.context(), opts());
    Credentials got;
    std::string error;
    CHECK(source->get(got, error));
    w.now = utc(2024, 1, 1, 0, 6);
    w.http->on(kImdsRoles + "app-role", 500, "IMDS-SECRET IMDS-TOKEN IMDS-SESSION-TOKEN");
    CHECK(source->get(got, error));  // refresh fails, old credentials kept, WARN logged
    w.now = utc(2024, 1, 1, 0, 11);
    CHECK_FALSE(source->get(got, error));
    check_no_secret(error);
  }
  const std::string text = log_capture.text();
  CHECK(text.find("AWS credentials: **** from imds (role app-role)") != std::string::npos);
  CHECK(text.find("refresh failed") != std::string::npos);
  check_no_secret(text);
}

// ---------------------------------------------------------------------------------------------
// issue 10: IMDSv2 behind a container, container timings, permanent failures

TEST_CASE("imds provider: a token PUT without an answer falls back to IMDSv1 at once") {
  LogCapture log_capture;
  World w;
  // Connected, but the answer never came (the hop limit's symptom).
  w.http->on(kImdsToken,
             [](const HttpRequest&) { return transport_error("timed out after 1000 ms", true); });
  w.http->on(kImdsRoles, [](const HttpRequest& r) {
    return r.find_header("x-aws-ec2-metadata-token") == nullptr ? response(200, "v1-role")
                                                                : response(400, "");
  });
  w.http->on(kImdsRoles + "v1-role", 200,
             imds_json("ASIAV1", "IMDS-SECRET", "IMDS-TOKEN", "2024-01-01T06:00:00Z"));
  Credentials c;
  std::string m;
  auto p = make_imds_provider(w.context(), opts());
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(c.access_key_id == "ASIAV1");
  CHECK(c.provider == "imds (role v1-role, IMDSv1)");
  CHECK(w.http->count("PUT ") == 1);  // a read timeout is not retried (botocore)
  for (const auto& call : w.http->calls) CHECK(call.timeout == std::chrono::milliseconds(1000));

  SUBCASE("IMDSv1 disabled: the error says to raise the hop limit") {
    w.env["AWS_EC2_METADATA_V1_DISABLED"] = "true";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("no IMDSv2 session token (PUT http://169.254.169.254/latest/api/token: timed "
                 "out after 1000 ms), and IMDSv1 is disabled by AWS_EC2_METADATA_V1_DISABLED") ==
          0);
    CHECK(m.find("HttpPutResponseHopLimit to 2") != std::string::npos);
    CHECK(w.http->count("GET ") == 2);  // only the successful run above
  }
  SUBCASE("a PUT that never connects (not on EC2): no hop-limit hint, the endpoint is unreachable") {
    w.env["AWS_EC2_METADATA_V1_DISABLED"] = "true";
    w.http->on(kImdsToken,
               [](const HttpRequest&) { return transport_error("timed out after 1000 ms"); });
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("HttpPutResponseHopLimit") == std::string::npos);
    CHECK(m.find("the instance metadata endpoint accepted no connection: not on EC2") !=
          std::string::npos);
  }
  SUBCASE("IMDSv1 refused by the instance (HttpTokens required): the hint is there too") {
    w.http->on(kImdsRoles, 401, "");
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
    CHECK(m.find("HTTP 401 from GET http://169.254.169.254/latest/meta-data/iam/"
                 "security-credentials/ (IMDSv1, after no IMDSv2 session token") == 0);
    CHECK(m.find("modify-instance-metadata-options") != std::string::npos);
  }
  SUBCASE("connection errors and 5xx are tried AWS_METADATA_SERVICE_NUM_ATTEMPTS times") {
    w.env["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] = "3";
    w.env["AWS_METADATA_SERVICE_TIMEOUT"] = "2.5";
    w.http->on(kImdsToken, 503, "");
    w.http->calls.clear();
    p = make_imds_provider(w.context(), opts());
    REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
    CHECK(w.http->count("PUT ") == 3);
    CHECK(w.http->calls.front().timeout == std::chrono::milliseconds(2500));
    w.env["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] = "zero";
    p = make_imds_provider(w.context(), opts());
    CHECK(fetch(*p, c, m) == FetchStatus::kInvalid);
    CHECK(m == "AWS_METADATA_SERVICE_NUM_ATTEMPTS must be an integer from 1 to 10");
  }
}

TEST_CASE("container provider: botocore's timings (2 s, 3 attempts, 1 s apart)") {
  LogCapture log_capture;
  World w;
  w.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"}};
  int n = 0;
  w.http->on("GET http://169.254.170.23/v1/credentials", [&n](const HttpRequest&) {
    ++n;
    if (n == 1) return transport_error("connection refused");
    if (n == 2) return response(503, "{\"code\":\"NotReady\",\"message\":\"agent starting\"}");
    return response(200,
                    "{\"AccessKeyId\":\"ASIAPOD\",\"SecretAccessKey\":\"CONTAINER-SECRET\","
                    "\"Token\":\"CONTAINER-TOKEN\",\"Expiration\":\"2024-01-01T06:00:00Z\"}");
  });
  std::vector<std::chrono::milliseconds> pauses;
  auto ctx = std::const_pointer_cast<ProviderContext>(w.context());
  ctx->sleep = [&pauses](std::chrono::milliseconds d) { pauses.push_back(d); };
  auto p = make_container_provider(ctx, opts());
  Credentials c;
  std::string m;
  REQUIRE_MESSAGE(fetch(*p, c, m) == FetchStatus::kOk, m);
  CHECK(n == 3);
  CHECK(pauses == std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(1000),
                                                         std::chrono::milliseconds(1000)});
  for (const auto& call : w.http->calls) CHECK(call.timeout == std::chrono::milliseconds(2000));

  // A cancelled context (shutdown) stops between attempts.
  std::atomic<bool> cancel{true};
  ctx->cancel = &cancel;
  n = 0;
  w.http->on("GET http://169.254.170.23/v1/credentials",
             [&n](const HttpRequest&) { return ++n, transport_error("connection refused"); });
  p = make_container_provider(ctx, opts());
  CHECK(fetch(*p, c, m) == FetchStatus::kFailed);
  CHECK(n == 1);
}

TEST_CASE("chain: configuration errors are permanent, the rest are not") {
  LogCapture log_capture;
  World w;
  w.env = {{"HOME", "/h"}, {"AWS_PROFILE", "missing"}};
  w.files["/h/.aws/config"] = "[default]\nregion = us-east-1\n";
  auto source = make_credentials_source(w.context(), opts());
  Credentials c;
  std::string error;
  CHECK_FALSE(source->get(c, error));
  CHECK(source->last_failure_permanent());
  CHECK(error.find("profile missing: FAILED: no profile 'missing'") != std::string::npos);

  // Also through an AssumeRole on top.
  CredentialsOptions o;
  o.role_arn = "arn:aws:iam::1:role/top";
  source = make_credentials_source(w.context(), o);
  CHECK_FALSE(source->get(c, error));
  CHECK(source->last_failure_permanent());

  // A container endpoint that does not answer yet is not permanent.
  w.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"}};
  auto ctx = std::const_pointer_cast<ProviderContext>(w.context());
  ctx->sleep = [](std::chrono::milliseconds) {};
  source = make_credentials_source(ctx, opts());
  CHECK_FALSE(source->get(c, error));
  CHECK_FALSE(source->last_failure_permanent());
  // ... nor is a token file that is not mounted yet.
  w.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/pod-identity/token";
  source = make_credentials_source(w.context(), opts());
  CHECK_FALSE(source->get(c, error));
  CHECK(error.find("does not exist") != std::string::npos);
  CHECK_FALSE(source->last_failure_permanent());
  // A plain-http host that is not allowed is.
  w.env = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds"}};
  source = make_credentials_source(w.context(), opts());
  CHECK_FALSE(source->get(c, error));
  CHECK(source->last_failure_permanent());
}
