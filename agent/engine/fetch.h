// Fetch stage: reads the object a unit names from the ObjectStore into a processor's buffer,
// with retries and jittered backoff for retryable errors, and the URL-decoded reading of an
// EventBridge key when the key as notified is not there. Used by the engine for units whose
// payload names objects (agent/sources/source.h, WorkUnit::Payload::kObjects).
//
// One fetcher per engine, shared by its workers (thread-safe; each call takes its own rng).
// Waits use the injected clock and end early when `cancel` is set (shutdown); downloads in
// flight are cancelled through the ObjectStore's cancel flag.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "agent/common/buffer.h"
#include "agent/core/clock.h"
#include "agent/metrics/metrics.h"
#include "agent/sources/queue.h"

namespace trailwarden {

struct FetchOptions {
  size_t max_object_bytes = size_t{128} << 20;
  int attempts = 4;                           // tries for retryable errors
  std::chrono::milliseconds retry_base{200};  // backoff: base * 2^n with full jitter
  std::chrono::milliseconds retry_max{20000};
};

struct FetchCounters {
  std::atomic<uint64_t> objects_fetched{0};
  std::atomic<uint64_t> bytes_fetched{0};
  std::atomic<uint64_t> fetch_retries{0};
  std::atomic<uint64_t> key_fallbacks{0};  // EventBridge keys read URL-decoded
};

// Registers the fetch metrics (trailwarden_s3_*). `counters` must outlive `registry`.
void register_fetch_metrics(MetricsRegistry& registry, const FetchCounters& counters);

struct FetchOutcome {
  RemoteStatus status;
  ObjectRef read;        // what was read (or last tried): the key may be the URL-decoded one
  bool cancelled = false;  // shutdown came during a backoff
};

class ObjectFetcher {
 public:
  ObjectFetcher(ObjectStore& store, FetchOptions options, const Clock& clock = system_clock());

  // Reads `object` into `out`. With `metadata`, reads it with its response metadata
  // (ObjectStore::get_with_metadata: user metadata, ETag, version) into *metadata, that of the
  // reading FetchOutcome::read names; same retries. Never throws.
  FetchOutcome fetch(const ObjectRef& object, Buffer& out, std::mt19937& rng,
                     ObjectMetadata* metadata = nullptr);

  // Shutdown: backoffs end at once and downloads in flight give up.
  void cancel();

  const FetchCounters& counters() const { return counters_; }

 private:
  RemoteStatus fetch_with_retries(const ObjectRef& what, Buffer& out, std::mt19937& rng,
                                  ObjectMetadata* metadata, bool& cancelled);

  ObjectStore& store_;
  FetchOptions options_;
  const Clock& clock_;
  FetchCounters counters_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace trailwarden
