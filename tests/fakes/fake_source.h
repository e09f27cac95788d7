// A Source (agent/sources/source.h) that hands out the units a test gives it, then ends (kEnd)
// or, if `endless`, keeps returning nothing until stopped. It records the room the engine
// asked for, every done() (token, ok, why) in order, and what was released, so a test can
// check backpressure, exactly-once acknowledgement and ordering.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "agent/sources/source.h"

namespace trailwarden::testing {

class ScriptedSource final : public Source {
 public:
  struct Done {
    AckToken token;
    bool ok;
    std::string why;
  };

  void add(WorkUnit u) {
    std::lock_guard<std::mutex> l(mu_);
    u.token = next_token_++;
    pending_.push_back(std::move(u));
  }

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string&) override {
    std::unique_lock<std::mutex> l(mu_);
    asked_.push_back(max);
    while (!pending_.empty() && out.size() < max) {
      out.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    handed_out_ += out.size();
    max_outstanding_ = std::max(max_outstanding_, handed_out_ - done_.size());
    if (pending_.empty() && !endless) return Status::kEnd;
    if (out.empty()) cv_.wait_for(l, std::chrono::milliseconds(10), [&] { return stop.load(); });
    return Status::kOk;
  }
  void done(AckToken token, bool ok, const std::string& why) override {
    std::lock_guard<std::mutex> l(mu_);
    done_.push_back({token, ok, why});
    cv_.notify_all();
  }
  void release(const std::vector<AckToken>& unfinished) override {
    std::lock_guard<std::mutex> l(mu_);
    released_.insert(released_.end(), unfinished.begin(), unfinished.end());
  }
  void close() override { closed_ = true; }

  // Waits (20 s at most) until `n` units are done.
  bool await_done(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(20), [&] { return done_.size() >= n; });
  }
  std::vector<Done> done_calls() {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }
  std::vector<size_t> asked() {
    std::lock_guard<std::mutex> l(mu_);
    return asked_;
  }
  size_t max_outstanding() {
    std::lock_guard<std::mutex> l(mu_);
    return max_outstanding_;
  }
  std::vector<AckToken> released() {
    std::lock_guard<std::mutex> l(mu_);
    return released_;
  }
  bool closed() const { return closed_; }

  bool endless = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WorkUnit> pending_;
  std::vector<Done> done_;
  std::vector<size_t> asked_;
  std::vector<AckToken> released_;
  size_t handed_out_ = 0;
  size_t max_outstanding_ = 0;
  AckToken next_token_ = 1;
  std::atomic<bool> closed_{false};
};

}  // namespace trailwarden::testing
