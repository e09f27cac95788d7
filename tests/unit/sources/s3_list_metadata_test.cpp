// S3Client beyond GetObject's body: object metadata (x-amz-meta-*, ETag, version, bounds) and
// ListObjectsV2 (the request, addressed and redirected as GetObject; the XML page checked,
// keys URL-decoded; hostile and oversized pages refused), against a fake HTTP client.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "agent/sources/s3_client.h"
#include "tests/fakes/fake_object_store.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  S3ClientOptions options;
  Fixture() { options.region = "us-east-1"; }
  S3Client client() { return S3Client(options, http, std::make_shared<StaticCredentials>()); }
};

std::string contents(const std::string& key, const std::string& size = "10",
                     const std::string& etag = "&quot;abc&quot;") {
  return "<Contents><Key>" + key + "</Key><LastModified>2024-11-18T01:00:00.000Z</LastModified>"
         "<ETag>" + etag + "</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>" + size +
         "</Size><StorageClass>STANDARD</StorageClass></Contents>";
}

std::string page(const std::string& body, bool truncated = false, const std::string& next = "",
                 bool url = true) {
  return R"(<?xml version="1.0" encoding="UTF-8"?>)"
         R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>trail</Name>)"
         "<Prefix>AWSLogs%2F</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>" +
         std::string(url ? "<EncodingType>url</EncodingType>" : "") + "<IsTruncated>" +
         (truncated ? "true" : "false") + "</IsTruncated>" + body +
         (next.empty() ? "" : "<NextContinuationToken>" + next + "</NextContinuationToken>") +
         "</ListBucketResult>";
}

bool has_query(const http::HttpRequest& r, const std::string& name, const std::string& value) {
  for (const auto& [k, v] : r.query)
    if (k == name) return v == value;
  return false;
}

}  // namespace

TEST_CASE("S3 metadata: x-amz-meta-* lower-cased without the prefix, ETag, version id") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/AWSLogs/d.json.gz",
             [](const http::HttpRequest&) {
               return response(200, "digest",
                               {{"etag", "\"9bb6197e\""},
                                {"x-amz-meta-signature", "a1b2c3"},
                                {"x-amz-meta-signature-algorithm", "SHA256withRSA"},
                                {"X-Amz-Meta-Mixed-Case", "Value As Sent"},
                                {"x-amz-version-id", "v1"},
                                {"x-amz-request-id", "r"}});
             });
  S3Client s3 = f.client();
  ObjectRef o;
  o.bucket = "trail";
  o.key = "AWSLogs/d.json.gz";
  Buffer out;
  ObjectMetadata m;
  m.user.emplace_back("stale", "x");
  REQUIRE(s3.get_with_metadata(o, 1024, out, m).ok());
  CHECK(std::string_view(out.data(), out.size()) == "digest");
  CHECK(m.etag == "9bb6197e");
  CHECK(m.version_id == "v1");
  REQUIRE(m.user.size() == 3);
  REQUIRE(m.find("signature"));
  CHECK(*m.find("signature") == "a1b2c3");
  CHECK(*m.find("signature-algorithm") == "SHA256withRSA");
  CHECK(*m.find("mixed-case") == "Value As Sent");
  CHECK_FALSE(m.find("stale"));
  CHECK_FALSE(m.find("request-id"));
  // The same request as get(): one call each, same path.
  REQUIRE(s3.get(o, 1024, out).ok());
  REQUIRE(f.http->calls.size() == 2);
  CHECK(f.http->calls[0].request.url() == f.http->calls[1].request.url());
  // Bounds apply to the body as for get().
  CHECK(s3.get_with_metadata(o, 3, out, m).code == RemoteStatus::Code::kTooLarge);
}

TEST_CASE("S3 metadata: over the bounds, an empty or a repeated name is refused") {
  ObjectMetadata m;
  std::string error;
  http::HeaderList h;
  for (size_t i = 0; i < kMaxUserMetadataEntries; ++i)
    h.emplace_back("x-amz-meta-k" + std::to_string(i), "v");
  REQUIRE(parse_object_metadata(h, m, error));
  CHECK(m.user.size() == kMaxUserMetadataEntries);
  h.emplace_back("x-amz-meta-one-more", "v");
  CHECK_FALSE(parse_object_metadata(h, m, error));
  CHECK(error.find("over 64 entries") != std::string::npos);

  h = {{"x-amz-meta-big", std::string(kMaxUserMetadataBytes, 'x')}};
  CHECK_FALSE(parse_object_metadata(h, m, error));
  h = {{"x-amz-meta-big", std::string(kMaxUserMetadataBytes - 3, 'x')}};
  CHECK(parse_object_metadata(h, m, error));
  h = {{"x-amz-meta-", "v"}};
  CHECK_FALSE(parse_object_metadata(h, m, error));
  CHECK(error.find("without a name") != std::string::npos);
  h = {{"x-amz-meta-signature", "aa"}, {"X-Amz-Meta-Signature", "bb"}};
  CHECK_FALSE(parse_object_metadata(h, m, error));
  CHECK(error.find("\"signature\" is sent twice") != std::string::npos);

  // Through the client: the object fails (kFatal, naming it), nothing half-read.
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/k", [](const http::HttpRequest&) {
    return response(200, "x", {{"x-amz-meta-a", "1"}, {"x-amz-meta-a", "2"}});
  });
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  RemoteStatus s = f.client().get_with_metadata(o, 10, out, m);
  CHECK(s.code == RemoteStatus::Code::kFatal);
  CHECK(s.message.find("s3://trail/k") != std::string::npos);
}

TEST_CASE("S3 list: the ListObjectsV2 request, virtual-hosted and path-style") {
  Fixture f;
  S3Client s3 = f.client();
  http::HttpRequest req;
  std::string error;
  REQUIRE(s3.build_list_request("trail", "AWSLogs/1/CloudTrail-Digest/", "AWSLogs/a b+c", "tok",
                                50, "eu-west-1", req, error));
  CHECK(req.method == "GET");
  CHECK(req.host == "trail.s3.eu-west-1.amazonaws.com");
  CHECK(req.path == "/");
  CHECK(has_query(req, "list-type", "2"));
  CHECK(has_query(req, "prefix", "AWSLogs/1/CloudTrail-Digest/"));
  CHECK(has_query(req, "start-after", "AWSLogs/a b+c"));
  CHECK(has_query(req, "continuation-token", "tok"));
  CHECK(has_query(req, "max-keys", "50"));
  CHECK(has_query(req, "encoding-type", "url"));
  CHECK(req.url() ==
        "https://trail.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=AWSLogs%2F1%2FCloudTrail-"
        "Digest%2F&start-after=AWSLogs%2Fa%20b%2Bc&continuation-token=tok&max-keys=50&"
        "encoding-type=url");
  // Path-style for names that cannot be a host label; the endpoint URL's base path kept.
  REQUIRE(s3.build_list_request("my.trail", "", "", "", 1000, "us-east-1", req, error));
  CHECK(req.host == "s3.us-east-1.amazonaws.com");
  CHECK(req.path == "/my.trail");
  CHECK_FALSE(has_query(req, "prefix", ""));
  f.options.endpoint_url = "http://127.0.0.1:9000/base/";
  REQUIRE(f.client().build_list_request("trail", "", "", "", 1, "us-east-1", req, error));
  CHECK(req.host == "127.0.0.1:9000");
  CHECK(req.path == "/base/trail");
  CHECK_FALSE(s3.build_list_request("Bad/Name", "", "", "", 1, "us-east-1", req, error));
  // max_keys outside 1..1000 is refused before anything is sent.
  ObjectPage p;
  CHECK(s3.list("trail", "", "", "", 0, p).code == RemoteStatus::Code::kFatal);
  CHECK(s3.list("trail", "", "", "", 1001, p).code == RemoteStatus::Code::kFatal);
  CHECK(f.http->calls.empty());
}

TEST_CASE("S3 list: a page parsed, keys decoded, the token handed back") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/", [](const http::HttpRequest& r) {
    const bool second = has_query(r, "continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    if (!second)
      return response(200, page(contents("AWSLogs%2Fa+b%2Bc%3D.json.gz") +
                                    contents("AWSLogs%2F%C3%A9.json.gz", "0", "&quot;d&quot;"),
                                true, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
    return response(200, page(contents("AWSLogs%2Fz.json.gz", "18446744073709551615")));
  });
  S3Client s3 = f.client();
  ObjectPage p;
  REQUIRE(s3.list("trail", "AWSLogs/", "", "", 2, p).ok());
  REQUIRE(p.objects.size() == 2);
  CHECK(p.objects[0].key == "AWSLogs/a b+c=.json.gz");
  CHECK(p.objects[0].size == 10);
  CHECK(p.objects[0].etag == "abc");
  CHECK(p.objects[1].key == "AWSLogs/\xC3\xA9.json.gz");
  CHECK(p.objects[1].etag == "d");
  CHECK(p.next_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  REQUIRE(s3.list("trail", "AWSLogs/", "", p.next_token, 2, p).ok());
  REQUIRE(p.objects.size() == 1);
  CHECK(p.objects[0].size == 18446744073709551615ull);
  CHECK(p.next_token.empty());
  // Without EncodingType the keys are as sent ('+' stays).
  ObjectPage q;
  std::string error;
  REQUIRE(parse_list_objects_v2(page(contents("a+b"), false, "", false), q, error));
  CHECK(q.objects[0].key == "a+b");
  // An empty bucket.
  REQUIRE(parse_list_objects_v2(page(""), q, error));
  CHECK(q.objects.empty());
}

TEST_CASE("S3 list: hostile and malformed pages are refused, naming what is wrong") {
  struct Case {
    std::string xml;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"<Error><Code>x</Code></Error>", "not a ListBucketResult"},
      {"<ListBucketResult><Contents><Key>a</Key>", "malformed XML"},
      {"not xml at all", "malformed XML"},
      {R"(<!DOCTYPE x [<!ENTITY a "b">]><ListBucketResult/>)", "malformed XML"},
      {page("<Contents><Size>1</Size><Key>a</Key><ETag>e</ETag></Contents>"), "without its own Key"},
      {page("<Contents><Key>a</Key><Size>1</Size></Contents>"), "has no ETag"},
      {page("<Contents><Key>a</Key><ETag>e</ETag></Contents>"), "has no Size"},
      {page("<Contents><Key>a</Key><Size>1</Size><Size>2</Size><ETag>e</ETag></Contents>"),
       "without its own Key"},
      {page(contents("a", "-1")), "is not a number"},
      {page(contents("a", "1x")), "is not a number"},
      {page(contents("a", "99999999999999999999")), "is not a number"},
      {page(contents("a", "")), "is not a number"},
      {page(contents("a%zz")), "is not URL-encoded"},
      {page(contents("a%4")), "is not URL-encoded"},
      {page(contents("")), "an empty key"},
      {page(contents("a"), true), "without a NextContinuationToken"},
      {page(contents("a")).replace(page(contents("a")).find("<IsTruncated>false"), 18,
                                   "<IsTruncated>yes"),
       "neither true nor false"},
      {page(contents("a")).replace(page(contents("a")).find("url</Enc"), 3, "b64"),
       "unknown EncodingType"},
      {page(contents("a"), true, "t1").replace(page(contents("a"), true, "t1").find("</ListB"), 0,
                                               "<NextContinuationToken>t2</NextContinuationToken>"),
       "appears twice"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.xml);
    ObjectPage p;
    std::string error;
    CHECK_FALSE(parse_list_objects_v2(c.xml, p, error));
    CHECK(error.find(c.why) != std::string::npos);
  }
  // Deeply nested elements are refused by the XML reader's bound, not the stack.
  std::string deep = "<ListBucketResult>";
  for (int i = 0; i < 10000; ++i) deep += "<a>";
  ObjectPage p;
  std::string error;
  CHECK_FALSE(parse_list_objects_v2(deep, p, error));
}

TEST_CASE("S3 list: a page is checked against the request: count, prefix, order, progress") {
  Fixture f;
  std::string body;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/",
             [&](const http::HttpRequest&) { return response(200, body); });
  S3Client s3 = f.client();
  ObjectPage p;
  auto refused = [&](const std::string& prefix, const std::string& after, const std::string& token,
                     size_t max, const std::string& why) {
    RemoteStatus s = s3.list("trail", prefix, after, token, max, p);
    CHECK(s.code == RemoteStatus::Code::kFatal);
    CHECK(s.message.find(why) != std::string::npos);
    CHECK(s.message.find("ListObjectsV2 of s3://trail/") != std::string::npos);
    CHECK(p.objects.empty());
  };
  body = page(contents("a") + contents("b") + contents("c"));
  refused("", "", "", 2, "3 keys in a page of at most 2");
  refused("b", "", "", 10, "is not under the prefix");
  refused("", "b", "", 10, "is not after");
  body = page(contents("b") + contents("a"));
  refused("", "", "", 10, "is not after");
  body = page(contents("a") + contents("a"));
  refused("", "", "", 10, "is not after");
  body = page(contents("a"), true, "same");
  refused("", "", "same", 10, "continuation token did not change");
  body = std::string(kMaxListPageBytes + 1, ' ');
  refused("", "", "", 10, "over the limit");
}

TEST_CASE("S3 list: redirected like GetObject and remembered; AccessDenied names s3:ListBucket") {
  Fixture f;
  f.http->on("GET https://trail.s3.us-east-1.amazonaws.com/", [](const http::HttpRequest&) {
    return response(301, "<Error><Code>PermanentRedirect</Code></Error>",
                    {{"x-amz-bucket-region", "eu-central-1"}});
  });
  f.http->on("GET https://trail.s3.eu-central-1.amazonaws.com/", 200, page(contents("k")));
  f.http->on("GET https://trail.s3.eu-central-1.amazonaws.com/k", 200, "data");
  S3Client s3 = f.client();
  ObjectPage p;
  REQUIRE(s3.list("trail", "", "", "", 10, p).ok());
  CHECK(p.objects.size() == 1);
  CHECK(s3.region_for("trail") == "eu-central-1");
  // The region learned from the listing serves the read: no second redirect.
  ObjectRef o;
  o.bucket = "trail";
  o.key = "k";
  Buffer out;
  REQUIRE(s3.get(o, 100, out).ok());
  CHECK(f.http->count("GET https://trail.s3.us-east-1.amazonaws.com/") == 1);
  CHECK(f.http->calls.back().request.find_header("authorization")->find(
            "/eu-central-1/s3/aws4_request") != std::string::npos);

  f.http->on("GET https://trail.s3.eu-central-1.amazonaws.com/", 403,
             "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  RemoteStatus s = s3.list("trail", "AWSLogs/", "", "", 10, p);
  CHECK(s.code == RemoteStatus::Code::kAccessDenied);
  CHECK(s.message.find("s3:ListBucket on arn:aws:s3:::trail") != std::string::npos);
  f.http->on("GET https://trail.s3.eu-central-1.amazonaws.com/", 404,
             "<Error><Code>NoSuchBucket</Code></Error>");
  CHECK(s3.list("trail", "", "", "", 10, p).code == RemoteStatus::Code::kNotFound);
  f.http->on("GET https://trail.s3.eu-central-1.amazonaws.com/", 503,
             "<Error><Code>SlowDown</Code></Error>");
  CHECK(s3.list("trail", "", "", "", 10, p).code == RemoteStatus::Code::kRetry);
}

TEST_CASE("FakeStore: metadata per object and a listing in S3's order with pages") {
  testing::FakeStore store;
  for (const char* k : {"b/AWSLogs/3", "b/AWSLogs/1", "b/AWSLogs/2", "b/Other/x", "b2/AWSLogs/9",
                        "a/AWSLogs/0"})
    store.objects[k] = "xx";
  store.metadata["b/AWSLogs/1"].user.emplace_back("signature", "ab");
  ObjectRef o;
  o.bucket = "b";
  o.key = "AWSLogs/1";
  Buffer out;
  ObjectMetadata m;
  REQUIRE(store.get_with_metadata(o, 10, out, m).ok());
  CHECK(*m.find("signature") == "ab");
  o.key = "AWSLogs/2";
  REQUIRE(store.get_with_metadata(o, 10, out, m).ok());
  CHECK(m.user.empty());

  std::vector<std::string> keys;
  std::string token;
  int pages = 0;
  do {
    ObjectPage p;
    REQUIRE(store.list("b", "AWSLogs/", "", token, 2, p).ok());
    for (const auto& x : p.objects) keys.push_back(x.key);
    token = p.next_token;
    ++pages;
  } while (!token.empty());
  CHECK(keys == std::vector<std::string>{"AWSLogs/1", "AWSLogs/2", "AWSLogs/3"});
  CHECK(pages == 2);
  ObjectPage p;
  REQUIRE(store.list("b", "AWSLogs/", "AWSLogs/1", "", 10, p).ok());
  CHECK(p.objects.size() == 2);
  store.list_denied = true;
  CHECK(store.list("b", "", "", "", 10, p).code == RemoteStatus::Code::kAccessDenied);
}
