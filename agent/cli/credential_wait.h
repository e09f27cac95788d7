// The start-up credential check of `trailwarden run`: waits, with backoff, until the AWS
// credentials can be obtained, instead of exiting on the first failure (a Pod Identity agent or
// an instance role that is not ready yet would otherwise make the pod or unit crash-loop).
//
// Each attempt calls CredentialsSource::get(). A failure that no retry can heal (a
// configuration error, or STS refusing: AccessDenied, InvalidClientTokenId, ExpiredToken ...;
// CredentialsSource::last_failure_permanent) ends the wait at once with kInvalid, unlogged:
// the caller reports it (`run` exits with it). Any other failure (network, timeouts, 5xx, throttling, a token file not mounted
// yet, an expired SSO token) is logged at WARN, one line per attempt, reported through
// `on_waiting` (for /readyz), and tried again after a pause that starts at `initial_delay` and
// doubles up to `max_delay`, each drawn at random from [delay/2, delay] (jitter). `pause`
// returns false when the agent is told to stop: the wait ends with kStopped.
//
// Thread-safety: runs on the caller's thread; `on_waiting` and `pause` are called there.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "agent/aws/credentials.h"

namespace trailwarden::cli {

struct CredentialWaitOptions {
  std::chrono::milliseconds initial_delay{1000};
  std::chrono::milliseconds max_delay{30000};
};

enum class CredentialWaitResult { kReady, kInvalid, kStopped };

// `error` holds the last failure for kInvalid (and kStopped, when an attempt failed before).
CredentialWaitResult wait_for_credentials(
    aws::CredentialsSource& credentials, const CredentialWaitOptions& options,
    const std::function<void(const std::string& why)>& on_waiting,
    const std::function<bool(std::chrono::milliseconds)>& pause, std::string& error);

}  // namespace trailwarden::cli
