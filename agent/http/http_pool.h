// HttpClientPool: an HttpClient that runs concurrent requests on separate underlying clients
// (each CurlHttpClient serialises its own requests), creating them on demand up to `max`.
// With more concurrent callers than `max`, a caller waits for a free client. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "agent/http/http.h"

namespace trailwarden::http {

class HttpClientPool : public HttpClient {
 public:
  using Factory = std::function<std::unique_ptr<HttpClient>()>;
  HttpClientPool(Factory factory, size_t max);

  HttpResponse perform(const HttpRequest& request,
                            std::chrono::milliseconds timeout) override;

 private:
  Factory factory_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<HttpClient>> idle_;
  size_t created_ = 0;
};

}  // namespace trailwarden::http
