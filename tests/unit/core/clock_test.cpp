#include <doctest/doctest.h>
#include <thread>
#include "tests/fakes/manual_clock.h"
using namespace trailwarden;
TEST_CASE("ManualClock: a waiter wakes when time passes its deadline, not before") {
  testing::ManualClock clock;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> woke{false};
  std::thread t([&] {
    std::unique_lock<std::mutex> lock(mu);
    clock.wait_for(lock, cv, std::chrono::seconds(30), [] { return false; });
    woke = true;
  });
  while (clock.waiters() == 0) std::this_thread::yield();
  clock.advance(std::chrono::seconds(29));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // it must still be waiting
  CHECK_FALSE(woke.load());
  clock.advance(std::chrono::seconds(1));
  t.join();
  CHECK(woke.load());
}
TEST_CASE("ManualClock: a waiter wakes when its condition holds; the system clock waits in real time") {
  testing::ManualClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> lock(mu);
    CHECK(clock.wait_for(lock, cv, std::chrono::hours(1), [&] { return ready; }));
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    ready = true;
  }
  cv.notify_all();
  t.join();
  std::unique_lock<std::mutex> lock(mu);
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(system_clock().wait_for(lock, cv, std::chrono::milliseconds(5), [] { return false; }));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(5));
  CHECK(clock.wall_now() > Clock::Wall{std::chrono::hours(24 * 365 * 55)});
}
