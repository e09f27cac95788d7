// DeliveryPipeline: everything between "an alert exists" and "every destination has it".
// Alerts are routed to outputs (severity / rule / tag filters of each [[outputs]] table); each
// output has a buffer and one delivery thread that sends batches, retries with capped
// exponential backoff and jitter, writes rejected alerts to a dead-letter file with the reason,
// and stops the agent on a fatal error.
//
// Acknowledgement: submit() returns once every alert is safe at every output it is routed to:
// written to the output's disk buffer (fsync per its policy), or, with a memory buffer,
// delivered (or dead-lettered). Only then may the source acknowledge (delete the SQS message).
// Disk buffers survive kill -9 and deliver their backlog, in order, after a restart.
//
// Crash consistency with the caller's records (the daemon's de-duplication window): submit()
// runs the caller's `before_ack` once the alerts are in every buffer, and no delivery thread
// removes (acknowledges) any of them from a disk buffer before it returns — sending them
// meanwhile is allowed. start() reports, before any delivery thread runs, the uids of the
// alerts a previous run left in the disk buffers of every output they are routed to. So a
// caller that makes those uids durable knows, after any crash, every alert that reached all
// its outputs, and no other.
//
// Backpressure: when a buffer is full, submit() waits (when_full = "block", the default), which
// stops the daemon from taking more messages; with "drop_newest" the alert is dropped for that
// output, counted and logged.
//
// Time: every wait, backoff and deadline of the pipeline itself (retry backoff, give_up_after,
// stop()'s drain deadline, the dead-letter timestamps) comes from the injected Clock
// (agent/core/clock.h), so tests move time by hand. The buffers' own short polls (a delivery
// thread waiting for records, a submit waiting for room) are condition-variable waits in
// real time, woken by the buffer itself.
//
// Thread-safe: submit() may be called from many threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/core/clock.h"
#include "outputs/output.h"
#include "outputs/settings.h"

namespace trailwarden {

struct OutputCounters {
  std::atomic<uint64_t> accepted{0};   // alerts routed here and buffered
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> retries{0};    // batches sent again
  std::atomic<uint64_t> rejected{0};   // written to the dead-letter file
  std::atomic<uint64_t> dropped{0};    // buffer full with when_full = "drop_newest"
  std::atomic<uint64_t> buffered_bytes{0};
  std::atomic<uint64_t> buffer_corrupt_records{0};  // damaged records skipped when the buffer was opened
};

class DeliveryPipeline {
 public:
  struct Entry {
    OutputSettings settings;
    std::unique_ptr<Output> output;
  };

  // `state_dir`: disk buffers go to <state_dir>/buffers/<output name>/, dead letters to
  // <state_dir>/dead-letter/<output name>.ndjson. `force_memory`: use memory buffers whatever
  // the settings say (replay). `clock` must outlive the pipeline.
  DeliveryPipeline(std::vector<Entry> outputs, std::string state_dir, bool force_memory = false,
                   const Clock& clock = system_clock());
  ~DeliveryPipeline();
  DeliveryPipeline(const DeliveryPipeline&) = delete;
  DeliveryPipeline& operator=(const DeliveryPipeline&) = delete;

  // Gives up on an output whose batch has failed with retryable errors for `limit` (0, the
  // default: retry for ever, as the daemon does with its disk buffers): the pipeline then fails
  // as on a fatal error, naming the output and its last error. For replay, which has no
  // source to hold the alerts for a later attempt. Call before start().
  void give_up_after(std::chrono::milliseconds limit);

  // Given the finding uids of the alerts a previous run left in the disk buffers, each once,
  // that are pending in the buffer of every output they are routed to (see start()); false,
  // with `error`, makes start() fail.
  using RecoveredFn = std::function<bool(const std::vector<std::string>& uids, std::string& error)>;

  // Opens the buffers (recovering what a previous run left), calls `recovered` (if given), then
  // starts the delivery threads: nothing is delivered or acknowledged before `recovered` has
  // returned. An alert found in some buffers but missing from another output it is routed to
  // (a crash between two outputs' appends, a memory buffer, a full "drop_newest" buffer) is
  // not reported (and counted in a warning): that output may never have had it, so its
  // message must alert again when it comes back.
  bool start(std::string& error, const RecoveredFn& recovered = {});

  // See the class comment. False (with `error`) when stopping or after a fatal output error;
  // then the caller must not acknowledge its source.
  //
  // `before_ack` (if given) is called once, on this thread, when every alert is in every disk
  // buffer it is routed to (and delivered by every memory buffer), before submit() returns true;
  // until it returns, the alerts may be sent but no disk buffer acknowledges (removes) them. It
  // is not called when submit() fails. Submits with `before_ack` run one at a time (a second one
  // waits for the first), so that two of them can never hold each other's buffers.
  bool submit(const std::vector<const AlertRecord*>& alerts, std::string& error,
              const std::function<void()>& before_ack = {});

  // Makes every submit() in progress, and every later one, give up and return false
  // ("stopping") within about half a second: one waiting for room in a full buffer
  // (when_full = "block") or for a memory buffer to deliver its alerts (an output that is down)
  // returns instead of waiting for ever; its `before_ack` is not called, so the caller does not
  // acknowledge its source, which delivers it again later. Alerts it already put in a buffer
  // stay there and are delivered (duplicates are the caller's window's business). Delivery
  // goes on until stop(). For the caller's shutdown deadline: without it, a submit blocked by
  // an output that is down only ends with stop(). Idempotent, thread-safe.
  void stop_accepting();

  // Stops: no more submits; memory buffers get until `deadline` to drain (a submit waiting for
  // them may still succeed meanwhile); disk buffers keep what is left for the next start.
  // Idempotent.
  void stop(std::chrono::milliseconds deadline);

  // Asks every output to reopen its files / reconnect before its next send (SIGHUP).
  void reopen();

  // An output failed in a way retrying cannot fix (bad credentials, bad configuration).
  bool failed() const;
  std::string failure() const;

  size_t size() const;
  const std::string& name(size_t i) const;
  const OutputCounters& counters(size_t i) const;
  const OutputSettings& settings(size_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trailwarden
