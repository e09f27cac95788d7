// aws::signed_call against a fake HTTP client: what is retried (no answer, 5xx, throttling,
// as the caller's retryable says) and what is not (4xx), the bound on tries and the backoff
// between them, the one credentials refresh on an expired token, the one clock correction,
// cancellation and the deadline, and the request counts the callers' metrics read.
#include "agent/aws/signed_call.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "agent/aws/signing_clock.h"
#include "agent/http/classify.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using aws::SignedCallResult;
using aws::test::FakeHttp;
using aws::test::response;
using Outcome = SignedCallResult::Outcome;

namespace {

constexpr const char* kRoute = "POST https://sqs.us-east-1.amazonaws.com/";

// Key ids "AKID1", "AKID2" ...: a new one after every invalidate().
class CountingCredentials : public aws::CredentialsSource {
 public:
  bool get(aws::Credentials& out, std::string& error) override {
    ++gets;
    if (fail) {
      error = "no provider delivered";
      return false;
    }
    out.access_key_id = "AKID" + std::to_string(generation);
    out.secret_access_key = "very-secret-key-" + std::to_string(generation);
    out.session_token = "session-token-" + std::to_string(generation);
    return true;
  }
  void invalidate() override {
    ++invalidations;
    ++generation;
  }
  int gets = 0, invalidations = 0, generation = 1;
  bool fail = false;
};

std::string json_error(std::string_view type, std::string_view message = "") {
  return fmt::format(R"({{"__type":"com.amazonaws.x#{}","message":"{}"}})", type, message);
}

// "__type" after its '#', and "message", of a JSON error body.
std::string read_error(const http::HttpResponse& r, std::string* message) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  std::string code;
  std::string_view t, m;
  if (p.parse(r.body).get(e) != simdjson::SUCCESS) return code;
  if (e["__type"].get_string().get(t) == simdjson::SUCCESS)
    code = std::string(t.substr(t.rfind('#') + 1));
  if (message && e["message"].get_string().get(m) == simdjson::SUCCESS) *message = std::string(m);
  return code;
}

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  CountingCredentials credentials;
  std::vector<std::chrono::milliseconds> sleeps;
  std::chrono::steady_clock::time_point now{};  // the fake clock the deadline is on
  std::atomic<bool> cancel{false};
  aws::SignedCallOptions options;
  http::HttpRequest request;

  Fixture() {
    aws::SigningClock::global().reset();
    // Signed as "sqs" (whose hosts may correct the clock), named "Test" in log lines.
    options = aws::signed_call_options(aws::AwsService::kSqs, "Test", "us-east-1", &read_error);
    options.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      now += d;
    };
    options.now = [this] { return now; };
    request.method = "POST";
    request.host = "sqs.us-east-1.amazonaws.com";
    request.body = "{}";
    request.cancel = &cancel;
    request.set_header("Content-Type", "application/x-amz-json-1.0");
  }
  ~Fixture() { aws::SigningClock::global().reset(); }

  // Retries what the shared HTTP rule retries, and "Throttling".
  void retry_transient(int max_attempts) {
    options.max_attempts = max_attempts;
    options.retryable = [](int status, std::string_view code) {
      return http::classify_status(status).retryable || code == "Throttling";
    };
  }
  // The answers in order; the last one repeats.
  void answer(std::vector<http::HttpResponse> answers) {
    http->on(kRoute, [answers, n = size_t{0}](const http::HttpRequest&) mutable {
      return answers[std::min(n++, answers.size() - 1)];
    });
  }
  SignedCallResult call(std::chrono::milliseconds timeout = 5000ms) {
    return aws::signed_call(*http, credentials, request, timeout, options);
  }
};

std::string authorization(const FakeHttp::Call& c) {
  const std::string* a = c.request.find_header("authorization");
  return a ? *a : "";
}

// A kRefused result: the last answer's status, AWS's code and message, the requests sent, and
// whether it gave up after max_attempts retryable failures.
void check_refused(const SignedCallResult& r, int status, std::string_view code,
                   std::string_view message, int requests, bool exhausted) {
  CHECK(r.outcome == Outcome::kRefused);
  CHECK(r.response.status == status);
  CHECK(r.code == code);
  CHECK(r.message == message);
  CHECK(r.requests == requests);
  CHECK(r.failures == (exhausted ? requests : 0));
  CHECK(r.exhausted == exhausted);
}

}  // namespace

TEST_CASE("signed_call: a 2xx is kOk with the body; the request is signed for region and service") {
  Fixture f;
  f.answer({response(200, R"({"ok":1})")});
  SignedCallResult r = f.call();
  CHECK(r.ok());
  CHECK(r.response.body == R"({"ok":1})");
  CHECK(r.requests == 1);
  CHECK(r.retries() == 0);
  REQUIRE(f.http->calls.size() == 1);
  const auto& sent = f.http->calls[0].request;
  CHECK(authorization(f.http->calls[0]).find("AKID1/") != std::string::npos);
  CHECK(authorization(f.http->calls[0]).find("/us-east-1/sqs/aws4_request") != std::string::npos);
  CHECK(*sent.find_header("x-amz-security-token") == "session-token-1");
  CHECK(*sent.find_header("Content-Type") == "application/x-amz-json-1.0");
  CHECK(sent.body == "{}");
  CHECK(f.http->calls[0].timeout == 5000ms);
}

TEST_CASE("signed_call: 5xx, throttling and no answer are retried with growing backoff") {
  Fixture f;
  f.retry_transient(6);
  f.options.backoff_base = 100ms;
  f.options.backoff_max = 1000ms;
  http::HttpResponse none;
  none.error = "connection refused";
  f.answer({response(503, ""), response(400, json_error("Throttling")), none,
            response(200, "{}")});
  SignedCallResult r = f.call();
  CHECK_MESSAGE(r.ok(), r.message);
  CHECK(r.requests == 4);
  CHECK(r.failures == 3);
  CHECK(r.retries() == 3);
  CHECK_FALSE(r.exhausted);
  REQUIRE(f.sleeps.size() == 3);
  // base * 2^n capped, jittered in [cap/2, cap].
  CHECK(f.sleeps[0] >= 50ms);
  CHECK(f.sleeps[0] <= 100ms);
  CHECK(f.sleeps[1] >= 100ms);
  CHECK(f.sleeps[1] <= 200ms);
  CHECK(f.sleeps[2] >= 200ms);
  CHECK(f.sleeps[2] <= 400ms);
  CHECK(f.credentials.invalidations == 0);
}

TEST_CASE("signed_call: retries are bounded; the last failure is returned, exhausted") {
  Fixture f;
  f.retry_transient(3);
  f.answer({response(500, json_error("InternalError", "down"))});
  check_refused(f.call(), 500, "InternalError", "down", 3, true);
  CHECK(f.sleeps.size() == 2);
}

TEST_CASE("signed_call: a 4xx is not retried; without `retryable` nothing is") {
  Fixture f;
  f.retry_transient(6);
  f.answer({response(400, json_error("ValidationException", "bad field"))});
  check_refused(f.call(), 400, "ValidationException", "bad field", 1, false);
  CHECK(f.sleeps.empty());

  Fixture g;  // the SQS and SNS way: the caller's own loop retries
  http::HttpResponse none;
  none.error = "timed out after 5000 ms";
  g.answer({none});
  SignedCallResult n = g.call();
  CHECK(n.outcome == Outcome::kNoAnswer);
  CHECK(n.error == "timed out after 5000 ms");
  CHECK(n.requests == 1);
  CHECK(g.sleeps.empty());
}

TEST_CASE("signed_call: an expired token refreshes the credentials once and is sent again") {
  Fixture f;
  f.answer({response(400, json_error("ExpiredTokenException")), response(200, "{}")});
  SignedCallResult r = f.call();
  CHECK(r.ok());
  CHECK(r.token_refreshed);
  CHECK(f.credentials.invalidations == 1);
  REQUIRE(f.http->calls.size() == 2);
  CHECK(authorization(f.http->calls[1]).find("AKID2/") != std::string::npos);
  CHECK(r.requests == 2);
  CHECK(f.sleeps.empty());  // at once, not after a backoff

  Fixture g;  // expired again with the fresh ones: refused, not refreshed twice
  g.retry_transient(6);
  g.answer({response(400, json_error("ExpiredToken"))});
  SignedCallResult e = g.call();
  CHECK(e.outcome == Outcome::kRefused);
  CHECK(e.code == "ExpiredToken");
  CHECK(g.credentials.invalidations == 1);
  CHECK(g.http->calls.size() == 2);

  Fixture h;  // a caller with its own codes (SNS: ExpiredToken only)
  h.options.expired_token = [](std::string_view c) { return c == "ExpiredToken"; };
  h.answer({response(400, json_error("ExpiredTokenException"))});
  CHECK(h.call().outcome == Outcome::kRefused);
  CHECK(h.credentials.invalidations == 0);
}

TEST_CASE("signed_call: a clock-skew refusal corrects the signing clock once, sent again at once") {
  Fixture f;
  aws::test::LogCapture logs;
  const auto aws_now =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) - 10min;
  f.answer({response(400, json_error("InvalidSignatureException", "Signature expired"),
                     {{"date", aws::format_http_date(aws_now)}})});
  SignedCallResult r = f.call();
  CHECK(r.clock_corrected);
  CHECK(r.outcome == Outcome::kRefused);  // refused again: the caller decides
  CHECK(r.code == "InvalidSignatureException");
  CHECK(f.http->calls.size() == 2);
  CHECK(aws::SigningClock::global().offset() < -9min);
  CHECK(logs.text().find("Test answered InvalidSignatureException") != std::string::npos);

  Fixture g;  // an emulator or proxy: its Date never moves the signing clock
  g.request.host = "127.0.0.1:4566";
  g.request.scheme = "http";
  g.http->on("POST http://127.0.0.1:4566/", [&](const http::HttpRequest&) {
    return response(400, json_error("InvalidSignatureException", "Signature expired"),
                    {{"date", aws::format_http_date(aws_now)}});
  });
  SignedCallResult e = g.call();
  CHECK_FALSE(e.clock_corrected);
  CHECK(g.http->calls.size() == 1);
  CHECK(aws::SigningClock::global().offset() == 0ms);
}

TEST_CASE("signed_call: no credentials is kNoCredentials; nothing is sent, nothing retried") {
  Fixture f;
  f.retry_transient(6);
  f.credentials.fail = true;
  SignedCallResult r = f.call();
  CHECK(r.outcome == Outcome::kNoCredentials);
  CHECK(r.error == "no provider delivered");
  CHECK(r.requests == 0);
  CHECK(f.http->calls.empty());
  CHECK(f.sleeps.empty());
}

TEST_CASE("signed_call: cancellation sends nothing more, before the first try or in a backoff") {
  Fixture f;
  f.retry_transient(6);
  f.answer({response(503, "")});
  f.cancel = true;
  SignedCallResult r = f.call();
  CHECK(r.outcome == Outcome::kCancelled);
  CHECK(f.http->calls.empty());

  Fixture g;
  g.retry_transient(6);
  g.answer({response(503, "")});
  g.options.sleep = [&g](std::chrono::milliseconds) { g.cancel = true; };  // SIGTERM meanwhile
  SignedCallResult c = g.call();
  CHECK(c.outcome == Outcome::kCancelled);
  CHECK(g.http->calls.size() == 1);
  CHECK(c.requests == 1);
  CHECK(g.http->calls[0].request.cancel == &g.cancel);  // curl abandons a transfer in flight

  // The real pause (no options.sleep) ends once cancelled: a 10 s backoff is not waited out.
  Fixture h;
  h.retry_transient(6);
  h.options.sleep = nullptr;
  h.options.backoff_base = h.options.backoff_max = 10s;
  h.http->on(kRoute, [&h](const http::HttpRequest&) {
    h.cancel = true;  // SIGTERM while the request was in flight
    return response(503, "");
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(h.call().outcome == Outcome::kCancelled);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(h.http->calls.size() == 1);
}

TEST_CASE("signed_call: the deadline caps request timeouts and ends the retries") {
  Fixture f;
  f.retry_transient(100);
  f.options.backoff_base = 100ms;
  f.options.backoff_max = 100ms;
  f.options.deadline = f.now + 1000ms;
  f.http->on(kRoute, [&f](const http::HttpRequest&) {
    f.now += std::min<std::chrono::milliseconds>(200ms, f.http->calls.back().timeout);  // 200 ms
    return response(503, "");
  });
  SignedCallResult r = f.call(5000ms);
  CHECK(r.outcome == Outcome::kRefused);
  CHECK(r.exhausted);
  CHECK(f.now <= *f.options.deadline);  // no backoff slept past it
  CHECK(r.requests == 4);  // at 200 ms + 50..100 ms a try, the 5th would start too late
  REQUIRE_FALSE(f.http->calls.empty());
  CHECK(f.http->calls[0].timeout == 1000ms);  // capped by the time left, not 5000 ms
  for (size_t i = 1; i < f.http->calls.size(); ++i)
    CHECK(f.http->calls[i].timeout < f.http->calls[i - 1].timeout);

  Fixture g;  // already past: nothing is sent
  g.options.deadline = g.now;
  g.answer({response(200, "{}")});
  CHECK(g.call().outcome == Outcome::kDeadline);
  CHECK(g.http->calls.empty());
}
