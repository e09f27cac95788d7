// The signals `run` takes. They are blocked in every thread (block_run_signals(), before any
// thread starts) and taken by one thread with sigwait():
// - StartupSignals while the start-up waits for AWS credentials: SIGTERM/SIGINT stop it,
//   SIGHUP is ignored;
// - RunSignals while the agent runs: SIGHUP reloads, SIGTERM/SIGINT stop.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace trailwarden::cli {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it starts); returns
// the set.
sigset_t block_run_signals();

// Takes SIGTERM and SIGINT (blocked, so with sigtimedwait) on a thread of its own while the
// start-up waits for AWS credentials. A stop sets `cancel`, which ends a credential fetch in
// progress at once (credential_process killed with its group, metadata/STS/SSO requests
// abandoned), and ends pause(). SIGHUP is ignored while starting.
class StartupSignals {
 public:
  StartupSignals(const sigset_t& signals, std::atomic<bool>& cancel)
      : signals_(signals), cancel_(cancel), thread_([this] { watch(); }) {}
  ~StartupSignals() { finish(); }
  // Stops watching, at once (the watcher is woken with a SIGHUP sent to it alone). A SIGTERM or
  // SIGINT taken until then is in stopped(); later ones stay pending for the daemon's signal
  // thread.
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      if (!exited_) pthread_kill(thread_.native_handle(), SIGHUP);
    }
    if (thread_.joinable()) thread_.join();
  }
  // Waits up to `d`: false when a stop arrived.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopped_; });
    return !stopped_;
  }
  // Call after finish(): whether SIGTERM or SIGINT arrived while watching.
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

 private:
  void watch() {
    const timespec slice{1, 0};
    for (;;) {
      const int sig = sigtimedwait(&signals_, nullptr, &slice);
      std::lock_guard<std::mutex> lock(mu_);
      if (sig == SIGTERM || sig == SIGINT) {
        spdlog::info("received {} while waiting for AWS credentials, stopping",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        cancel_ = true;
        stopped_ = true;
        exited_ = true;
        cv_.notify_all();
        return;
      }
      if (done_) {  // woken by finish()
        exited_ = true;
        return;
      }
      if (sig == SIGHUP) spdlog::info("SIGHUP ignored while waiting for AWS credentials");
      // -1: EAGAIN (the slice ended) or EINTR.
    }
  }

  const sigset_t signals_;
  std::atomic<bool>& cancel_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;     // guarded by mu_
  bool stopped_ = false;  // guarded by mu_
  bool exited_ = false;   // guarded by mu_: watch() returned or is about to
  std::thread thread_;    // last: starts once the rest is constructed
};

// Takes the signals while the agent runs, on a thread of its own: SIGHUP calls `reload`;
// SIGTERM or SIGINT calls `on_stop` once, then sets `stop`.
class RunSignals {
 public:
  RunSignals(const sigset_t& signals, std::atomic<bool>& stop, std::function<void()> reload,
             std::function<void(int signal)> on_stop);
  ~RunSignals() { finish(); }
  // Ends the thread: after a fatal error (no signal came) it sets `stop` and wakes the thread.
  void finish();

 private:
  void watch();

  const sigset_t signals_;
  std::atomic<bool>& stop_;
  std::function<void()> reload_;
  std::function<void(int)> on_stop_;
  std::thread thread_;  // last: starts once the rest is constructed
};

}  // namespace trailwarden::cli
