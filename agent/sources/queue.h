// The two remote services the daemon reads from, as interfaces: a message queue (SQS) and an
// object store (S3). The daemon depends only on these, so its logic is unit-tested with fakes
// and integration-tested with the real clients against an emulator. Implementations must be
// safe to call from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
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

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Reads a whole object into `out`, refusing objects over `max_bytes` (kTooLarge). Gives up
  // (kRetry, "cancelled") soon after *cancel becomes true, if `cancel` is given: a download in
  // flight must not hold up shutdown.
  virtual RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                           const std::atomic<bool>* cancel = nullptr) = 0;
};

}  // namespace trailwarden
