// A fake object store (agent/sources/queue.h): objects in memory, transient failures on
// demand, downloads that block until released or cancelled, a 403 for missing keys, and a
// record of every get().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/sources/queue.h"

namespace trailwarden::testing {

class FakeStore : public ObjectStore {
 public:
  std::map<std::string, std::string> objects;  // "bucket/key" -> bytes
  std::map<std::string, int> transient_failures;  // "bucket/key" -> how many kRetry first
  std::vector<std::string> gets;
  std::vector<ObjectRef> refs;  // what each get() was asked for
  bool block = false;  // when true, get() waits until released
  bool missing_is_denied = false;  // a missing key is 403 AccessDenied (no s3:ListBucket)
  // "bucket/key" of objects whose get() waits until release_held() (20 s at most): makes an
  // object finish after others that were asked for later.
  std::set<std::string> held;
  std::mutex mu;
  std::condition_variable cv;

  RemoteStatus get(const ObjectRef& o, size_t max_bytes, Buffer& out,
                   const std::atomic<bool>* cancel) override {
    std::unique_lock<std::mutex> l(mu);
    std::string k = o.bucket + "/" + o.key;
    gets.push_back(k);
    refs.push_back(o);
    cv.notify_all();
    // A blocked download ends when released, or when the daemon cancels it (polled, as curl's
    // progress callback does).
    while (block && !(cancel && cancel->load())) cv.wait_for(l, std::chrono::milliseconds(10));
    if (held.count(k)) cv.wait_for(l, std::chrono::seconds(20), [&] { return !held.count(k); });
    if (block) return {RemoteStatus::Code::kRetry, "cancelled"};
    if (transient_failures[k] > 0) {
      --transient_failures[k];
      return {RemoteStatus::Code::kRetry, "503 SlowDown"};
    }
    auto it = objects.find(k);
    if (it == objects.end() && missing_is_denied)
      return {RemoteStatus::Code::kAccessDenied, "403 AccessDenied"};
    if (it == objects.end()) return {RemoteStatus::Code::kNotFound, "404 NoSuchKey"};
    if (it->second.size() > max_bytes) return {RemoteStatus::Code::kTooLarge, "too large"};
    out.assign(it->second);
    return {};
  }
  void release_held() {
    std::lock_guard<std::mutex> l(mu);
    held.clear();
    cv.notify_all();
  }
  void release() {
    std::lock_guard<std::mutex> l(mu);
    block = false;
    cv.notify_all();
  }
};

}  // namespace trailwarden::testing
