// A fake object store (agent/sources/queue.h): objects in memory, transient failures on
// demand, downloads that block until released or cancelled, a 403 for missing keys, and a
// record of every get(). Also metadata per object (get_with_metadata) and a listing over
// `objects` (ObjectLister: S3's order, prefix, start_after, pages of max_keys with an opaque
// token), refused like S3 without s3:ListBucket when `list_denied`.
#pragma once

#include <atomic>
#include <chrono>
#include <algorithm>
#include <condition_variable>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/sources/queue.h"

namespace trailwarden::testing {

class FakeStore : public ObjectStore, public ObjectLister {
 public:
  std::map<std::string, std::string> objects;  // "bucket/key" -> bytes
  std::map<std::string, ObjectMetadata> metadata;  // "bucket/key" -> what get_with_metadata gives
  bool list_denied = false;  // list() is 403 AccessDenied (no s3:ListBucket)
  std::vector<std::string> lists;  // "bucket/prefix" of each list() call
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
  RemoteStatus get_with_metadata(const ObjectRef& o, size_t max_bytes, Buffer& out,
                                 ObjectMetadata& meta,
                                 const std::atomic<bool>* cancel = nullptr) override {
    meta = {};
    RemoteStatus s = get(o, max_bytes, out, cancel);
    if (!s.ok()) return s;
    std::lock_guard<std::mutex> l(mu);
    auto it = metadata.find(o.bucket + "/" + o.key);
    if (it != metadata.end()) meta = it->second;
    return s;
  }

  // Keys of `bucket` in byte order (std::map's, which is S3's UTF-8 binary order), under
  // `prefix`, after `start_after`; the token is the last key of the previous page; etag is "".
  RemoteStatus list(const std::string& bucket, const std::string& prefix,
                    const std::string& start_after, const std::string& token, size_t max_keys,
                    ObjectPage& out, const std::atomic<bool>* = nullptr) override {
    std::lock_guard<std::mutex> l(mu);
    const std::string token_in = token;  // may be out.next_token
    out = {};
    lists.push_back(bucket + "/" + prefix);
    if (list_denied)
      return {RemoteStatus::Code::kAccessDenied, "403 AccessDenied (check s3:ListBucket)"};
    if (max_keys < 1 || max_keys > 1000) return {RemoteStatus::Code::kFatal, "max_keys"};
    const std::string base = bucket + "/";
    std::string after =
        base + std::max(start_after, token_in.empty() ? std::string() : token_in.substr(1));
    if (!token_in.empty() && token_in[0] != 't') return {RemoteStatus::Code::kFatal, "bad token"};
    for (auto it = objects.upper_bound(after); it != objects.end(); ++it) {
      if (!it->first.starts_with(base)) break;
      const std::string key = it->first.substr(base.size());
      if (!key.starts_with(prefix)) {
        if (key > prefix) break;
        continue;
      }
      if (out.objects.size() == max_keys) {
        out.next_token = "t" + out.objects.back().key;
        break;
      }
      out.objects.push_back({key, it->second.size(), ""});
    }
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
