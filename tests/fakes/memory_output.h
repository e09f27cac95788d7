// An Output (outputs/output.h) that keeps what it is sent in memory and logs "write" per alert
// and "flush" per batch into an EventLog; `down` makes every send fail with kRetry.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "outputs/output.h"
#include "tests/fakes/fake_message_queue.h"

namespace trailwarden::testing {

class MemoryOutput : public Output {
 public:
  explicit MemoryOutput(EventLog& log) : log_(log) {}
  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override {
    if (down) {
      log_.add("down");
      return {DeliveryResult::Status::kRetry, "destination down", {}, {}};
    }
    for (const AlertRecord* a : batch) {
      lines.push_back(a->ocsf);
      log_.add("write");
    }
    log_.add("flush");  // a batch is acknowledged as a whole
    return {};
  }
  std::vector<std::string> lines;
  std::atomic<bool> down{false};  // every send fails with kRetry (the buffer keeps the alerts)

 private:
  EventLog& log_;
  std::string name_ = "memory";
};

}  // namespace trailwarden::testing
