#include "agent/http/http_pool.h"

#include <algorithm>

namespace trailwarden::http {

HttpClientPool::HttpClientPool(Factory factory, size_t max)
    : factory_(std::move(factory)), max_(std::max<size_t>(max, 1)) {}

HttpResponse HttpClientPool::perform(const HttpRequest& request,
                                     std::chrono::milliseconds timeout) {
  std::unique_ptr<HttpClient> client;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || created_ < max_; });
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++created_;
    }
  }
  if (!client) client = factory_();
  HttpResponse response = client->perform(request, timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(client));
  }
  cv_.notify_one();
  return response;
}

}  // namespace trailwarden::http
