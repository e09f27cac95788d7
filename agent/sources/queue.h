// The remote services the daemon reads from, as interfaces: a message queue (SQS), an object
// store (S3) and its listing, and CloudTrail's public keys (digest validation,
// docs/integrity.md). The daemon depends only on these, so its logic is unit-tested with fakes
// and integration-tested with the real clients against an emulator. Implementations must be
// safe to call from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/common/buffer.h"
#include "agent/core/remote_status.h"
#include "agent/sources/notification.h"

namespace trailwarden {

struct QueueMessage {
  std::string id;              // SQS MessageId
  std::string receipt_handle;  // needed to delete it or change its visibility
  std::string body;
  uint32_t receive_count = 0;  // ApproximateReceiveCount
  int64_t sent_ms = 0;         // SentTimestamp (epoch ms), 0 if unknown
};

class MessageQueue {
 public:
  virtual ~MessageQueue() = default;
  // Long-polls for up to `max` (1..10) messages, hiding them for `visibility`. Returns early
  // (kRetry, nothing received) once *cancel becomes true, if `cancel` is given.
  virtual RemoteStatus receive(size_t max, std::chrono::seconds wait, std::chrono::seconds visibility,
                               std::vector<QueueMessage>& out,
                               const std::atomic<bool>* cancel = nullptr) = 0;
  // Deletes messages by receipt handle (up to 10). `failed` gets the handles not deleted.
  virtual RemoteStatus delete_messages(const std::vector<std::string>& receipts,
                                       std::vector<std::string>& failed) = 0;
  // Sets the visibility timeout of in-flight messages (up to 10) to `visibility` from now.
  virtual RemoteStatus extend_visibility(const std::vector<std::string>& receipts,
                                         std::chrono::seconds visibility) = 0;
};

// What S3 says about an object beside its bytes (GetObject response headers).
struct ObjectMetadata {
  // x-amz-meta-<name> headers: name lower-cased without the prefix, value as sent.
  std::vector<std::pair<std::string, std::string>> user;
  std::string etag;        // ETag without quotes
  std::string version_id;  // x-amz-version-id, "" if none
  // The value of user metadata `name` (lower-case, without "x-amz-meta-"), nullptr if absent.
  const std::string* find(std::string_view name) const {
    for (const auto& [k, v] : user)
      if (k == name) return &v;
    return nullptr;
  }
};

// One key of a bucket listing (ListObjectsV2 Contents).
struct ListedObject {
  std::string key;  // decoded
  uint64_t size = 0;
  std::string etag;  // without quotes
};

// One page of a listing; next_token is "" after the last page.
struct ObjectPage {
  std::vector<ListedObject> objects;
  std::string next_token;
};

// A bucket listing (S3 ListObjectsV2, which IAM checks as s3:ListBucket). Keys come in S3's
// order (UTF-8 binary), after `start_after`, under `prefix`; `token` continues a listing
// (ObjectPage::next_token). Used only where the operator asked for it (trailwarden verify,
// integrity checks), never for a notified object.
class ObjectLister {
 public:
  virtual ~ObjectLister() = default;
  virtual RemoteStatus list(const std::string& bucket, const std::string& prefix,
                            const std::string& start_after, const std::string& token,
                            size_t max_keys, ObjectPage& out,
                            const std::atomic<bool>* cancel = nullptr) = 0;
};

// One CloudTrail public key (ListPublicKeys): the key that signs digest files of one region
// for a validity range.
struct TrailPublicKey {
  std::string der;          // the key's DER bytes (Value, base64-decoded once)
  int64_t valid_from = 0;   // ValidityStartTime, epoch seconds
  int64_t valid_until = 0;  // ValidityEndTime, epoch seconds
  std::string fingerprint;  // Fingerprint as CloudTrail sent it (hex)
};

// CloudTrail's ListPublicKeys, asked in `region` (keys are per region) for keys valid at some
// time in [start, end] (epoch seconds); all pages.
class PublicKeyDirectory {
 public:
  virtual ~PublicKeyDirectory() = default;
  virtual RemoteStatus list_public_keys(const std::string& region, int64_t start, int64_t end,
                                        std::vector<TrailPublicKey>& out,
                                        const std::atomic<bool>* cancel = nullptr) = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Reads a whole object into `out`, refusing objects over `max_bytes` (kTooLarge). Gives up
  // (kRetry, "cancelled") soon after *cancel becomes true, if `cancel` is given: a download in
  // flight must not hold up shutdown.
  virtual RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                           const std::atomic<bool>* cancel = nullptr) = 0;
  // get() that also returns the object's metadata (digest files carry their signature there).
  // The default reads without it (empty metadata): stores that have none.
  virtual RemoteStatus get_with_metadata(const ObjectRef& object, size_t max_bytes, Buffer& out,
                                         ObjectMetadata& metadata,
                                         const std::atomic<bool>* cancel = nullptr) {
    metadata = {};
    return get(object, max_bytes, out, cancel);
  }
};

}  // namespace trailwarden
