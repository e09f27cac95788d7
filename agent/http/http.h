// HTTP for every client of the agent (S3, SQS, STS, the credential providers, Splunk HEC): a
// request and response as plain values, the HttpClient interface (one virtual call, so that
// tests inject fakes), and the URI encoding that both signing (agent/aws/sigv4.h) and sending
// use, so that what is signed is exactly what is sent. Whether a failure is worth retrying:
// classify.h.
//
// HttpRequest and HttpResponse are values with no thread affinity. Implementations of
// HttpClient say their own thread-safety (CurlHttpClient: see curl_http_client.h).
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trailwarden::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;

// A credential or token may go into an HTTP header or form as is: non-empty, printable ASCII,
// no spaces or control characters.
bool header_safe(std::string_view s);

struct HttpRequest {
  std::string method = "GET";
  std::string scheme = "https";  // "https" or "http"
  // host[:port] exactly as in the Host header (and signed): lowercase, no default port,
  // IPv6 literals in brackets ("[fd00:ec2::254]").
  std::string host;
  // The path as sent on the wire: already percent-encoded. Build it from raw segments with
  // uri_encode_path() ("/my bucket/ሴ" -> "/my%20bucket/%E1%88%B4"). Signing uses this form
  // (S3: as is; other services: normalised and encoded once more, as the SigV4 spec says).
  std::string path = "/";
  // Query parameters, raw (decoded) names and values, in any order; repeats allowed. They are
  // encoded with uri_encode() when the URL is built and when the request is signed.
  QueryList query;
  // Headers as sent. Names are case-insensitive; repeated names are sent as repeated lines.
  HeaderList headers;
  std::string body;
  // When set, the transfer is abandoned as soon as *cancel becomes true (a long poll during
  // shutdown); the response then has status 0 and error "cancelled". Not owned.
  const std::atomic<bool>* cancel = nullptr;

  // First value of header `name` (case-insensitive), or nullptr.
  const std::string* find_header(std::string_view name) const;
  // Removes every header called `name` (case-insensitive).
  void remove_header(std::string_view name);
  // Replaces every header called `name` with one header `name: value`, appended at the end.
  void set_header(std::string_view name, std::string value);
  // scheme://host/path?query, the query encoded with uri_encode() in the given order.
  std::string url() const;
};

struct HttpResponse {
  // HTTP status code; 0 when no response arrived (see `error`).
  int status = 0;
  // Response headers with lowercase names, in the order received.
  HeaderList headers;
  std::string body;
  // Why no complete response arrived (connection, TLS, timeout, size limit), without the
  // URL (callers add it). Empty when `status` is valid. Never contains request bodies or
  // header values.
  std::string error;
  // True once a connection to the peer was made (always with a status). A timeout with
  // connected false means the peer never accepted the connection (unreachable), with connected
  // true that its answer did not come.
  bool connected = false;

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  const std::string* find_header(std::string_view lowercase_name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Performs one request; never throws. Redirects are not followed.
  virtual HttpResponse perform(const HttpRequest& request, std::chrono::milliseconds timeout) = 0;
};

// RFC 3986 percent-encoding as SigV4 defines it: every byte except the unreserved characters
// A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase hex); '/' is kept when keep_slash is true.
std::string uri_encode(std::string_view s, bool keep_slash = false);
// uri_encode(raw, /*keep_slash=*/true): a raw path ("/bucket/key with spaces") to its wire form.
inline std::string uri_encode_path(std::string_view raw) { return uri_encode(raw, true); }
// Decodes %XX escapes (and nothing else: '+' stays '+'). Returns false on a malformed escape.
bool uri_decode(std::string_view s, std::string& out);
// application/x-www-form-urlencoded body from raw pairs (names and values with uri_encode()).
std::string form_encode(const QueryList& params);

// Splits an endpoint URL "http[s]://host[:port][/base/path]" into the request's scheme, host
// and path (default "/"). The host is lowercased; a default port (80/443) is dropped. Query,
// fragment and userinfo are refused. Returns false with `error` on anything else.
bool parse_endpoint_url(std::string_view url, HttpRequest& request, std::string& error);

// True when `host` (as in HttpRequest::host, port allowed) names a loopback address:
// 127.0.0.0/8, [::1] or "localhost".
bool is_loopback_host(std::string_view host);
// The host part without the port: "[::1]:80" -> "[::1]", "a.b:8080" -> "a.b".
std::string_view host_without_port(std::string_view host);

// ASCII-lowercase copy.
std::string ascii_lower(std::string_view s);
// Message-safe rendering of text from a peer: at most max_bytes, control and non-ASCII bytes
// shown as '?', so that a hostile or binary body cannot forge log lines.
std::string printable_excerpt(std::string_view s, size_t max_bytes = 200);
// Replaces every occurrence of `secret` (when at least 4 bytes long) in `text` with
// "[redacted]": for messages that quote a peer, which might echo what it was sent.
void scrub_secret(std::string& text, std::string_view secret);

}  // namespace trailwarden::http

// The AWS layer (agent/aws/, namespace aws) signs and sends these requests; it was written
// against these names unqualified, as if they were its own.
namespace trailwarden::aws {
using namespace ::trailwarden::http;
}  // namespace trailwarden::aws
