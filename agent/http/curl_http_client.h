// CurlHttpClient: the HttpClient of production, on libcurl (OpenSSL). TLS peer and host
// verification are always on (TLS 1.2 or later); no proxy is used unless one is configured (the
// http_proxy / https_proxy environment variables are ignored, and even a configured proxy is
// bypassed for the instance-metadata and container-credential addresses); redirects are not
// followed; only http and https; the path is sent exactly as given (no dot-segment squashing,
// so that what is signed is what is sent); response bodies and headers are bounded.
//
// Thread-safe: perform() may be called from any thread; calls on one client are serialised
// (it keeps one connection cache). Use one client per thread for parallel transfers.
// Cancellation: a request with HttpRequest::cancel set is abandoned within about a second of
// the flag turning true (libcurl's progress callback), whether data flows or not.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "agent/http/http.h"

namespace trailwarden::http {

struct CurlHttpOptions {
  std::string ca_file;   // PEM CA bundle; empty: the system's default
  std::string ca_path;   // directory of hashed CA certificates; empty: the system's default
  std::string proxy;     // "http://host:port"; empty: no proxy at all
  std::string no_proxy;  // with a proxy: comma-separated hosts reached directly (curl syntax)
  size_t max_response_bytes = size_t{16} << 20;     // larger bodies fail the request
  size_t max_header_bytes = size_t{64} << 10;       // all response header lines together
  std::chrono::milliseconds connect_timeout{5000};  // capped by each request's timeout
  // A transfer slower than low_speed_bytes per second for low_speed_time is abandoned ("too
  // slow"), so that a trickling peer cannot hold a thread until the request's timeout. Off when
  // either is 0 (long polls wait in silence by design).
  size_t low_speed_bytes = 0;
  std::chrono::seconds low_speed_time{0};
  std::string user_agent = "trailwarden/" TRAILWARDEN_VERSION;  // unless the request sets one
};

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlHttpOptions options = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  HttpResponse perform(const HttpRequest& request, std::chrono::milliseconds timeout) override;

 private:
  const CurlHttpOptions options_;
  std::mutex mu_;
  void* curl_ = nullptr;  // CURL*, guarded by mu_; nullptr if libcurl could not start
};

}  // namespace trailwarden::http
