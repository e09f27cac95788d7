// LocalTrailStore: a local copy of a trail's bucket (`aws s3 sync s3://bucket DIR`) as an
// ObjectStore and ObjectLister for `trailwarden verify --local DIR`: key K of the bucket is the
// file DIR/K. A copy keeps no object metadata, so digests come without their signature
// (TrailVerifier takes it from the successor). Keys are untrusted (digests name them): a key
// with an empty, "." or ".." segment, a leading '/', a NUL or a backslash is not found, and
// symbolic links are not followed (nor FIFOs opened for good), so nothing outside DIR is read.
// A listing walks the prefix's folder once and keeps its sorted keys for the next pages.
// Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "agent/sources/queue.h"

namespace trailwarden::integrity {

class LocalTrailStore : public ObjectStore, public ObjectLister {
 public:
  // `bucket`: the only bucket it holds (others are not found).
  LocalTrailStore(std::string directory, std::string bucket)
      : dir_(std::move(directory)), bucket_(std::move(bucket)) {}

  RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                   const std::atomic<bool>* cancel = nullptr) override;
  // Lists regular files under DIR/prefix, keys in byte order, 1..1000 per page; the token is
  // the last key of the page.
  RemoteStatus list(const std::string& bucket, const std::string& prefix,
                    const std::string& start_after, const std::string& token, size_t max_keys,
                    ObjectPage& out, const std::atomic<bool>* cancel = nullptr) override;

  // True if `key` is a key this store may map to a file (see above).
  static bool safe_key(const std::string& key);

 private:
  std::string dir_;
  std::string bucket_;
  std::mutex mu_;
  bool cached_ = false;
  std::string cached_prefix_;
  std::vector<std::string> cached_keys_;
};

}  // namespace trailwarden::integrity
