// SigV4 signing against the AWS Signature Version 4 test suite (every case, byte for byte) and
// the four S3 examples of the S3 API Reference, plus the building blocks.
//
// Skipped suite cases: none. Notes on the cases that header-signing clients often skip:
// - get-header-value-multiline: the request uses obs-fold continuation lines. Our .req reader
//   unfolds them as RFC 9112 §5.2 says a recipient must (each fold becomes a space), and the
//   signer's trimall then collapses the spaces: the canonical request matches. (trailwarden's own
//   requests never contain folded headers; the HTTP client refuses CR/LF in header values.)
// - normalize-path/get-space: botocore skips it because its HTTP parser cannot read a request
//   line with a space in the target; ours splits on the first and last space.
// - get-vanilla-query-order-key / -key-case / -value: botocore skips them (dict-based query);
//   our query is a list, repeats are kept and sorted by name then value.
// - post-sts-token/post-sts-header-after: the token is added after signing
//   (SigningOptions::sign_security_token = false); the .sreq carries it, the .creq does not.
#include "agent/aws/sigv4.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::aws;

namespace {

std::string strip_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// Parses a raw HTTP/1.1 request of the test suite. The request-target's path is taken as the
// wire path; query parameters are percent-decoded to raw names and values; obs-fold header
// continuation lines are unfolded (RFC 9112 §5.2); the Host header gives HttpRequest::host.
HttpRequest parse_req(const std::string& raw) {
  const std::string text = strip_cr(raw);
  const size_t blank = text.find("\n\n");
  const std::string head = text.substr(0, blank);
  HttpRequest req;
  req.body = blank == std::string::npos ? "" : text.substr(blank + 2);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= head.size()) {
    size_t nl = head.find('\n', start);
    if (nl == std::string::npos) nl = head.size();
    lines.push_back(head.substr(start, nl - start));
    start = nl + 1;
  }
  REQUIRE(!lines.empty());
  const std::string& rl = lines[0];
  const size_t sp1 = rl.find(' '), sp2 = rl.rfind(' ');
  REQUIRE(sp1 != std::string::npos);
  REQUIRE(sp2 > sp1);
  req.method = rl.substr(0, sp1);
  const std::string target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) {
    const std::string qs = target.substr(q + 1);
    size_t p = 0;
    while (p <= qs.size()) {
      size_t amp = qs.find('&', p);
      if (amp == std::string::npos) amp = qs.size();
      const std::string pair = qs.substr(p, amp - p);
      if (!pair.empty()) {
        const size_t eq = pair.find('=');
        std::string k, v;
        REQUIRE(uri_decode(pair.substr(0, eq), k));
        if (eq != std::string::npos) REQUIRE(uri_decode(pair.substr(eq + 1), v));
        req.query.emplace_back(k, v);
      }
      p = amp + 1;
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;  // a final newline without a body
    if (line[0] == ' ' || line[0] == '\t') {
      REQUIRE(!req.headers.empty());
      req.headers.back().second += " " + trim(line);  // obs-fold -> SP
      continue;
    }
    const size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  const std::string* host = req.find_header("host");
  REQUIRE(host != nullptr);
  req.host = trim(*host);
  return req;
}

// Value of the first "<name>:" line (case-insensitive name) in `text`, or "".
std::string line_value(const std::string& text, const std::string& lower_name) {
  size_t start = 0;
  const std::string t = strip_cr(text);
  while (start < t.size()) {
    size_t nl = t.find('\n', start);
    if (nl == std::string::npos) nl = t.size();
    const std::string line = t.substr(start, nl - start);
    const size_t colon = line.find(':');
    if (colon != std::string::npos && ascii_lower(line.substr(0, colon)) == lower_name) {
      return trim(line.substr(colon + 1));
    }
    start = nl + 1;
  }
  return "";
}

// Every case of the suite, by directory relative to sigv4/aws4_testsuite.
const std::vector<std::string> kSuiteCases = {
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-header-value-order",
    "get-header-value-trim",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-order-value",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-with-session-token",
    "normalize-path/get-relative",
    "normalize-path/get-relative-relative",
    "normalize-path/get-slash",
    "normalize-path/get-slash-dot-slash",
    "normalize-path/get-slash-pointless-dot",
    "normalize-path/get-slashes",
    "normalize-path/get-space",
    "normalize-path/get-special-character",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-token/post-sts-header-after",
    "post-sts-token/post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
};

}  // namespace

TEST_CASE("the case list covers every .req file of the suite") {
  namespace fs = std::filesystem;
  const fs::path root = test::data_path("sigv4/aws4_testsuite");
  std::set<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().extension() == ".req") {
      found.insert(fs::relative(entry.path().parent_path(), root).generic_string());
    }
  }
  const std::set<std::string> listed(kSuiteCases.begin(), kSuiteCases.end());
  CHECK(found == listed);
  CHECK(found.size() == 34);
}

TEST_CASE("AWS SigV4 test suite: canonical request, string to sign, Authorization") {
  Credentials creds;
  creds.access_key_id = "AKIDEXAMPLE";
  creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const TimePoint now = utc(2015, 8, 30, 12, 36, 0);
  int passed = 0;
  for (const std::string& dir : kSuiteCases) {
    const std::string name = dir.substr(dir.rfind('/') + 1);
    const std::string base = "sigv4/aws4_testsuite/" + dir + "/" + name;
    CAPTURE(dir);
    HttpRequest req = parse_req(test::read_data(base + ".req"));
    const std::string creq = strip_cr(test::read_data(base + ".creq"));
    const std::string sts = strip_cr(test::read_data(base + ".sts"));
    const std::string authz = strip_cr(test::read_data(base + ".authz"));
    const std::string sreq = test::read_data(base + ".sreq");

    Credentials c = creds;
    SigningOptions options;
    // The token is in the canonical request when signed, only in the signed request when it
    // is added after signing.
    c.session_token = line_value(creq, "x-amz-security-token");
    if (c.session_token.empty()) {
      c.session_token = line_value(sreq, "x-amz-security-token");
      options.sign_security_token = false;
    }
    SigningDetails d;
    sign_v4(req, c, "us-east-1", "service", now, options, &d);
    CHECK(d.canonical_request == creq);
    CHECK(d.string_to_sign == sts);
    CHECK(d.authorization == authz);
    REQUIRE(req.find_header("authorization") != nullptr);
    CHECK(*req.find_header("authorization") == authz);
    CHECK(*req.find_header("x-amz-date") == "20150830T123600Z");
    CHECK(req.find_header("x-amz-content-sha256") == nullptr);  // not S3
    if (!c.session_token.empty()) {
      REQUIRE(req.find_header("x-amz-security-token") != nullptr);
      CHECK(*req.find_header("x-amz-security-token") == c.session_token);
    }
    if (d.canonical_request == creq && d.string_to_sign == sts && d.authorization == authz) {
      ++passed;
    }
  }
  CHECK(passed == 34);
}

TEST_CASE("post-sts-header-after: the token is sent but not signed") {
  const std::string base = "sigv4/aws4_testsuite/post-sts-token/post-sts-header-after/";
  HttpRequest req = parse_req(test::read_data(base + "post-sts-header-after.req"));
  Credentials c{
      "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      line_value(test::read_data(base + "post-sts-header-after.sreq"), "x-amz-security-token"),
      std::nullopt, "test"};
  REQUIRE(!c.session_token.empty());
  SigningOptions options;
  options.sign_security_token = false;
  SigningDetails d;
  sign_v4(req, c, "us-east-1", "service", utc(2015, 8, 30, 12, 36, 0), options, &d);
  CHECK(d.signed_headers == "host;x-amz-date");
  CHECK(d.canonical_request.find("x-amz-security-token") == std::string::npos);
  // Signed the usual way, the token is part of the signature and the result differs.
  HttpRequest req2 = parse_req(test::read_data(base + "post-sts-header-after.req"));
  SigningDetails d2;
  sign_v4(req2, c, "us-east-1", "service", utc(2015, 8, 30, 12, 36, 0), {}, &d2);
  CHECK(d2.signed_headers == "host;x-amz-date;x-amz-security-token");
  CHECK(d2.signature != d.signature);
}

TEST_CASE("S3 API Reference examples (header-based auth, single chunk)") {
  simdjson::dom::parser parser;
  const std::string text = test::read_data("sigv4/s3_sigv4_header_auth_examples.json");
  simdjson::dom::element root = parser.parse(text);
  Credentials creds;
  creds.access_key_id = std::string(root["access_key"].get_string().value());
  creds.secret_access_key = std::string(root["secret_key"].get_string().value());
  const std::string region(root["region"].get_string().value());
  const std::string service(root["service"].get_string().value());
  TimePoint now;
  REQUIRE(parse_iso8601(root["x_amz_date"].get_string().value(), now));
  CHECK(format_amz_date(now) == "20130524T000000Z");
  const auto key = derive_signing_key(creds.secret_access_key, "20130524", region, service);
  CHECK(to_hex(key.data(), key.size()) == root["signing_key_hex"].get_string().value());
  int n = 0;
  for (simdjson::dom::element c : root["cases"].get_array()) {
    const std::string name(c["name"].get_string().value());
    CAPTURE(name);
    HttpRequest req;
    req.method = std::string(c["method"].get_string().value());
    req.path = std::string(c["uri"].get_string().value());
    const std::string qs(c["query"].get_string().value());
    if (!qs.empty()) {
      size_t p = 0;
      while (p <= qs.size()) {
        size_t amp = qs.find('&', p);
        if (amp == std::string::npos) amp = qs.size();
        const std::string pair = qs.substr(p, amp - p);
        const size_t eq = pair.find('=');
        std::string k, v;
        REQUIRE(uri_decode(pair.substr(0, eq), k));
        if (eq != std::string::npos) REQUIRE(uri_decode(pair.substr(eq + 1), v));
        req.query.emplace_back(k, v);
        p = amp + 1;
      }
    }
    for (auto [k, v] : c["headers"].get_object()) {
      req.headers.emplace_back(std::string(k), std::string(v.get_string().value()));
    }
    req.host = *req.find_header("host");
    std::string_view payload;
    if (c["payload"].get_string().get(payload) == simdjson::SUCCESS) req.body = payload;
    SigningDetails d;
    sign_v4(req, creds, region, service, now, {}, &d);
    CHECK(d.canonical_request == c["canonical_request"].get_string().value());
    CHECK(d.string_to_sign == c["string_to_sign"].get_string().value());
    CHECK(d.signed_headers == c["signed_headers"].get_string().value());
    CHECK(d.signature == c["expected"].get_string().value());
    // AWS accepts ", " and "," between the Authorization components; the page uses ",".
    std::string compact = d.authorization;
    for (size_t pos; (pos = compact.find(", ")) != std::string::npos;) compact.erase(pos + 1, 1);
    CHECK(compact == c["authorization"].get_string().value());
    CHECK(*req.find_header("x-amz-content-sha256") == c["payload_hash"].get_string().value());
    ++n;
  }
  CHECK(n == 4);
}

TEST_CASE("canonical URI: S3 as sent, other services normalised and encoded again") {
  CHECK(canonical_uri("", false) == "/");
  CHECK(canonical_uri("", true) == "/");
  CHECK(canonical_uri("/a%20b/c", true) == "/a%20b/c");
  CHECK(canonical_uri("/a%20b/c", false) == "/a%2520b/c");
  CHECK(canonical_uri("//a//./b/../c//", true) == "//a//./b/../c//");
  CHECK(canonical_uri("//a//./b/../c//", false) == "/a/c/");
  CHECK(canonical_uri("/ሴ", false) == "/%E1%88%B4");
  CHECK(canonical_uri("/$x~y", false) == "/%24x~y");
  CHECK(normalize_path("/") == "/");
  CHECK(normalize_path("/..") == "/");
  CHECK(normalize_path("/a/b/..") == "/a");
  CHECK(normalize_path("/a/b/../") == "/a/");
  CHECK(normalize_path("/a/./") == "/a/");
  CHECK(normalize_path("/../../a") == "/a");
  CHECK(normalize_path("/...") == "/...");
  CHECK(normalize_path("a/b") == "a/b");
}

TEST_CASE("canonical query string") {
  CHECK(canonical_query_string({}) == "");
  CHECK(canonical_query_string({{"b", "2"}, {"a", "1"}, {"a", "0"}, {"A", "z"}}) ==
        "A=z&a=0&a=1&b=2");
  CHECK(canonical_query_string({{"lifecycle", ""}}) == "lifecycle=");
  CHECK(canonical_query_string({{"k", "a b+c/d=e&f"}}) == "k=a%20b%2Bc%2Fd%3De%26f");
  CHECK(canonical_query_string({{"ሴ", "é"}}) == "%E1%88%B4=%C3%A9");
  // Sorted by the encoded form: "%" (0x25) sorts before letters.
  CHECK(canonical_query_string({{"a", "1"}, {" ", "1"}}) == "%20=1&a=1");
  // Same name: by encoded value.
  CHECK(canonical_query_string({{"k", "b"}, {"k", "B"}, {"k", ""}}) == "k=&k=B&k=b");
}

TEST_CASE("canonical headers: trimall, repeats, lowercase, unsigned hop-by-hop") {
  CHECK(canonical_header_value("  a   b\t\t c  ") == "a b c");
  CHECK(canonical_header_value("\"a   b   c\"") == "\"a b c\"");
  CHECK(canonical_header_value("") == "");
  CHECK(canonical_header_value("   ") == "");
  std::string block, list;
  canonical_headers({{"X-B", " 2 "},
                     {"x-a", "1"},
                     {"X-b", "3"},
                     {"User-Agent", "curl"},
                     {"Expect", "100-continue"},
                     {"Connection", "keep-alive"},
                     {"Transfer-Encoding", "chunked"},
                     {"Authorization", "old"},
                     {"X-Empty", ""}},
                    block, list);
  CHECK(block == "x-a:1\nx-b:2,3\nx-empty:\n");
  CHECK(list == "x-a;x-b;x-empty");
}

TEST_CASE("sign_v4: headers added, replaced on re-signing, options") {
  Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt,
                    "test"};
  const TimePoint t = utc(2015, 8, 30, 12, 36, 0);
  HttpRequest req;
  req.method = "POST";
  req.host = "sqs.us-east-1.amazonaws.com";
  req.path = "/123456789012/queue";
  req.body = "Action=ReceiveMessage";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"User-Agent", "trailwarden"},
                 {"Authorization", "stale"},
                 {"X-Amz-Date", "19990101T000000Z"},
                 {"Host", "wrong.example"}};
  SigningDetails d1;
  sign_v4(req, creds, "us-east-1", "sqs", t, {}, &d1);
  CHECK(d1.signed_headers == "content-type;host;x-amz-date");
  CHECK(*req.find_header("host") == "sqs.us-east-1.amazonaws.com");
  CHECK(*req.find_header("x-amz-date") == "20150830T123600Z");
  CHECK(req.find_header("x-amz-content-sha256") == nullptr);
  CHECK(req.find_header("x-amz-security-token") == nullptr);
  CHECK(*req.find_header("user-agent") == "trailwarden");
  CHECK(d1.canonical_request.substr(d1.canonical_request.rfind('\n') + 1) ==
        sha256_hex("Action=ReceiveMessage"));
  const size_t n_headers = req.headers.size();
  // Signing again (a retry) replaces, never duplicates.
  SigningDetails d2;
  sign_v4(req, creds, "us-east-1", "sqs", t, {}, &d2);
  CHECK(req.headers.size() == n_headers);
  CHECK(d2.authorization == d1.authorization);
  int auth_count = 0;
  for (const auto& h : req.headers) auth_count += ascii_lower(h.first) == "authorization";
  CHECK(auth_count == 1);

  SUBCASE("session token is added and signed, replacing an old one") {
    Credentials temp = creds;
    temp.session_token = "TOKEN/abc+==";
    req.headers.emplace_back("X-Amz-Security-Token", "old");
    SigningDetails d;
    sign_v4(req, temp, "us-east-1", "sqs", t, {}, &d);
    CHECK(d.signed_headers == "content-type;host;x-amz-date;x-amz-security-token");
    CHECK(*req.find_header("x-amz-security-token") == "TOKEN/abc+==");
    int n = 0;
    for (const auto& h : req.headers) n += ascii_lower(h.first) == "x-amz-security-token";
    CHECK(n == 1);
  }
  SUBCASE("S3: x-amz-content-sha256 always, path not normalised") {
    HttpRequest s3;
    s3.host = "bucket.s3.us-east-1.amazonaws.com";
    s3.path = "/a//b/../c%20d";
    SigningDetails d;
    sign_v4(s3, creds, "us-east-1", "s3", t, {}, &d);
    CHECK(*s3.find_header("x-amz-content-sha256") == kEmptyPayloadSha256);
    CHECK(d.signed_headers == "host;x-amz-content-sha256;x-amz-date");
    CHECK(d.canonical_request.find("\n/a//b/../c%20d\n") != std::string::npos);
    SigningOptions unsigned_payload;
    unsigned_payload.unsigned_payload = true;
    sign_v4(s3, creds, "us-east-1", "s3", t, unsigned_payload, &d);
    CHECK(*s3.find_header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD");
    CHECK(d.canonical_request.substr(d.canonical_request.rfind('\n') + 1) == "UNSIGNED-PAYLOAD");
    SigningOptions not_s3;
    not_s3.s3 = false;
    sign_v4(s3, creds, "us-east-1", "s3", t, not_s3, &d);
    CHECK(d.canonical_request.find("\n/a/c%2520d\n") != std::string::npos);
  }
  SUBCASE("content_sha256_header and a precomputed payload hash") {
    SigningOptions o;
    o.content_sha256_header = true;
    o.payload_sha256 = std::string(64, 'a');
    SigningDetails d;
    sign_v4(req, creds, "us-east-1", "sqs", t, o, &d);
    CHECK(*req.find_header("x-amz-content-sha256") == std::string(64, 'a'));
    CHECK(d.signed_headers == "content-type;host;x-amz-content-sha256;x-amz-date");
  }
}

TEST_CASE("no secret in anything sign_v4 produces but the token header") {
  Credentials creds{"AKIDEXAMPLE", "SECRET-wJalrXUtnFEMI", "TOKEN-abcdef", std::nullopt, "t"};
  HttpRequest req;
  req.host = "example.amazonaws.com";
  SigningDetails d;
  sign_v4(req, creds, "us-east-1", "service", utc(2020, 1, 1, 0, 0, 0), {}, &d);
  for (const std::string* s : {&d.canonical_request, &d.string_to_sign, &d.signed_headers,
                               &d.credential_scope, &d.signature, &d.authorization}) {
    CHECK(s->find("SECRET") == std::string::npos);
  }
  for (const auto& [k, v] : req.headers) {
    CHECK(v.find("SECRET") == std::string::npos);
    if (ascii_lower(k) != "x-amz-security-token") CHECK(v.find("TOKEN") == std::string::npos);
  }
}

TEST_CASE("hashing helpers") {
  CHECK(sha256_hex("") == kEmptyPayloadSha256);
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  const auto mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  CHECK(to_hex(mac.data(), mac.size()) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("URI encoding, decoding, URLs and endpoints") {
  CHECK(uri_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(uri_encode("a b/c") == "a%20b%2Fc");
  CHECK(uri_encode("a b/c", true) == "a%20b/c");
  CHECK(uri_encode("\xff\x01%") == "%FF%01%25");
  CHECK(uri_encode_path("/my bucket/ሴ") == "/my%20bucket/%E1%88%B4");
  std::string out;
  CHECK(uri_decode("a%20b+%2f", out));
  CHECK(out == "a b+/");
  CHECK_FALSE(uri_decode("%2", out));
  CHECK_FALSE(uri_decode("%zz", out));
  CHECK_FALSE(uri_decode("abc%", out));
  CHECK(form_encode({{"Action", "AssumeRole"}, {"RoleSessionName", "a b"}}) ==
        "Action=AssumeRole&RoleSessionName=a%20b");

  HttpRequest r;
  r.host = "h.example:8443";
  r.path = "/p%20q";
  r.query = {{"b", "x y"}, {"a", ""}};
  CHECK(r.url() == "https://h.example:8443/p%20q?b=x%20y&a=");

  std::string err;
  HttpRequest e;
  REQUIRE(parse_endpoint_url("https://STS.example.com:443", e, err));
  CHECK(e.scheme == "https");
  CHECK(e.host == "sts.example.com");
  CHECK(e.path == "/");
  REQUIRE(parse_endpoint_url("http://127.0.0.1:4566/base/", e, err));
  CHECK(e.host == "127.0.0.1:4566");
  CHECK(e.path == "/base/");
  REQUIRE(parse_endpoint_url("http://[fd00:ec2::254]", e, err));
  CHECK(e.host == "[fd00:ec2::254]");
  REQUIRE(parse_endpoint_url("http://[::1]:80/", e, err));
  CHECK(e.host == "[::1]");
  CHECK_FALSE(parse_endpoint_url("ftp://x", e, err));
  CHECK_FALSE(parse_endpoint_url("x.example.com", e, err));
  CHECK_FALSE(parse_endpoint_url("https://u:p@x.example.com/", e, err));
  CHECK_FALSE(parse_endpoint_url("https://x.example.com/?a=b", e, err));
  CHECK_FALSE(parse_endpoint_url("https://x.example.com:99999/", e, err));
  CHECK_FALSE(parse_endpoint_url("https://x.example.com:8a/", e, err));
  CHECK_FALSE(parse_endpoint_url("https:///path", e, err));
  CHECK_FALSE(parse_endpoint_url("https://a b/", e, err));

  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.1.2.3:8080"));
  CHECK(is_loopback_host("localhost:1"));
  CHECK(is_loopback_host("[::1]:9"));
  CHECK_FALSE(is_loopback_host("128.0.0.1"));
  CHECK_FALSE(is_loopback_host("127.0.0.1.evil.com"));
  CHECK_FALSE(is_loopback_host("127.0.0"));
  CHECK_FALSE(is_loopback_host("169.254.170.2"));
  CHECK_FALSE(is_loopback_host("localhost.evil.com"));
}

TEST_CASE("ISO 8601 and X-Amz-Date") {
  TimePoint t;
  REQUIRE(parse_iso8601("2015-08-30T12:36:00Z", t));
  CHECK(t == utc(2015, 8, 30, 12, 36, 0));
  CHECK(format_amz_date(t) == "20150830T123600Z");
  CHECK(format_iso8601(t) == "2015-08-30T12:36:00Z");
  REQUIRE(parse_iso8601("20150830T123600Z", t));
  CHECK(t == utc(2015, 8, 30, 12, 36, 0));
  REQUIRE(parse_iso8601("2015-08-30T14:36:00+02:00", t));
  CHECK(t == utc(2015, 8, 30, 12, 36, 0));
  REQUIRE(parse_iso8601("2015-08-30T12:36:00.999Z", t));
  CHECK(std::chrono::floor<std::chrono::seconds>(t) == utc(2015, 8, 30, 12, 36, 0));
  REQUIRE(parse_iso8601("2024-02-29T00:00:00Z", t));
  CHECK_FALSE(parse_iso8601("2023-02-29T00:00:00Z", t));
  CHECK_FALSE(parse_iso8601("2015-13-01T00:00:00Z", t));
  CHECK_FALSE(parse_iso8601("2015-08-30T24:00:00Z", t));
  CHECK_FALSE(parse_iso8601("2015-08-30 12:36:00Z", t));
  CHECK_FALSE(parse_iso8601("2015-08-30T12:36:00", t));
  CHECK_FALSE(parse_iso8601("2015-08-30T12:36:00Zjunk", t));
  CHECK_FALSE(parse_iso8601("", t));
  CHECK_FALSE(parse_iso8601("2015-08-30T12:36:00.Z", t));
}
