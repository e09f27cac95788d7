#include "agent/cli/signals.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

namespace trailwarden::cli {

sigset_t block_run_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

RunSignals::RunSignals(const sigset_t& signals, std::atomic<bool>& stop,
                       std::function<void()> reload, std::function<void(int)> on_stop)
    : signals_(signals),
      stop_(stop),
      reload_(std::move(reload)),
      on_stop_(std::move(on_stop)),
      thread_([this] { watch(); }) {}

void RunSignals::watch() {
  while (!stop_) {
    int sig = 0;
    if (sigwait(&signals_, &sig) != 0) continue;
    if (stop_) break;  // woken by ourselves after a fatal error
    if (sig == SIGHUP) {
      reload_();
      continue;
    }
    on_stop_(sig);
    stop_ = true;
  }
}

void RunSignals::finish() {
  if (!thread_.joinable()) return;
  if (!stop_) {  // a fatal error ended the run: wake the signal thread
    stop_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
  }
  thread_.join();
}

}  // namespace trailwarden::cli
