// sigv4_tool: signs one request described as JSON on stdin with trailwarden's SigV4 signer and
// prints the Authorization header value on stdout (used by test_sigv4_botocore.py).
//
//   {"method": "GET", "scheme": "https", "host": "h[:port]", "path": "/wire%20path",
//    "query": [["raw name", "raw value"], ...], "headers": [["Name", "value"], ...],
//    "body_hex": "...", "access_key": "...", "secret_key": "...", "session_token": "...",
//    "region": "us-east-1", "service": "sqs", "epoch": 1440938160, "unsigned_payload": false}
//
// --verbose also prints the canonical request and the string to sign on stderr.
// Exit status: 0 signed, 2 bad input.
#include <simdjson.h>

#include <cstdio>
#include <string>

#include "agent/aws/sigv4.h"

using namespace trailwarden::aws;

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "sigv4_tool: %s\n", why.c_str());
  return 2;
}

bool get_string(simdjson::dom::element obj, const char* key, std::string& out, bool required) {
  std::string_view v;
  const auto err = obj[key].get_string().get(v);
  if (err) return !required;
  out.assign(v);
  return true;
}

bool get_pairs(simdjson::dom::element obj, const char* key,
               std::vector<std::pair<std::string, std::string>>& out) {
  simdjson::dom::array arr;
  if (obj[key].get_array().get(arr)) return true;  // absent: none
  for (simdjson::dom::element item : arr) {
    simdjson::dom::array pair;
    if (item.get_array().get(pair) || pair.size() != 2) return false;
    std::string_view k, v;
    if (pair.at(0).get_string().get(k) || pair.at(1).get_string().get(v)) return false;
    out.emplace_back(std::string(k), std::string(v));
  }
  return true;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2) return false;
  out.clear();
  auto val = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool verbose = argc > 1 && std::string(argv[1]) == "--verbose";
  std::string input;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) input.append(buf, n);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(input).get(doc)) return fail("input is not JSON");

  HttpRequest req;
  Credentials creds;
  std::string region, service, body_hex;
  if (!get_string(doc, "method", req.method, true) || !get_string(doc, "host", req.host, true) ||
      !get_string(doc, "path", req.path, true) || !get_string(doc, "scheme", req.scheme, false) ||
      !get_string(doc, "access_key", creds.access_key_id, true) ||
      !get_string(doc, "secret_key", creds.secret_access_key, true) ||
      !get_string(doc, "session_token", creds.session_token, false) ||
      !get_string(doc, "region", region, true) || !get_string(doc, "service", service, true) ||
      !get_string(doc, "body_hex", body_hex, false)) {
    return fail("missing or mistyped field");
  }
  if (!get_pairs(doc, "query", req.query) || !get_pairs(doc, "headers", req.headers)) {
    return fail("query and headers must be arrays of [name, value] string pairs");
  }
  if (!from_hex(body_hex, req.body)) return fail("body_hex is not hex");
  int64_t epoch = 0;
  if (doc["epoch"].get_int64().get(epoch)) return fail("epoch must be an integer");
  SigningOptions options;
  bool unsigned_payload = false;
  if (!doc["unsigned_payload"].get_bool().get(unsigned_payload)) {
    options.unsigned_payload = unsigned_payload;
  }
  const TimePoint now{std::chrono::seconds{epoch}};
  SigningDetails details;
  sign_v4(req, creds, region, service, now, options, &details);
  std::printf("%s\n", details.authorization.c_str());
  if (verbose) {
    std::fprintf(stderr, "--- canonical request\n%s\n--- string to sign\n%s\n",
                 details.canonical_request.c_str(), details.string_to_sign.c_str());
  }
  return 0;
}
