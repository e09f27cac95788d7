// STS on the shared retry rule (agent/http/classify.h): a call that got no answer, a 1xx, 408,
// 429 or 5xx (and STS's own throttling and identity-provider outages) is transient and tried
// again; any other refusal (AccessDenied, InvalidClientTokenId, ExpiredToken,
// MalformedPolicyDocument, RegionDisabledException ...) is permanent: the credential chain
// says so (last_failure_permanent), naming STS's code and message and no secret, and `run`'s
// start-up wait ends at once instead of retrying it.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/cli/credential_wait.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

const std::string kSts = "POST https://sts.us-east-1.amazonaws.com/";

struct Answer {
  int status;           // 0: no answer (transport error)
  std::string code;     // STS's error code
};

// `echoed`: the secret of the request a hostile or buggy peer echoes (never shown).
void answer(World& w, const Answer& a, const std::string& echoed = "SOURCE-SECRET") {
  if (a.status == 0) {
    w.http->on(kSts, [](const HttpRequest&) { return transport_error("connection reset"); });
    return;
  }
  w.http->on(kSts, a.status, sts_error_xml(a.code, "refused for " + echoed));
}

World assume_role_world() {
  World w;
  w.env = {{"AWS_ACCESS_KEY_ID", "AKIDSOURCE"},
           {"AWS_SECRET_ACCESS_KEY", "SOURCE-SECRET"},
           {"AWS_SESSION_TOKEN", "SOURCE-TOKEN"},
           {"AWS_REGION", "us-east-1"},
           {"AWS_EC2_METADATA_DISABLED", "true"}};
  return w;
}

CredentialsOptions assume_role_options() {
  CredentialsOptions o;
  o.role_arn = "arn:aws:iam::999999999999:role/trailwarden";
  o.role_session_name = "tw";
  return o;
}

const std::vector<Answer> kPermanent = {{403, "AccessDenied"},
                                        {403, "InvalidClientTokenId"},
                                        {400, "ExpiredToken"},
                                        {400, "MalformedPolicyDocument"},
                                        {403, "RegionDisabledException"},
                                        {400, "ValidationError"}};
const std::vector<Answer> kTransient = {{0, ""},
                                        {500, "InternalFailure"},
                                        {503, "ServiceUnavailable"},
                                        {429, "TooManyRequestsException"},
                                        {408, "RequestTimeout"},
                                        {400, "Throttling"},
                                        {400, "IDPCommunicationError"}};

void check_clean(const std::string& text) {
  for (const char* secret : {"SOURCE-SECRET", "SOURCE-TOKEN", "WEB-IDENTITY-JWT"})
    CHECK_MESSAGE(text.find(secret) == std::string::npos, "secret " << secret << " in: " << text);
}

}  // namespace

TEST_CASE("STS AssumeRole: a refusal is permanent and names STS's code and message") {
  LogCapture log_capture;
  for (const Answer& a : kPermanent) {
    CAPTURE(a.code);
    World w = assume_role_world();
    answer(w, a);
    auto source = make_credentials_source(w.context(), assume_role_options());
    Credentials c;
    std::string error;
    CHECK_FALSE(source->get(c, error));
    CHECK(source->last_failure_permanent());
    CHECK(error.find("STS AssumeRole") != std::string::npos);
    CHECK(error.find("HTTP " + std::to_string(a.status) + " " + a.code + ": refused for") !=
          std::string::npos);
    check_clean(error);
  }
}

TEST_CASE("STS AssumeRole: no answer, 408, 429, 5xx and throttling are transient") {
  LogCapture log_capture;
  for (const Answer& a : kTransient) {
    CAPTURE(a.code);
    World w = assume_role_world();
    answer(w, a);
    auto source = make_credentials_source(w.context(), assume_role_options());
    Credentials c;
    std::string error;
    CHECK_FALSE(source->get(c, error));
    CHECK_FALSE(source->last_failure_permanent());
    check_clean(error);
    // Tried again on the next get() (after the retry interval), and then it works.
    w.http->on(kSts, 200,
               sts_credentials_xml("AssumeRole", "ASIAROLE", "STS-SECRET", "STS-TOKEN",
                                   "2024-01-01T01:00:00Z"));
    w.now += std::chrono::seconds(11);
    CHECK(source->get(c, error));
    CHECK(c.access_key_id == "ASIAROLE");
  }
}

TEST_CASE("STS AssumeRoleWithWebIdentity: refusals are permanent; a token STS cannot check yet is not") {
  LogCapture log_capture;
  auto fetch_with = [](const Answer& a) {
    World w;
    w.env = {{"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa"},
             {"AWS_WEB_IDENTITY_TOKEN_FILE", "/t"}};
    w.files["/t"] = "WEB-IDENTITY-JWT";
    answer(w, a, "WEB-IDENTITY-JWT");
    auto p = make_web_identity_provider(w.context(), CredentialsOptions{});
    Credentials c;
    std::string m;
    const FetchStatus status = p->fetch(c, m);
    check_clean(m);
    return status;
  };
  for (const Answer& a : kPermanent) {
    CAPTURE(a.code);
    CHECK(fetch_with(a) == FetchStatus::kInvalid);
  }
  for (const Answer& a : kTransient) {
    CAPTURE(a.code);
    CHECK(fetch_with(a) == FetchStatus::kFailed);
  }
  // As the SDKs do for this call: the identity provider's token may not be valid at STS yet.
  CHECK(fetch_with({400, "InvalidIdentityToken"}) == FetchStatus::kFailed);
  CHECK(fetch_with({403, "IDPRejectedClaim"}) == FetchStatus::kInvalid);
}

TEST_CASE("run's credential wait: an STS refusal ends it at once; a 503 is waited through") {
  LogCapture log_capture;
  World w = assume_role_world();
  answer(w, {403, "AccessDenied"});
  auto source = make_credentials_source(w.context(), assume_role_options());
  int waits = 0, pauses = 0;
  std::string error;
  CHECK(cli::wait_for_credentials(
            *source, cli::CredentialWaitOptions{}, [&](const std::string&) { ++waits; },
            [&](std::chrono::milliseconds) {
              ++pauses;
              return false;
            },
            error) == cli::CredentialWaitResult::kInvalid);
  CHECK(waits == 0);
  CHECK(pauses == 0);
  CHECK(error.find("HTTP 403 AccessDenied") != std::string::npos);
  CHECK(log_capture.text().find("waiting for AWS credentials") == std::string::npos);

  World w2 = assume_role_world();
  answer(w2, {503, "ServiceUnavailable"});
  source = make_credentials_source(w2.context(), assume_role_options());
  CHECK(cli::wait_for_credentials(
            *source, cli::CredentialWaitOptions{}, [&](const std::string&) { ++waits; },
            [&](std::chrono::milliseconds) {
              ++pauses;
              return false;  // stop while waiting
            },
            error) == cli::CredentialWaitResult::kStopped);
  CHECK(waits == 1);
  CHECK(pauses == 1);
}
