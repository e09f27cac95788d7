#include "agent/aws/signed_call.h"

#include <algorithm>
#include <random>
#include <thread>

#include "agent/aws/signing_clock.h"
#include "agent/aws/sigv4.h"
#include "agent/common/backoff.h"

namespace trailwarden::aws {

bool is_expired_token_code(std::string_view code) {
  return code == "ExpiredToken" || code == "ExpiredTokenException";
}

SignedCallOptions signed_call_options(AwsService service, std::string display_name,
                                      std::string region, ErrorReader read_error) {
  SignedCallOptions o;
  o.service = std::move(display_name);
  o.endpoint_service = service;
  o.signing_name = std::string(service_name(service));
  o.region = std::move(region);
  o.read_error = std::move(read_error);
  return o;
}

void pause_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>* cancel) {
  if (cancel == nullptr) {
    std::this_thread::sleep_for(d);
    return;
  }
  const auto until = std::chrono::steady_clock::now() + d;
  while (!cancel->load()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
}

SignedCallResult signed_call(HttpClient& http, CredentialsSource& credentials,
                             const HttpRequest& request, std::chrono::milliseconds timeout,
                             const SignedCallOptions& o) {
  using Outcome = SignedCallResult::Outcome;
  using std::chrono::milliseconds;
  thread_local std::mt19937 rng{std::random_device{}()};
  const auto now = [&o] { return o.now ? o.now() : std::chrono::steady_clock::now(); };
  const auto cancelled = [&request] { return request.cancel != nullptr && request.cancel->load(); };
  const int max_attempts = std::max(1, o.max_attempts);
  SignedCallResult res;
  // Bounded: every pass returns, counts a retryable failure (at most max_attempts), or uses
  // the one token refresh or the one clock correction.
  while (true) {
    if (cancelled()) {
      res.outcome = Outcome::kCancelled;
      return res;
    }
    milliseconds request_timeout = timeout;
    if (o.deadline) {
      const auto left = std::chrono::duration_cast<milliseconds>(*o.deadline - now());
      if (left <= milliseconds::zero()) {
        if (res.requests == 0) res.outcome = Outcome::kDeadline;
        res.exhausted = res.requests > 0;
        return res;
      }
      request_timeout = std::min(request_timeout, left);
    }
    Credentials creds;
    std::string error;
    const bool have_credentials = credentials.get(creds, error);
    res.code.clear();  // what the previous pass read is not this one's
    res.message.clear();
    res.error.clear();
    if (!have_credentials) {
      res.outcome = Outcome::kNoCredentials;
      res.error = std::move(error);
      return res;
    }
    HttpRequest req = request;
    const TimePoint signed_at = SigningClock::global().now();
    sign_v4(req, creds, o.region, o.signing_name, signed_at);
    HttpResponse r = http.perform(req, request_timeout);
    ++res.requests;
    if (r.ok()) {
      res.outcome = Outcome::kOk;
      res.response = std::move(r);
      return res;
    }
    if (r.status == 0 || !r.error.empty()) {
      res.outcome = Outcome::kNoAnswer;
      res.error = r.error;
    } else {
      res.outcome = Outcome::kRefused;
      res.code = o.read_error(r, &res.message);
      if (!res.token_refreshed && o.expired_token && o.expired_token(res.code)) {
        res.token_refreshed = true;
        credentials.invalidate();  // refresh and send again at once
        continue;
      }
      if (!res.clock_corrected &&
          correct_clock_from(r, res.code, o.service, signed_at,
                             is_aws_host(o.endpoint_service, req))) {
        res.clock_corrected = true;  // signed again with AWS's time, at once
        continue;
      }
    }
    const int status = res.outcome == Outcome::kNoAnswer ? 0 : r.status;
    res.response = std::move(r);
    if (!o.retryable || !o.retryable(status, res.code)) return res;
    if (++res.failures >= max_attempts) {
      res.exhausted = true;
      return res;
    }
    const milliseconds pause =
        jittered_backoff(o.backoff_base, o.backoff_max, res.failures - 1, rng);
    if (o.deadline && now() + pause >= *o.deadline) {
      res.exhausted = true;
      return res;
    }
    if (o.sleep)
      o.sleep(pause);
    else
      pause_unless_cancelled(pause, request.cancel);
  }
}

}  // namespace trailwarden::aws
