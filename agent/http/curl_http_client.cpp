#include "agent/http/curl_http_client.h"

#include "agent/http/test_hooks.h"

#include <curl/curl.h>

#include <algorithm>

namespace trailwarden::http {
namespace {

// Never sent through a proxy: the metadata and container-credential endpoints are link-local
// or loopback, and a proxy would see (or forge) credentials.
constexpr const char* kNeverProxied =
    "169.254.169.254,169.254.170.2,169.254.170.23,fd00:ec2::254,fd00:ec2::23,localhost,"
    "127.0.0.1,::1";

std::once_flag g_global_init;
bool g_global_init_ok = false;

struct Transfer {
  HttpResponse* response;
  size_t max_body;
  size_t max_headers;
  size_t header_bytes = 0;
  bool body_too_large = false;
  bool headers_too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response->body.size() + n > t->max_body) {
    t->body_too_large = true;
    return 0;  // aborts the transfer
  }
  t->response->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  t->header_bytes += n;
  if (t->header_bytes > t->max_headers) {
    t->headers_too_large = true;
    return 0;
  }
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after 100 Continue): keep the last one
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  t->response->headers.emplace_back(ascii_lower(trim(line.substr(0, colon))),
                                    std::string(trim(line.substr(colon + 1))));
  return n;
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_request(const HttpRequest& r, std::string& why) {
  if (r.method.empty() ||
      !std::all_of(r.method.begin(), r.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    why = "invalid method";
    return false;
  }
  if (r.scheme != "http" && r.scheme != "https") {
    why = "scheme must be http or https";
    return false;
  }
  if (r.host.empty() || std::any_of(r.host.begin(), r.host.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\';
      })) {
    why = "invalid host";
    return false;
  }
  if (r.path.empty() || r.path.front() != '/' ||
      std::any_of(r.path.begin(), r.path.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '?' || c == '#';
      })) {
    why = "path must start with '/' and be percent-encoded (no spaces, controls, '?' or '#')";
    return false;
  }
  for (const auto& [name, value] : r.headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
      why = "invalid header name";
      return false;
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      why = "header " + name + " contains CR, LF or NUL";  // never the value
      return false;
    }
  }
  return true;
}

bool has_header(const HttpRequest& r, std::string_view name) {
  return r.find_header(name) != nullptr;
}

}  // namespace

CurlHttpClient::CurlHttpClient(CurlHttpOptions options) : options_(std::move(options)) {
  std::call_once(g_global_init,
                 [] { g_global_init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  if (g_global_init_ok) curl_ = curl_easy_init();
}

CurlHttpClient::~CurlHttpClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

// Progress callback: abandons the transfer when the request's cancel flag is set (curl calls it
// about once a second while waiting, and on every transfer of data).
int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

HttpResponse CurlHttpClient::perform(const HttpRequest& request,
                                     std::chrono::milliseconds timeout) {
  HttpResponse resp;
  std::string why;
  if (!valid_request(request, why)) {
    resp.error = "refused: " + why;
    return resp;
  }
  if (curl_ == nullptr) {
    resp.error = "libcurl could not be initialised";
    return resp;
  }
  std::lock_guard<std::mutex> lock(mu_);
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache

  const long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
  const long connect_ms = std::min<long>(
      timeout_ms, std::max<long>(1, static_cast<long>(options_.connect_timeout.count())));
  const std::string url = request.url();
  char errbuf[CURL_ERROR_SIZE] = {0};
  Transfer transfer{&resp, options_.max_response_bytes, options_.max_header_bytes};

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  const bool low_speed_check = options_.low_speed_bytes > 0 && options_.low_speed_time.count() > 0;
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                   low_speed_check ? static_cast<long>(options_.low_speed_bytes) : 0L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   low_speed_check ? static_cast<long>(options_.low_speed_time.count()) : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.ca_path.empty()) curl_easy_setopt(c, CURLOPT_CAPATH, options_.ca_path.c_str());
  // An empty proxy string disables proxies, including those from the environment.
  curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());
  std::string no_proxy;
  if (!options_.proxy.empty()) {
    no_proxy = options_.no_proxy.empty() ? kNeverProxied : options_.no_proxy + "," + kNeverProxied;
    curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(options_.max_response_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (!has_header(request, "user-agent")) {
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  }

  bool sends_body = false;
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET" && request.body.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    sends_body = true;
    if (request.method != "POST")
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  }

  curl_slist* headers = nullptr;
  auto add = [&headers](const std::string& line) {
    if (curl_slist* next = curl_slist_append(headers, line.c_str())) headers = next;
  };
  for (const auto& [name, value] : request.headers) {
    // "Name;" is curl's way to send a header with an empty value.
    add(value.empty() ? name + ";" : name + ": " + value);
  }
  // Remove what curl would add on its own, so that only the request's headers are sent.
  if (!has_header(request, "accept")) add("Accept:");
  if (!has_header(request, "expect")) add("Expect:");
  if (sends_body && !has_header(request, "content-type")) add("Content-Type:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  // Tests only (agent/http/test_hooks.h): never installed in the agent.
  curl_slist* connect_to = nullptr;
  if (test_hooks::ConnectTo hook = test_hooks::connect_to.load(std::memory_order_acquire)) {
    if (const std::vector<std::string>* entries = hook()) {
      for (const std::string& entry : *entries)
        if (curl_slist* next = curl_slist_append(connect_to, entry.c_str())) connect_to = next;
    }
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to);
  }
  if (request.cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(request.cancel));
  }

  const CURLcode rc = curl_easy_perform(c);
  if (request.cancel) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, nullptr);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, nullptr);
  }
  curl_slist_free_all(headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (connect_to != nullptr) {
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, nullptr);
    curl_slist_free_all(connect_to);
  }
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  // Connected: a connect time (new connection) or a request sent (a reused one).
  curl_off_t connect_us = 0;
  long request_bytes = 0;
  curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
  curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes);
  resp.connected = rc == CURLE_OK || connect_us > 0 || request_bytes > 0;
  if (rc != CURLE_OK) {
    resp.status = 0;
    resp.headers.clear();
    resp.body.clear();
    std::string what;
    if (transfer.body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      what = "response body larger than " + std::to_string(options_.max_response_bytes) + " bytes";
    } else if (transfer.headers_too_large) {
      what = "response headers larger than " + std::to_string(options_.max_header_bytes) + " bytes";
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
      what = "cancelled";
    } else if (rc == CURLE_OPERATION_TIMEDOUT && low_speed_check &&
               std::string_view(errbuf).find("too slow") != std::string_view::npos) {
      what = "too slow: under " + std::to_string(options_.low_speed_bytes) + " bytes/s for " +
             std::to_string(options_.low_speed_time.count()) + " s";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      what = "timed out after " + std::to_string(timeout_ms) + " ms";
    } else {
      what = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    }
    resp.error = std::move(what);
    return resp;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  resp.status = static_cast<int>(code);
  return resp;
}

}  // namespace trailwarden::http
