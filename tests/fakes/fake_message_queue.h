// Fakes of the message queue (agent/sources/queue.h) for tests of the engine and its sources:
// an in-memory SQS (visible / in-flight messages, receive counts, deletes, visibility changes),
// and EventLog, which records externally visible effects in order so that a test can check
// what happened before what ("write", "flush", "delete r-m0", "visibility r-m0 0").
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/sources/queue.h"

namespace trailwarden::testing {

using namespace std::chrono_literals;

// Records the order of externally visible effects.
struct EventLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(std::move(e));
    cv.notify_all();
  }
  // Waits until `e` was logged `n` times (or 20 s: false).
  bool await_count(const std::string& e, size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, 20s, [&] {
      return static_cast<size_t>(std::count(events.begin(), events.end(), e)) >= n;
    });
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> l(mu);
    return events;
  }
};

class FakeQueue : public MessageQueue {
 public:
  explicit FakeQueue(EventLog& log) : log_(log) {}

  void send(const std::string& body) {
    std::lock_guard<std::mutex> l(mu_);
    QueueMessage m;
    m.id = "m" + std::to_string(next_++);
    m.receipt_handle = "r-" + m.id;
    m.body = body;
    visible_.push_back(m);
    cv_.notify_all();
  }
  RemoteStatus receive(size_t max, std::chrono::seconds, std::chrono::seconds,
                       std::vector<QueueMessage>& out, const std::atomic<bool>*) override {
    std::unique_lock<std::mutex> l(mu_);
    // A short long-poll: return as soon as there is something, or after a moment.
    cv_.wait_for(l, 100ms, [&] { return !visible_.empty(); });
    while (!visible_.empty() && out.size() < max) {
      QueueMessage m = visible_.front();
      visible_.erase(visible_.begin());
      m.receive_count = ++receive_counts_[m.id];
      in_flight_[m.receipt_handle] = m;
      out.push_back(m);
    }
    return {};
  }
  RemoteStatus delete_messages(const std::vector<std::string>& receipts,
                               std::vector<std::string>& failed) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& r : receipts) {
      if (in_flight_.erase(r)) {
        deleted_.push_back(r);
        log_.add("delete " + r);
      } else {
        failed.push_back(r);
      }
    }
    cv_.notify_all();
    return {};
  }
  RemoteStatus extend_visibility(const std::vector<std::string>& receipts,
                                 std::chrono::seconds v) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& r : receipts) {
      log_.add(fmt::format("visibility {} {}", r, v.count()));
      if (v.count() == 0 && in_flight_.count(r)) {  // released: visible again
        visible_.push_back(in_flight_[r]);
        in_flight_.erase(r);
      }
    }
    ++extensions_;
    cv_.notify_all();
    return {};
  }
  // Waits until `pred` holds on the queue state (or 20 s, then fails the test).
  template <typename Pred>
  bool await(Pred pred, std::chrono::milliseconds limit = 20s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, [&] { return pred(*this); });
  }
  size_t deleted() const { return deleted_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  size_t visible() const { return visible_.size(); }
  int extensions() const { return extensions_; }

 private:
  EventLog& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<QueueMessage> visible_;
  std::map<std::string, QueueMessage> in_flight_;
  std::map<std::string, int> receive_counts_;
  std::vector<std::string> deleted_;
  int next_ = 0;
  int extensions_ = 0;
};

}  // namespace trailwarden::testing
