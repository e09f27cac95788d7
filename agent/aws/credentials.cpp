#include "agent/aws/credentials.h"
#include "agent/aws/signed_call.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "agent/aws/signing_clock.h"

extern char** environ;

namespace trailwarden::aws {

std::string describe(const Credentials& credentials) {
  const std::string& id = credentials.access_key_id;
  std::string out = id.size() > 8 ? id.substr(0, 4) + "..." + id.substr(id.size() - 4) : "****";
  out += " from ";
  out += credentials.provider.empty() ? std::string("an unnamed provider") : credentials.provider;
  if (credentials.expiration) {
    out += ", expires ";
    out += format_iso8601(*credentials.expiration);
  } else {
    out += ", long-term";
  }
  return out;
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

FileReader disk_file_reader(size_t max_bytes) {
  return [max_bytes](const std::string& path, std::string& content, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rbe");  // "e": O_CLOEXEC
    if (f == nullptr) {
      const int e = errno;
      if (e == ENOENT || e == ENOTDIR) return ReadStatus::kNotFound;
      error = path + ": " + std::strerror(e);
      return ReadStatus::kError;
    }
    content.clear();
    char buf[16384];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      if (content.size() + n > max_bytes) {
        std::fclose(f);
        error = path + ": larger than " + std::to_string(max_bytes) + " bytes";
        return ReadStatus::kError;
      }
      content.append(buf, n);
    }
    const bool failed = std::ferror(f) != 0;
    const int e = errno;
    std::fclose(f);
    if (failed) {
      error = path + ": " + std::strerror(e);
      return ReadStatus::kError;
    }
    return ReadStatus::kOk;
  };
}

std::string ProviderContext::getenv(std::string_view name) const {
  const auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

void ProviderContext::pause(std::chrono::milliseconds d) const {
  if (sleep) {
    sleep(d);
    return;
  }
  pause_unless_cancelled(d, cancel);
}

std::shared_ptr<const ProviderContext> make_process_context(std::shared_ptr<HttpClient> http,
                                                            const std::atomic<bool>* cancel) {
  auto ctx = std::make_shared<ProviderContext>();
  ctx->env = process_environment();
  ctx->read_file = disk_file_reader();
  ctx->http = std::move(http);
  ctx->now = [] { return std::chrono::system_clock::now(); };
  ctx->cancel = cancel;
  return ctx;
}

// ---- CredentialsChain ----

CredentialsChain::CredentialsChain(std::string what,
                                   std::vector<std::unique_ptr<CredentialsProvider>> providers,
                                   Clock now, std::chrono::seconds refresh_before_expiry,
                                   std::chrono::seconds retry_interval)
    : what_(std::move(what)),
      providers_(std::move(providers)),
      now_(std::move(now)),
      refresh_before_(refresh_before_expiry),
      retry_interval_(retry_interval) {}

bool CredentialsChain::resolve(Credentials& out, std::string& error, bool& permanent) {
  permanent = false;
  std::string tried;
  for (const auto& provider : providers_) {
    Credentials c;
    std::string message;
    const FetchStatus status = provider->fetch(c, message);
    if (!tried.empty()) tried += "; ";
    tried += provider->name();
    if (status == FetchStatus::kNotConfigured) {
      tried += ": not configured (" + message + ")";
      continue;
    }
    std::string failure;
    if (status == FetchStatus::kFailed || status == FetchStatus::kInvalid) {
      failure = message.empty() ? std::string("unknown error") : message;
      permanent = status == FetchStatus::kInvalid;
    } else if (!c.complete()) {
      failure = "returned incomplete credentials";
    }
    if (!failure.empty()) {
      tried += ": FAILED: " + failure;
      error = what_ + " [" + tried + "]";
      return false;
    }
    if (c.provider.empty()) c.provider = provider->name();
    out = std::move(c);
    return true;
  }
  error = what_ + " [" + (tried.empty() ? std::string("no providers") : tried) + "]";
  return false;
}

CredentialsChain::Decision CredentialsChain::decide(TimePoint now, Credentials& out) {
  if (cached_) {
    const bool fresh = !cached_->expiration || now < *cached_->expiration - refresh_before_;
    const bool usable = !cached_->expiration || now < *cached_->expiration;
    // Expired by this host's clock when they arrived (a clock hours ahead of AWS): used until
    // the retry interval has passed, then fetched again; AWS judges them (ExpiredToken).
    if (!usable && stale_on_arrival_ && now < next_attempt_) {
      out = *cached_;
      return Decision::kServe;
    }
    // Still valid: served while another caller refreshes, or until the retry interval after a
    // failed refresh has passed.
    if (fresh || (usable && (refreshing_ || now < next_attempt_))) {
      out = *cached_;
      return Decision::kServe;
    }
    if (usable) {
      refreshing_ = true;  // this caller refreshes; the others keep the cached ones meanwhile
      next_attempt_ = now + retry_interval_;
      return Decision::kRefresh;
    }
  }
  return Decision::kFetch;
}

bool CredentialsChain::get(Credentials& out, std::string& error) {
  Decision decision;
  {
    std::lock_guard<std::mutex> lock(mu_);
    decision = decide(now_(), out);
    if (decision == Decision::kServe) return true;
  }
  // One fetch at a time (providers are not thread-safe, and concurrent callers without valid
  // credentials wait for its result rather than all calling the endpoint).
  std::lock_guard<std::mutex> fetching(fetch_mu_);
  if (decision == Decision::kFetch) {
    std::lock_guard<std::mutex> lock(mu_);
    const TimePoint now = now_();
    decision = decide(now, out);  // the fetch waited for may have delivered
    if (decision == Decision::kServe) return true;
    next_attempt_ = now + retry_interval_;
  }
  Credentials fetched;
  std::string why;
  bool permanent = false;
  const bool ok = resolve(fetched, why, permanent);

  std::lock_guard<std::mutex> lock(mu_);
  refreshing_ = false;
  if (ok) {
    ++fetches_;
    permanent_ = false;
    if (!cached_ || cached_->access_key_id != fetched.access_key_id ||
        cached_->provider != fetched.provider) {
      spdlog::info("AWS credentials: {}", describe(fetched));
    } else {
      spdlog::debug("AWS credentials refreshed: {}", describe(fetched));
    }
    cached_ = std::move(fetched);
    const TimePoint now = now_();
    stale_on_arrival_ = cached_->expiration && *cached_->expiration <= now;
    if (stale_on_arrival_)
      spdlog::warn(
          "{}: {} handed out credentials that expire at {}, already past by this host's clock "
          "({}): using them anyway (AWS decides; refused ones answer ExpiredToken) and asking "
          "again in {} s at the earliest. Is the system clock right (NTP)?",
          what_, cached_->provider, format_iso8601(*cached_->expiration), format_iso8601(now),
          retry_interval_.count());
    out = *cached_;
    return true;
  }
  ++fetch_failures_;
  permanent_ = permanent;
  const TimePoint now = now_();
  const bool usable = cached_ && (!cached_->expiration || now < *cached_->expiration);
  if (cached_) {
    // A peer's error text might quote what it handed out before.
    scrub_secret(why, cached_->secret_access_key);
    scrub_secret(why, cached_->session_token);
  }
  if (usable) {
    spdlog::warn("{}: refresh failed, still using {} until they expire: {}", what_,
                 describe(*cached_), why);
    out = *cached_;
    return true;
  }
  cached_.reset();
  error = std::move(why);
  return false;
}

void CredentialsChain::invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  cached_.reset();
  next_attempt_ = TimePoint{};
}

// ---- environment ----

namespace {

class EnvironmentProvider final : public CredentialsProvider {
 public:
  explicit EnvironmentProvider(std::shared_ptr<const ProviderContext> ctx) : ctx_(std::move(ctx)) {}
  std::string name() const override { return "environment"; }

  FetchStatus fetch(Credentials& out, std::string& message) override {
    const std::string id = ctx_->getenv("AWS_ACCESS_KEY_ID");
    const std::string secret = ctx_->getenv("AWS_SECRET_ACCESS_KEY");
    if (id.empty() && secret.empty()) {
      message = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set";
      return FetchStatus::kNotConfigured;
    }
    if (id.empty() || secret.empty()) {
      message = id.empty() ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                           : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not";
      return FetchStatus::kInvalid;
    }
    out = Credentials{id, secret, ctx_->getenv("AWS_SESSION_TOKEN"), std::nullopt, name()};
    return FetchStatus::kOk;
  }

 private:
  std::shared_ptr<const ProviderContext> ctx_;
};

}  // namespace

std::unique_ptr<CredentialsProvider> make_environment_provider(
    std::shared_ptr<const ProviderContext> ctx) {
  return std::make_unique<EnvironmentProvider>(std::move(ctx));
}

std::vector<std::unique_ptr<CredentialsProvider>> make_default_providers(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options) {
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(make_environment_provider(ctx));
  providers.push_back(make_web_identity_provider(ctx, options));
  providers.push_back(make_profile_provider(ctx, options));
  providers.push_back(make_container_provider(ctx, options));
  providers.push_back(make_imds_provider(ctx, options));
  return providers;
}

std::shared_ptr<CredentialsSource> make_credentials_source(
    std::shared_ptr<const ProviderContext> ctx, const CredentialsOptions& options) {
  // Expirations are AWS's time: refreshes are timed by the signing clock (the context's
  // clock plus the offset learned from AWS).
  const Clock aws_now = [ctx] { return ctx->now() + SigningClock::global().offset(); };
  auto base = std::make_shared<CredentialsChain>(
      "no AWS credentials", make_default_providers(ctx, options), aws_now,
      options.refresh_before_expiry, options.retry_interval);
  if (options.role_arn.empty()) return base;
  std::vector<std::unique_ptr<CredentialsProvider>> top;
  top.push_back(make_assume_role_provider(ctx, options, base));
  return std::make_shared<CredentialsChain>("cannot assume role " + options.role_arn,
                                            std::move(top), aws_now, options.refresh_before_expiry,
                                            options.retry_interval);
}

bool build_credentials(std::string_view what, std::string_view id, std::string_view secret,
                       std::string_view token, std::string_view expiration, Credentials& out,
                       std::string& error) {
  if (!header_safe(id) || id.size() > 128 || !header_safe(secret) ||
      (!token.empty() && !header_safe(token))) {
    error = std::string(what) + " has an empty or malformed credential value";
    return false;
  }
  Credentials c;
  c.access_key_id = std::string(id);
  c.secret_access_key = std::string(secret);
  c.session_token = std::string(token);
  if (!expiration.empty()) {
    TimePoint t;
    if (!parse_iso8601(expiration, t)) {
      error = std::string(what) + " has an unreadable Expiration '" +
              printable_excerpt(expiration, 40) + "'";
      return false;
    }
    c.expiration = t;
  }
  out = std::move(c);
  return true;
}

}  // namespace trailwarden::aws
