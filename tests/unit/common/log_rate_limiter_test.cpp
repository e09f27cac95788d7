#include "agent/common/log_rate_limiter.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace trailwarden;
using namespace std::chrono_literals;

TEST_CASE("log rate limiter: keys collapse digits and include the level") {
  CHECK(LogRateLimiter::key_of(3, "attempt 3 of 10 at 12:00") ==
        LogRateLimiter::key_of(3, "attempt 14 of 9 at 1:5"));
  CHECK(LogRateLimiter::key_of(3, "attempt 3") == "3attempt #");
  CHECK(LogRateLimiter::key_of(3, "x") != LogRateLimiter::key_of(4, "x"));
  CHECK(LogRateLimiter::key_of(3, "a1") != LogRateLimiter::key_of(3, "a"));
}

TEST_CASE("log rate limiter: the key table is bounded, the least recently used key goes") {
  LogRateLimiter limiter(1, std::chrono::seconds(60));
  std::vector<LogRateLimiter::Summary> due;
  auto name = [](size_t i) {  // distinct keys without digits
    std::string s = "key ";
    for (int k = 0; k < 3; ++k, i /= 26) s.push_back(static_cast<char>('a' + i % 26));
    return s;
  };
  const LogRateLimiter::Time t0{};
  for (size_t i = 0; i < 1024; ++i) CHECK(limiter.admit(2, name(i), t0, due) == 0u);
  CHECK(limiter.key_count() == 1024);
  CHECK_FALSE(limiter.admit(2, name(1), t0, due));  // still known: suppressed
  CHECK(limiter.admit(2, name(1024), t0, due) == 0u);
  CHECK(limiter.key_count() == 1024);
  CHECK(limiter.admit(2, name(0), t0, due) == 0u);  // evicted as least recently used: new again
  CHECK_FALSE(limiter.admit(2, name(1), t0, due));  // recently used: kept
  for (size_t i = 2000; i < 5000; ++i) limiter.admit(2, name(i), t0, due);
  CHECK(limiter.key_count() == 1024);
  // key 1 had two suppressed lines when it was evicted: reported then.
  REQUIRE(due.size() == 1);
  CHECK(due[0].example == name(1));
  CHECK(due[0].suppressed == 2);
  CHECK(due[0].level == 2);
}

TEST_CASE("log rate limiter: reconfiguration keeps counts, burst 0 forgets them") {
  LogRateLimiter limiter(1, std::chrono::seconds(10));
  std::vector<LogRateLimiter::Summary> due;
  const LogRateLimiter::Time t0{};
  CHECK(limiter.admit(2, "x", t0, due) == 0u);
  CHECK_FALSE(limiter.admit(2, "x", t0, due));
  limiter.reconfigure(1, std::chrono::seconds(20));
  CHECK_FALSE(limiter.admit(2, "x", t0 + 15s, due));
  CHECK(limiter.admit(2, "x", t0 + 20s, due) == 2u);
  limiter.reconfigure(0, std::chrono::seconds(20));
  CHECK(limiter.key_count() == 0);
  CHECK(limiter.admit(2, "x", t0 + 20s, due) == 0u);
  CHECK(limiter.key_count() == 0);
  CHECK(due.empty());
}

TEST_CASE("log rate limiter: long examples are cut on a character boundary") {
  LogRateLimiter limiter(1, std::chrono::seconds(10));
  std::vector<LogRateLimiter::Summary> due;
  const std::string long_text = std::string(511, 'a') + "\xC3\xA9" + std::string(100, 'b');
  limiter.admit(2, long_text, LogRateLimiter::Time{}, due);
  CHECK_FALSE(limiter.admit(2, long_text, LogRateLimiter::Time{}, due));
  limiter.admit(2, "other", LogRateLimiter::Time{} + 10s, due);
  REQUIRE(due.size() == 1);
  CHECK(due[0].example == std::string(511, 'a') + "...");
}
