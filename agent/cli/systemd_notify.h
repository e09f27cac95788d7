// SystemdNotifier: tells systemd how `run` is doing, on a thread of its own: READY=1 once the
// agent receives (then STATUS= every few seconds), and WATCHDOG=1 at half the watchdog interval
// (WatchdogSec) but only while healthy, so that a wedged agent gets restarted. Outside systemd
// sd_notify does nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace trailwarden::cli {

class SystemdNotifier {
 public:
  struct Probes {
    std::function<bool()> ready;          // the agent receives: READY=1 may be sent
    std::function<std::string()> status;  // the STATUS= line
    std::function<bool()> healthy;        // WATCHDOG=1 is sent only while true
  };
  // `stopping`: no STATUS= updates once set (the stop sends its own).
  SystemdNotifier(Probes probes, const std::atomic<bool>& stopping);
  ~SystemdNotifier() { stop(); }
  void stop();

 private:
  void loop();

  Probes probes_;
  const std::atomic<bool>& stopping_;
  uint64_t watchdog_usec_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

}  // namespace trailwarden::cli
