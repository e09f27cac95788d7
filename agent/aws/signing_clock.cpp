#include "agent/aws/signing_clock.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

namespace trailwarden::aws {

namespace {

// "<ServerTime>2026-12-03T12:43:52Z</ServerTime>" in S3's RequestTimeTooSkewed body.
bool s3_server_time(std::string_view body, TimePoint& out) {
  constexpr std::string_view open = "<ServerTime>", close = "</ServerTime>";
  const size_t a = body.find(open);
  if (a == std::string_view::npos) return false;
  const size_t b = body.find(close, a + open.size());
  if (b == std::string_view::npos || b - a > 64) return false;
  return parse_iso8601(body.substr(a + open.size(), b - a - open.size()), out);
}

}  // namespace

SigningClock& SigningClock::global() {
  static SigningClock clock;
  return clock;
}

TimePoint SigningClock::now() const { return std::chrono::system_clock::now() + offset(); }

std::chrono::milliseconds SigningClock::offset() const {
  return std::chrono::milliseconds(offset_ms_.load(std::memory_order_relaxed));
}

bool SigningClock::correct(TimePoint server_time, TimePoint system_now) {
  using namespace std::chrono;
  const int64_t old_ms = offset_ms_.load();
  const int64_t new_ms = duration_cast<milliseconds>(server_time - system_now).count();
  if (std::llabs(new_ms - old_ms) < duration_cast<milliseconds>(kSkewThreshold).count())
    return false;
  if (std::llabs(new_ms) > duration_cast<milliseconds>(kMaxOffset).count()) {
    spdlog::error(
        "AWS's time ({}) is {} s away from the system clock ({}): more than the {} h "
        "trailwarden corrects; not signing with it. Fix the system clock (NTP)",
        format_iso8601(server_time), new_ms / 1000, format_iso8601(system_now), kMaxOffset.count());
    return false;
  }
  int64_t expected = old_ms;
  if (!offset_ms_.compare_exchange_strong(expected, new_ms)) return true;  // another thread did
  // WARN at most once per kWarnInterval (the metric always has the current offset).
  const int64_t now_ms = duration_cast<milliseconds>(system_now.time_since_epoch()).count();
  int64_t last = last_warn_ms_.load();
  const bool warn =
      (last == INT64_MIN || now_ms - last >= duration_cast<milliseconds>(kWarnInterval).count()) &&
      last_warn_ms_.compare_exchange_strong(last, now_ms);
  const auto level = warn ? spdlog::level::warn : spdlog::level::info;
  const int64_t seconds = new_ms / 1000;
  if (seconds == 0)
    spdlog::log(level, "the system clock agrees with AWS again; signing with the system clock");
  else
    spdlog::log(level, "system clock is {} s {} AWS; signing with AWS's time; fix NTP",
                std::llabs(seconds), seconds > 0 ? "behind" : "ahead of");
  return true;
}

void SigningClock::reset() {
  offset_ms_.store(0);
  last_warn_ms_.store(INT64_MIN);
}

bool is_aws_host(AwsService service, const HttpRequest& request) {
  if (request.scheme != "https") return false;
  std::string_view host = request.host;
  while (true) {
    if (!region_from_endpoint_url(service, "https://" + std::string(host)).empty()) return true;
    // S3's virtual-hosted style: <bucket>.s3.<region>.<suffix> (a bucket name may hold dots).
    const size_t dot = host.find('.');
    if (service != AwsService::kS3 || dot == std::string_view::npos) return false;
    host.remove_prefix(dot + 1);
  }
}

bool is_clock_skew_error(std::string_view code) {
  static constexpr std::string_view kCodes[] = {
      "RequestTimeTooSkewed",      "RequestExpired",        "RequestInTheFuture",
      "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"};
  for (auto c : kCodes)
    if (code == c) return true;
  return false;
}

bool correct_clock_from(const HttpResponse& response, std::string_view code,
                        std::string_view service, TimePoint signed_at, bool from_aws_host) {
  if (!is_clock_skew_error(code)) return false;
  if (!from_aws_host) {
    spdlog::debug("{} answered {} from a host that is not AWS's: the signing clock is kept",
                  service, code);
    return false;
  }
  TimePoint server;
  const std::string* date = response.find_header("date");
  if (!(date && parse_http_date(*date, server)) && !s3_server_time(response.body, server)) {
    spdlog::debug("{} answered {} without a readable Date header: the signing clock is kept",
                  service, code);
    return false;
  }
  SigningClock& clock = SigningClock::global();
  clock.correct(server);
  const auto distance = [](TimePoint a, TimePoint b) { return a > b ? a - b : b - a; };
  if (distance(server, signed_at) < SigningClock::kSkewThreshold ||
      distance(server, clock.now()) >= SigningClock::kSkewThreshold)
    return false;  // not a matter of time, or a time the clock refuses to take
  spdlog::info("{} answered {}: signing again with AWS's time", service, code);
  return true;
}

}  // namespace trailwarden::aws
