#include "agent/cli/credential_wait.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace trailwarden::cli {

CredentialWaitResult wait_for_credentials(
    aws::CredentialsSource& credentials, const CredentialWaitOptions& options,
    const std::function<void(const std::string& why)>& on_waiting,
    const std::function<bool(std::chrono::milliseconds)>& pause, std::string& error) {
  std::mt19937_64 rng(std::random_device{}());
  std::chrono::milliseconds delay = options.initial_delay;
  for (uint64_t attempt = 1;; ++attempt) {
    aws::Credentials probe;
    error.clear();
    if (credentials.get(probe, error)) {
      if (attempt > 1) spdlog::info("AWS credentials obtained after {} attempts", attempt);
      return CredentialWaitResult::kReady;
    }
    if (credentials.last_failure_permanent()) return CredentialWaitResult::kInvalid;
    const int64_t high = std::max<int64_t>(delay.count(), 1);
    std::uniform_int_distribution<int64_t> jitter(high / 2, high);
    const std::chrono::milliseconds wait(jitter(rng));
    spdlog::warn("waiting for AWS credentials (attempt {}, next in {:.1f} s): {}", attempt,
                 static_cast<double>(wait.count()) / 1000.0, error);
    on_waiting(error);
    if (!pause(wait)) return CredentialWaitResult::kStopped;
    delay = std::min(delay * 2, options.max_delay);
  }
}

}  // namespace trailwarden::cli
