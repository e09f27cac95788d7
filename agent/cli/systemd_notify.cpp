#include "agent/cli/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>

namespace trailwarden::cli {

SystemdNotifier::SystemdNotifier(Probes probes, const std::atomic<bool>& stopping)
    : probes_(std::move(probes)), stopping_(stopping) {
  if (sd_watchdog_enabled(0, &watchdog_usec_) <= 0) watchdog_usec_ = 0;
  thread_ = std::thread([this] { loop(); });
}

void SystemdNotifier::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SystemdNotifier::loop() {
  auto period = std::chrono::milliseconds(5000);
  if (watchdog_usec_) period = std::min(period, std::chrono::milliseconds(watchdog_usec_ / 2000));
  bool ready_sent = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!ready_sent && probes_.ready()) {
      sd_notifyf(0, "READY=1\nSTATUS=%s", probes_.status().c_str());
      ready_sent = true;
    } else if (ready_sent && !stopping_) {
      sd_notifyf(0, "STATUS=%s", probes_.status().c_str());
    }
    if (watchdog_usec_ && probes_.healthy()) sd_notify(0, "WATCHDOG=1");
    cv_.wait_for(lock, ready_sent ? period : std::chrono::milliseconds(100), [&] { return stop_; });
  }
}

}  // namespace trailwarden::cli
