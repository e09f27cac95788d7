#include "agent/engine/fetch.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/common/backoff.h"

namespace trailwarden {

void register_fetch_metrics(MetricsRegistry& registry, const FetchCounters& k) {
  registry.add([&k](PrometheusWriter& w) {
    w.counter("trailwarden_s3_objects_fetched_total", "Objects read from S3.",
              k.objects_fetched.load());
    w.counter("trailwarden_s3_bytes_fetched_total", "Bytes read from S3 (compressed).",
              k.bytes_fetched.load());
    w.counter("trailwarden_s3_fetch_retries_total", "S3 reads retried after a transient error.",
              k.fetch_retries.load());
    w.counter("trailwarden_s3_key_fallbacks_total",
              "EventBridge objects read under the URL-decoded reading of detail.object.key after "
              "the key as given was not found.",
              k.key_fallbacks.load());
  });
}

ObjectFetcher::ObjectFetcher(ObjectStore& store, FetchOptions options, const Clock& clock)
    : store_(store), options_(options), clock_(clock) {}

void ObjectFetcher::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_ = true;
  cv_.notify_all();
}

RemoteStatus ObjectFetcher::fetch_with_retries(const ObjectRef& what, Buffer& out,
                                               std::mt19937& rng, ObjectMetadata* metadata,
                                               bool& cancelled) {
  RemoteStatus s;
  for (int attempt = 0;; ++attempt) {
    s = metadata ? store_.get_with_metadata(what, options_.max_object_bytes, out, *metadata,
                                            &cancel_)
                 : store_.get(what, options_.max_object_bytes, out, &cancel_);
    if (s.code != RemoteStatus::Code::kRetry || attempt + 1 >= options_.attempts) break;
    ++counters_.fetch_retries;
    auto delay = jittered_backoff(options_.retry_base, options_.retry_max, attempt, rng);
    spdlog::debug("{}: {}; retrying in {} ms", object_name(what), s.message, delay.count());
    std::unique_lock<std::mutex> lock(mu_);
    clock_.wait_for(lock, cv_, delay, [&] { return cancel_.load(); });
    if ((cancelled = cancel_.load())) break;
  }
  return s;
}

FetchOutcome ObjectFetcher::fetch(const ObjectRef& object, Buffer& out, std::mt19937& rng,
                                  ObjectMetadata* metadata) {
  FetchOutcome o;
  o.read = object;
  o.status = fetch_with_retries(o.read, out, rng, metadata, o.cancelled);
  if (o.cancelled) return o;
  // An EventBridge key that is not there as given (S3 says 403 AccessDenied, not 404, when the
  // policy lacks s3:ListBucket): its URL-decoded reading, checked like the key itself.
  if ((o.status.code == RemoteStatus::Code::kNotFound ||
       o.status.code == RemoteStatus::Code::kAccessDenied) &&
      !object.alternate_key.empty()) {
    o.read.key = object.alternate_key;
    o.read.alternate_key.clear();
    // A 403 may be about something else (KMS, owner): another key that exists is read only if
    // it is the notified object (If-Match its ETag, else its size), at its current version.
    o.read.version_id.clear();
    o.read.verify_identity = true;
    RemoteStatus second = fetch_with_retries(o.read, out, rng, metadata, o.cancelled);
    if (o.cancelled) return o;
    if (second.ok()) {
      ++counters_.key_fallbacks;
      spdlog::warn(
          "{}: not readable as notified ({}); read under the URL-decoded key {} "
          "(EventBridge delivered the key URL-encoded)",
          object_name(object), o.status.message, object_name(o.read));
    } else {
      second.message = fmt::format("{}; under the URL-decoded key {}: {}", o.status.message,
                                   o.read.key, second.message);
    }
    o.status = std::move(second);
  }
  if (o.status.ok()) {
    ++counters_.objects_fetched;
    counters_.bytes_fetched += out.size();
  }
  return o;
}

}  // namespace trailwarden
