// Clock: where the engine and the delivery pipeline get time from, injected so that a test can
// move time by hand (tests/fakes/manual_clock.h) instead of waiting for it.
//
// Contract:
// - now() is monotonic (deadlines, intervals, backoff); wall_now() is calendar time (timestamps,
//   ages). They are independent: a test may move either.
// - wait_until() is the only way a component waits on time: it blocks on `cv` (whose mutex
//   `lock` holds) until `until()` is true or now() reaches `deadline`, and returns until().
//   Real time: std::condition_variable::wait_until. A fake clock wakes its waiters when it is
//   moved. Spurious wake-ups are absorbed; callers never sleep outside it.
// - Implementations are thread-safe; system_clock() lives for the whole process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace trailwarden {

class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  virtual Steady now() const = 0;
  virtual Wall wall_now() const = 0;
  virtual bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          Steady deadline, const std::function<bool()>& until) const = 0;

  // Convenience: wait_until(now() + delay).
  template <typename Rep, typename Period>
  bool wait_for(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                std::chrono::duration<Rep, Period> delay, const std::function<bool()>& until) const {
    return wait_until(lock, cv, now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay),
                      until);
  }
  // Epoch milliseconds of wall_now().
  int64_t wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
  }
};

// Real time.
class SystemClock final : public Clock {
 public:
  Steady now() const override { return std::chrono::steady_clock::now(); }
  Wall wall_now() const override { return std::chrono::system_clock::now(); }
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Steady deadline,
                  const std::function<bool()>& until) const override {
    return cv.wait_until(lock, deadline, until);
  }
};

// The process's real clock: the default wherever a Clock is injected.
inline const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace trailwarden
