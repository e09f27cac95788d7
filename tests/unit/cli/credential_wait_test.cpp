// The start-up wait for AWS credentials: backoff with jitter, the reason reported, permanent
// failures end it at once, a stop request ends it.
#include "agent/cli/credential_wait.h"

#include <doctest/doctest.h>

#include <deque>

#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace std::chrono_literals;

namespace {

// Fails with the queued outcomes, then succeeds.
class ScriptedSource final : public aws::CredentialsSource {
 public:
  struct Outcome {
    std::string error;
    bool permanent = false;
  };
  std::deque<Outcome> failures;
  int calls = 0;

  bool get(aws::Credentials& out, std::string& error) override {
    ++calls;
    if (failures.empty()) {
      out = aws::Credentials{"AKID", "SECRET", "", std::nullopt, "test"};
      permanent_ = false;
      return true;
    }
    error = failures.front().error;
    permanent_ = failures.front().permanent;
    failures.pop_front();
    return false;
  }
  void invalidate() override {}
  bool last_failure_permanent() const override { return permanent_; }

 private:
  bool permanent_ = false;
};

}  // namespace

TEST_CASE("credential wait: backoff doubles to the cap, with jitter, reporting the reason") {
  aws::test::LogCapture log;
  ScriptedSource source;
  for (int i = 0; i < 8; ++i) source.failures.push_back({"HTTP 503 from GET http://x/creds"});
  std::vector<std::string> reasons;
  std::vector<std::chrono::milliseconds> pauses;
  std::string error;
  const auto result = cli::wait_for_credentials(
      source, cli::CredentialWaitOptions{1000ms, 30000ms},
      [&](const std::string& why) { reasons.push_back(why); },
      [&](std::chrono::milliseconds d) {
        pauses.push_back(d);
        return true;
      },
      error);
  CHECK(result == cli::CredentialWaitResult::kReady);
  CHECK(source.calls == 9);
  REQUIRE(pauses.size() == 8);
  const int64_t caps[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (size_t i = 0; i < pauses.size(); ++i) {
    CHECK(pauses[i].count() <= caps[i]);
    CHECK(pauses[i].count() >= caps[i] / 2);
  }
  CHECK(reasons.size() == 8);
  CHECK(reasons.front() == "HTTP 503 from GET http://x/creds");
  const std::string text = log.text();
  CHECK(text.find("[warning] waiting for AWS credentials (attempt 1, next in") !=
        std::string::npos);
  CHECK(text.find("AWS credentials obtained after 9 attempts") != std::string::npos);
}

TEST_CASE("credential wait: a configuration error ends it at once") {
  aws::test::LogCapture log;
  ScriptedSource source;
  source.failures.push_back({"timed out"});
  source.failures.push_back({"no profile 'x'", true});
  int paused = 0;
  std::string error;
  const auto result = cli::wait_for_credentials(
      source, {}, [](const std::string&) {},
      [&](std::chrono::milliseconds) { return ++paused, true; }, error);
  CHECK(result == cli::CredentialWaitResult::kInvalid);
  CHECK(error == "no profile 'x'");
  CHECK(paused == 1);
}

TEST_CASE("credential wait: a stop request ends it") {
  aws::test::LogCapture log;
  ScriptedSource source;
  for (int i = 0; i < 100; ++i) source.failures.push_back({"connection refused"});
  std::string error;
  int paused = 0;
  const auto result = cli::wait_for_credentials(
      source, {}, [](const std::string&) {},
      [&](std::chrono::milliseconds) { return ++paused < 3; }, error);
  CHECK(result == cli::CredentialWaitResult::kStopped);
  CHECK(source.calls == 3);
  CHECK(error == "connection refused");
}
