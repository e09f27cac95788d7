// Fakes for the AWS unit tests: an HttpClient that answers from routes and records every
// request, and a fixture that builds a ProviderContext from an in-memory environment, in-memory
// files and a settable clock. Nothing here touches the network, the disk or the real
// environment.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "agent/aws/credentials.h"
#include "agent/http/http.h"

namespace trailwarden::aws::test {

inline TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

inline HttpResponse response(int status, std::string body, HeaderList headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// `connected`: the connection was made before it failed (HttpResponse::connected).
inline HttpResponse transport_error(std::string why, bool connected = false) {
  HttpResponse r;
  r.error = std::move(why);
  r.connected = connected;
  return r;
}

// Captures everything logged while it lives (and keeps it off the test output).
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

class FakeHttp final : public HttpClient {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  struct Call {
    HttpRequest request;
    std::chrono::milliseconds timeout;
  };

  // Routes "METHOD scheme://host/path" (no query) to a handler; a later route for the same
  // key replaces an earlier one.
  void on(const std::string& key, Handler handler) { routes_[key] = std::move(handler); }
  void on(const std::string& key, int status, std::string body) {
    on(key, [status, body](const HttpRequest&) { return response(status, body); });
  }

  HttpResponse perform(const HttpRequest& request, std::chrono::milliseconds timeout) override {
    calls.push_back({request, timeout});
    const std::string key =
        request.method + " " + request.scheme + "://" + request.host + request.path;
    const auto it = routes_.find(key);
    if (it == routes_.end()) return transport_error("connection refused (no fake route)");
    return it->second(request);
  }

  // Number of calls whose key starts with `prefix`.
  size_t count(const std::string& prefix) const {
    size_t n = 0;
    for (const Call& c : calls) {
      const std::string key =
          c.request.method + " " + c.request.scheme + "://" + c.request.host + c.request.path;
      n += key.starts_with(prefix);
    }
    return n;
  }

  std::vector<Call> calls;

 private:
  std::map<std::string, Handler> routes_;
};

// The outside world of a provider, in memory.
struct World {
  Environment env;
  std::map<std::string, std::string> files;       // path -> content
  std::map<std::string, std::string> unreadable;  // path -> error text
  std::map<std::string, int> reads;               // path -> times read
  TimePoint now = utc(2024, 1, 1);
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  const std::atomic<bool>* cancel = nullptr;  // ProviderContext::cancel

  // A context that refers back to this World (which must outlive it).
  std::shared_ptr<const ProviderContext> context() {
    auto ctx = std::make_shared<ProviderContext>();
    ctx->env = env;
    ctx->read_file = [this](const std::string& path, std::string& content, std::string& error) {
      ++reads[path];
      if (const auto u = unreadable.find(path); u != unreadable.end()) {
        error = path + ": " + u->second;
        return ReadStatus::kError;
      }
      const auto it = files.find(path);
      if (it == files.end()) return ReadStatus::kNotFound;
      content = it->second;
      return ReadStatus::kOk;
    };
    ctx->http = http;
    ctx->now = [this] { return now; };
    ctx->cancel = cancel;
    return ctx;
  }
};

// An STS <action>Response with credentials.
inline std::string sts_credentials_xml(const std::string& action, const std::string& id,
                                       const std::string& secret, const std::string& token,
                                       const std::string& expiration) {
  return "<" + action + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <" +
         action + "Result>\n    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s" +
         "</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n    <Credentials>\n" +
         "      <AccessKeyId>" + id + "</AccessKeyId>\n      <SecretAccessKey>" + secret +
         "</SecretAccessKey>\n      <SessionToken>" + token + "</SessionToken>\n" +
         "      <Expiration>" + expiration + "</Expiration>\n    </Credentials>\n  </" + action +
         "Result>\n  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\n</" +
         action + "Response>\n";
}

inline std::string sts_error_xml(const std::string& code, const std::string& message) {
  return "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
         "<Type>Sender</Type><Code>" +
         code + "</Code><Message>" + message +
         "</Message></Error><RequestId>req-2</RequestId></ErrorResponse>";
}

// Parses an application/x-www-form-urlencoded body into decoded pairs.
inline std::map<std::string, std::string> form_fields(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t p = 0;
  while (p < body.size()) {
    size_t amp = body.find('&', p);
    if (amp == std::string::npos) amp = body.size();
    const std::string pair = body.substr(p, amp - p);
    const size_t eq = pair.find('=');
    std::string k, v;
    uri_decode(pair.substr(0, eq), k);
    if (eq != std::string::npos) uri_decode(pair.substr(eq + 1), v);
    out[k] = v;
    p = amp + 1;
  }
  return out;
}

// Long-term keys (the SigV4 suite's example key), always available.
class StaticCredentials : public CredentialsSource {
 public:
  bool get(Credentials& out, std::string&) override {
    out.access_key_id = "AKIDEXAMPLE";
    out.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    return true;
  }
  void invalidate() override {}
};

}  // namespace trailwarden::aws::test
