// AWS credentials and the provider chain that finds them, in the AWS SDKs' order:
//
//   1. environment   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]
//   2. web-identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME]:
//                    STS AssumeRoleWithWebIdentity (unsigned), e.g. EKS IRSA
//   3. profile       shared credentials and config files (AWS_SHARED_CREDENTIALS_FILE,
//                    AWS_CONFIG_FILE, AWS_PROFILE): static keys, role_arn with source_profile
//                    (chains) or credential_source, web_identity_token_file, sso_session or
//                    legacy sso_* keys (the `aws sso login` token cache: sso_credentials.h),
//                    credential_process (process_credentials.h)
//   4. container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or _FULL_URI (EKS Pod
//                    Identity, Greengrass) with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]
//   5. imds          EC2 instance metadata, IMDSv2 (token) with the SDKs' IMDSv1 fallback
//
// and, optionally, a role assumed with STS AssumeRole on top of whatever the chain found.
//
// A provider whose trigger is absent ("not configured") passes to the next one. A provider
// that is configured but fails stops the chain: falling through to another identity (say, the
// instance role instead of the intended one) would be a silent privilege change. The error
// lists every provider tried and why each did not deliver.
//
// A failure is either transient (network, timeouts, 5xx, throttling, a token file not mounted
// yet: trying again later may succeed) or one that no retry can heal: a configuration error (a
// malformed profile file, a named profile that does not exist, mutually exclusive settings) or
// a refusal from STS (AccessDenied, InvalidClientTokenId, ExpiredToken ...: sts.h
// sts_failure_permanent, the HTTP rule of agent/http/classify.h): FetchStatus::kInvalid.
// `trailwarden run` waits for the first kind at start-up and exits on the second
// (CredentialsSource::last_failure_permanent), as an SDK's call fails at once on them.
//
// Secrets (secret keys, session tokens, web identity and container authorization tokens) never
// appear in any message or log line: messages name providers, files, URLs, HTTP statuses and
// AWS error codes only, and text echoed by a peer is scrubbed of every secret known here.
//
// Everything that touches the outside world (environment, files, HTTP, clock) comes in through
// ProviderContext so that tests inject fakes. Thread-safety: providers are not thread-safe on
// their own; CredentialsChain serialises them and its get() is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/http/http.h"
#include "agent/aws/time_util.h"

namespace trailwarden::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;        // secret
  std::string session_token;            // secret; empty for long-term keys
  std::optional<TimePoint> expiration;  // nullopt: does not expire
  std::string provider;  // what produced them: "environment", "profile dev", "imds", ...

  bool complete() const { return !access_key_id.empty() && !secret_access_key.empty(); }
};

// For messages: "AKIA…MPLE from imds, expires 2025-01-01T00:00:00Z". Never the secret or
// token; the key id is shortened to its first and last four characters.
std::string describe(const Credentials& credentials);

// Credentials from the string fields of a provider's answer (IMDS/ECS JSON, credential_process
// output), checked: the key id (at most 128 bytes), the secret and the token when present must be
// header_safe(); the expiration, when present, ISO 8601. An absent token or expiration is an
// empty view. On failure, `error` begins with `what` (the answer's name: "response", "its
// output") and names the bad field, never its value (an expiration is quoted, shortened).
bool build_credentials(std::string_view what, std::string_view id, std::string_view secret,
                       std::string_view token, std::string_view expiration, Credentials& out,
                       std::string& error);

// ---- The outside world, injectable ----

using Environment = std::map<std::string, std::string, std::less<>>;
// A copy of the process environment (environ), taken once at start-up.
Environment process_environment();

enum class ReadStatus { kOk, kNotFound, kError };
// Reads a whole (small) file: kNotFound when it does not exist, kError with `error` otherwise.
using FileReader =
    std::function<ReadStatus(const std::string& path, std::string& content, std::string& error)>;
// Reads from disk, refusing files over max_bytes.
FileReader disk_file_reader(size_t max_bytes = size_t{1} << 20);

using Clock = std::function<TimePoint()>;

// Shared, read-only after construction, by all providers of a chain.
struct ProviderContext {
  Environment env;  // never the live process environment in tests
  FileReader read_file = disk_file_reader();
  std::shared_ptr<HttpClient> http;  // STS, container endpoint, IMDS; required
  Clock now = [] { return std::chrono::system_clock::now(); };
  // Pauses between attempts (container endpoint). Empty: the real clock, in slices, returning
  // early once *cancel is true. Tests record the pauses instead.
  std::function<void(std::chrono::milliseconds)> sleep;
  // When set and true, pauses end and HTTP requests to the metadata endpoints are abandoned
  // (shutdown). Not owned.
  const std::atomic<bool>* cancel = nullptr;

  // Value of env var `name`, or "" when unset.
  std::string getenv(std::string_view name) const;
  // Waits `d` (or less when cancelled), through `sleep` when it is set.
  void pause(std::chrono::milliseconds d) const;
  bool cancelled() const { return cancel != nullptr && cancel->load(); }
};

struct CredentialsOptions {
  // Profile in the shared files; empty: AWS_PROFILE, else "default".
  std::string profile;
  // Region of the STS endpoint; empty: AWS_REGION, then AWS_DEFAULT_REGION, else us-east-1.
  std::string region;
  // STS endpoint URL; empty: AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, else
  // https://sts.<region>.amazonaws.com (.com.cn in China regions). agent/aws/endpoints.h.
  std::string sts_endpoint;
  // FIPS / dual-stack STS hosts (or AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT = true);
  // ignore sts_endpoint and the endpoint variables (or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
  bool use_fips_endpoint = false;
  bool use_dualstack_endpoint = false;
  bool ignore_configured_endpoint_urls = false;
  // Role assumed with STS AssumeRole (signed with the chain's credentials); empty: none.
  std::string role_arn;
  std::string external_id;                // sent as ExternalId when not empty
  std::string role_session_name;          // empty: "trailwarden-<unix seconds>"
  std::chrono::seconds role_duration{0};  // DurationSeconds; 0: STS default (one hour)
  // Temporary credentials are refreshed this long before they expire.
  std::chrono::seconds refresh_before_expiry{300};
  // After a failed refresh, while the old credentials are still valid, wait this long before
  // trying again (so that an unreachable endpoint is not hammered on every request).
  std::chrono::seconds retry_interval{10};
  std::chrono::milliseconds sts_timeout{10000};
  // EC2 instance metadata, per request, as botocore (DEFAULT_METADATA_SERVICE_TIMEOUT, 1 s;
  // num_attempts 1); AWS_METADATA_SERVICE_TIMEOUT and AWS_METADATA_SERVICE_NUM_ATTEMPTS
  // override them as they do for the SDKs.
  std::chrono::milliseconds metadata_timeout{1000};
  int metadata_attempts = 1;
  // Container endpoint (ECS, EKS Pod Identity), as botocore's ContainerMetadataFetcher:
  // TIMEOUT_SECONDS 2, RETRY_ATTEMPTS 3, SLEEP_TIME 1 s between attempts (any failure:
  // transport error, non-200 status, unreadable body).
  std::chrono::milliseconds container_timeout{2000};
  int container_attempts = 3;
  std::chrono::milliseconds container_retry_pause{1000};
  // credential_process: the command is killed (its whole process group) after this long, as
  // the Go SDK's processcreds (DefaultTimeout, one minute).
  std::chrono::milliseconds process_timeout{60000};
};

// ---- Providers ----

enum class FetchStatus {
  kOk,
  kNotConfigured,  // its trigger is absent: the chain goes on
  kFailed,         // configured but failed: the chain stops; trying again later may succeed
  kInvalid,        // misconfigured (malformed file, unknown profile, conflicting settings) or
                   // refused by STS for good (AccessDenied ...): the chain stops, and no retry
                   // can help until the configuration or IAM changes
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Short name for messages: "environment", "profile dev", "container", "imds", ...
  virtual std::string name() const = 0;
  // On kOk fills `out` (complete, `provider` set). Otherwise `message` says why (without the
  // provider's name, which the caller adds). Not thread-safe.
  virtual FetchStatus fetch(Credentials& out, std::string& message) = 0;
};

// Something that hands out valid credentials: thread-safe.
class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  // Current credentials, refreshed when due. false with `error` when there are none.
  virtual bool get(Credentials& out, std::string& error) = 0;
  // Drops the cached credentials so that the next get() fetches again (e.g. after AWS answered
  // ExpiredToken or InvalidClientTokenId).
  virtual void invalidate() = 0;
  // Successful fetches (the first one and every refresh) and failed ones, for metrics.
  virtual uint64_t fetches() const { return 0; }
  virtual uint64_t fetch_failures() const { return 0; }
  // True when the last failed get() failed on a configuration error or an STS refusal
  // (FetchStatus::kInvalid), which no retry heals.
  virtual bool last_failure_permanent() const { return false; }
};

// Tries providers in order and caches the result. Temporary credentials are refreshed
// refresh_before_expiry before they expire; if a refresh fails while the old ones are still
// valid, those are returned (and the failure logged once per attempt at WARN). Thread-safe:
// one caller fetches at a time. While the cached credentials are still valid (the refresh
// window), one caller refreshes and the others get the cached ones at once; only callers with
// no valid credentials to fall back on wait for the fetch in progress (and then use its result
// rather than all calling the endpoint). Credentials that look expired by `now` when they
// arrive (a host clock ahead of AWS) are used, with a WARN, and fetched again at most once per
// retry_interval: AWS, not the local clock, decides whether they are still valid.
class CredentialsChain final : public CredentialsSource {
 public:
  // `what` starts error messages ("no AWS credentials").
  CredentialsChain(std::string what, std::vector<std::unique_ptr<CredentialsProvider>> providers,
                   Clock now, std::chrono::seconds refresh_before_expiry,
                   std::chrono::seconds retry_interval);

  bool get(Credentials& out, std::string& error) override;
  void invalidate() override;
  uint64_t fetches() const override { return fetches_.load(); }
  uint64_t fetch_failures() const override { return fetch_failures_.load(); }
  bool last_failure_permanent() const override { return permanent_.load(); }

 private:
  enum class Decision { kServe, kRefresh, kFetch };
  // Under mu_: kServe (`out` set from the cache), kRefresh (still valid, due: this caller
  // refreshes) or kFetch (nothing valid: fetch, waiting for one in progress).
  Decision decide(TimePoint now, Credentials& out);
  bool resolve(Credentials& out, std::string& error, bool& permanent);

  const std::string what_;
  const std::vector<std::unique_ptr<CredentialsProvider>> providers_;
  const Clock now_;
  const std::chrono::seconds refresh_before_;
  const std::chrono::seconds retry_interval_;
  std::mutex fetch_mu_;  // held while the providers run; taken before mu_, never after
  std::mutex mu_;
  std::optional<Credentials> cached_;  // guarded by mu_
  TimePoint next_attempt_{};           // guarded by mu_
  bool refreshing_ = false;            // guarded by mu_: a refresh of valid ones is running
  bool stale_on_arrival_ = false;      // guarded by mu_: cached_ looked expired when fetched
  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> fetch_failures_{0};
  std::atomic<bool> permanent_{false};
};

// Context with the real environment, disk, system clock and the given HTTP client. `cancel`
// (not owned; may be null) becomes ProviderContext::cancel: `trailwarden run` sets it on
// SIGTERM/SIGINT so that no credential fetch holds up a stop.
std::shared_ptr<const ProviderContext> make_process_context(
    std::shared_ptr<HttpClient> http, const std::atomic<bool>* cancel = nullptr);

// Individual providers (all share `ctx`, which must be complete: env, read_file, http, now).
std::unique_ptr<CredentialsProvider> make_environment_provider(
    std::shared_ptr<const ProviderContext> ctx);
std::unique_ptr<CredentialsProvider> make_web_identity_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options);
std::unique_ptr<CredentialsProvider> make_profile_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options);
std::unique_ptr<CredentialsProvider> make_container_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options);
std::unique_ptr<CredentialsProvider> make_imds_provider(std::shared_ptr<const ProviderContext> ctx,
                                                        const CredentialsOptions& options);
// STS AssumeRole of options.role_arn with credentials from `source`.
std::unique_ptr<CredentialsProvider> make_assume_role_provider(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options,
    std::shared_ptr<CredentialsSource> source);

// The five providers above in the SDK order.
std::vector<std::unique_ptr<CredentialsProvider>> make_default_providers(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options);

// What `trailwarden run` uses: the default chain, cached, with options.role_arn (if any)
// assumed on top and cached too.
std::shared_ptr<CredentialsSource> make_credentials_source(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options);

}  // namespace trailwarden::aws
