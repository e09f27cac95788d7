// ManualClock: a Clock (agent/core/clock.h) that moves only when a test says so. Waiters in
// wait_until() wake when advance() passes their deadline (or their condition becomes true by
// other means), so a test of a 30 s backoff takes microseconds and never depends on the load of
// the machine.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "agent/core/clock.h"

namespace trailwarden::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Wall wall = Wall{std::chrono::hours(24 * 365 * 56)})  // ~2026
      : wall_offset_(wall.time_since_epoch()) {}

  Steady now() const override { return Steady{std::chrono::steady_clock::duration{ticks_.load()}}; }
  Wall wall_now() const override {
    return Wall{std::chrono::duration_cast<Wall::duration>(
        wall_offset_ + std::chrono::steady_clock::duration{ticks_.load()})};
  }
  // Moves both clocks forward by `d`; waiters whose deadline passed wake up.
  void advance(std::chrono::steady_clock::duration d) { ticks_ += d.count(); }
  // Number of threads inside wait_until() now: lets a test wait until a component is waiting.
  int waiters() const { return waiters_.load(); }
  // Waits (real time, at most `limit`: a bound for a broken test, not a pause) until at least
  // `n` threads are inside wait_until(). False if they never came.
  bool await_waiters(int n, std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    while (waiters_.load() < n) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }

  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Steady deadline,
                  const std::function<bool()>& until) const override {
    ++waiters_;
    // Re-checks every millisecond of real time: advance() need not know the waiters' mutexes
    // and cannot lose a wake-up.
    while (!until() && now() < deadline) cv.wait_for(lock, std::chrono::milliseconds(1));
    --waiters_;
    return until();
  }

 private:
  std::chrono::steady_clock::duration wall_offset_;
  std::atomic<std::chrono::steady_clock::rep> ticks_{0};  // steady_clock ticks since start
  mutable std::atomic<int> waiters_{0};
};

}  // namespace trailwarden::testing
