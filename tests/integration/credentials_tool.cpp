// credentials_tool: drives agent/aws with the real libcurl client, for
// test_credentials_http.py. Two commands, each printing one JSON object on stdout:
//
//   credentials_tool resolve [--timeout-ms N] [--attempts N] [--max-response-bytes N]
//                            [--role-arn ARN] [--external-id ID] [--gets N]
//     Resolves credentials from the real process environment (the test sets it) with the
//     default chain (and AssumeRole on top with --role-arn), like `trailwarden run` will:
//     {"ok": true, "provider": ..., "access_key_id": ..., "secret_sha256": ...,
//      "token_sha256": ..., "expiration": ...} or {"ok": false, "error": ...}.
//     Secrets are printed only as SHA-256 digests. --gets N calls get() N times (cache check).
//
//   credentials_tool http METHOD URL [--header "Name: value"]... [--body TEXT]
//                         [--timeout-ms N] [--max-response-bytes N] [--ca-file PEM]
//     One request through CurlHttpClient: {"status": N, "error": ..., "body": ...,
//     "headers": [[name, value], ...]}.
//
// Exit status: 0 success, 1 failure reported in the JSON, 2 usage error.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/http/curl_http_client.h"
#include "agent/aws/sigv4.h"
#include "agent/common/json_writer.h"
#include "agent/common/logging.h"

using namespace trailwarden;
using namespace trailwarden::aws;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: credentials_tool resolve [--timeout-ms N] [--attempts N] "
               "[--max-response-bytes N] [--role-arn ARN] [--external-id ID] [--gets N]\n"
               "       credentials_tool http METHOD URL [--header 'Name: value']... "
               "[--body TEXT] [--timeout-ms N] [--max-response-bytes N] [--ca-file PEM]\n");
  return 2;
}

bool number(const char* s, long& out) {
  char* end = nullptr;
  out = std::strtol(s, &end, 10);
  return end != s && *end == '\0' && out >= 0;
}

int resolve(const std::vector<std::string>& args) {
  CurlHttpOptions http_options;
  CredentialsOptions options;
  long gets = 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return usage();
    const std::string& v = args[++i];
    long n = 0;
    if (a == "--timeout-ms" && number(v.c_str(), n)) {
      options.metadata_timeout = std::chrono::milliseconds(n);
      options.sts_timeout = std::chrono::milliseconds(n);
    } else if (a == "--attempts" && number(v.c_str(), n)) {
      options.metadata_attempts = static_cast<int>(n);
    } else if (a == "--max-response-bytes" && number(v.c_str(), n)) {
      http_options.max_response_bytes = static_cast<size_t>(n);
    } else if (a == "--role-arn") {
      options.role_arn = v;
    } else if (a == "--external-id") {
      options.external_id = v;
    } else if (a == "--gets" && number(v.c_str(), n) && n > 0) {
      gets = n;
    } else {
      return usage();
    }
  }
  auto ctx = make_process_context(std::make_shared<CurlHttpClient>(http_options));
  auto source = make_credentials_source(ctx, options);
  Credentials c;
  std::string error;
  bool ok = true;
  for (long i = 0; i < gets && ok; ++i) ok = source->get(c, error);
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("ok", ok);
  if (ok) {
    w.field("provider", std::string_view(c.provider))
        .field("access_key_id", std::string_view(c.access_key_id))
        .field("secret_sha256", std::string_view(sha256_hex(c.secret_access_key)))
        .field("token_sha256",
               std::string_view(c.session_token.empty() ? std::string()
                                                        : sha256_hex(c.session_token)));
    w.key("expiration");
    if (c.expiration) {
      w.value(std::string_view(format_iso8601(*c.expiration)));
    } else {
      w.null();
    }
  } else {
    w.field("error", std::string_view(error));
  }
  w.end_object();
  std::printf("%s\n", out.c_str());
  return ok ? 0 : 1;
}

int http_command(const std::vector<std::string>& args) {
  if (args.size() < 2) return usage();
  HttpRequest req;
  req.method = args[0];
  std::string url = args[1];
  const size_t q = url.find('?');
  std::string error;
  if (!parse_endpoint_url(url.substr(0, q), req, error)) {
    std::fprintf(stderr, "credentials_tool: %s\n", error.c_str());
    return 2;
  }
  if (q != std::string::npos) {
    // Raw pairs; tests use only unreserved characters here.
    std::string qs = url.substr(q + 1);
    size_t p = 0;
    while (p < qs.size()) {
      size_t amp = qs.find('&', p);
      if (amp == std::string::npos) amp = qs.size();
      const std::string pair = qs.substr(p, amp - p);
      const size_t eq = pair.find('=');
      req.query.emplace_back(pair.substr(0, eq),
                             eq == std::string::npos ? "" : pair.substr(eq + 1));
      p = amp + 1;
    }
  }
  CurlHttpOptions options;
  long timeout_ms = 5000;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return usage();
    const std::string& v = args[++i];
    long n = 0;
    if (a == "--header") {
      const size_t colon = v.find(':');
      if (colon == std::string::npos) return usage();
      std::string value = v.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      req.headers.emplace_back(v.substr(0, colon), value);
    } else if (a == "--body") {
      req.body = v;
    } else if (a == "--timeout-ms" && number(v.c_str(), n)) {
      timeout_ms = n;
    } else if (a == "--max-response-bytes" && number(v.c_str(), n)) {
      options.max_response_bytes = static_cast<size_t>(n);
    } else if (a == "--ca-file") {
      options.ca_file = v;
    } else {
      return usage();
    }
  }
  CurlHttpClient client(options);
  const HttpResponse resp = client.perform(req, std::chrono::milliseconds(timeout_ms));
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("status", resp.status).field("error", std::string_view(resp.error));
  w.field("body", std::string_view(resp.body));
  w.key("headers").begin_array();
  for (const auto& [k, v] : resp.headers) {
    w.begin_array().value(std::string_view(k)).value(std::string_view(v)).end_array();
  }
  w.end_array().end_object();
  std::printf("%s\n", out.c_str());
  return resp.error.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  setup_logging("debug");  // to stderr, which the test also checks for secrets
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "resolve") return resolve(args);
  if (command == "http") return http_command(args);
  return usage();
}
