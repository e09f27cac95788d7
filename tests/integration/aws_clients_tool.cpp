// aws_clients_tool: drives the real S3 and CloudTrail clients (agent/sources/s3_client.h,
// cloudtrail_client.h, on libcurl) for test_strict_aws.py, against the strict AWS stand-in.
//
//   aws_clients_tool get BUCKET KEY               GetObject with its metadata
//   aws_clients_tool list BUCKET PREFIX START_AFTER MAX_KEYS
//                                                 every page of a ListObjectsV2 listing
//   aws_clients_tool keys REGION START END        ListPublicKeys, every page
//
// Environment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_REGION (S3's first region),
// TW_CA_FILE (the stand-in's CA), the endpoint variables of agent/aws/endpoints.h
// (AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_USE_FIPS_ENDPOINT, ...), and TRAILWARDEN_TEST_CONNECT_TO
// (this tool links tests/integration/failpoint_hook.cpp, like trailwarden_failpoints).
// Prints one JSON object on stdout: {"ok", "code", "message", ...command fields}; get: "size",
// "body_b64" is not printed, "etag", "version_id", "metadata" {name: value}; list: "pages",
// "keys" [[key, size, etag]...]; keys: "keys" [{"der_hex", "fingerprint", "from", "until"}].
// Exit status: 0 ok, 1 the call failed, 2 usage.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/http/curl_http_client.h"
#include "agent/sources/cloudtrail_client.h"
#include "agent/sources/s3_client.h"

using namespace trailwarden;

namespace {

class EnvCredentials : public aws::CredentialsSource {
 public:
  bool get(aws::Credentials& out, std::string& error) override {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !secret) {
      error = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set";
      return false;
    }
    out.access_key_id = id;
    out.secret_access_key = secret;
    return true;
  }
  void invalidate() override {}
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

aws::Environment environment() {
  aws::Environment env;
  for (const char* name :
       {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDTRAIL", "AWS_ENDPOINT_URL_S3",
        "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"})
    if (const char* v = std::getenv(name)) env[name] = v;
  return env;
}

const char* code_name(RemoteStatus::Code c) {
  switch (c) {
    case RemoteStatus::Code::kOk: return "ok";
    case RemoteStatus::Code::kRetry: return "retry";
    case RemoteStatus::Code::kNotFound: return "not_found";
    case RemoteStatus::Code::kAccessDenied: return "access_denied";
    case RemoteStatus::Code::kTooLarge: return "too_large";
    case RemoteStatus::Code::kFatal: return "fatal";
  }
  return "?";
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: aws_clients_tool get BUCKET KEY | list BUCKET PREFIX START_AFTER MAX_KEYS "
               "| keys REGION START END\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  http::CurlHttpOptions http_options;
  http_options.ca_file = env_or("TW_CA_FILE", "");
  auto http = std::make_shared<http::CurlHttpClient>(http_options);
  auto credentials = std::make_shared<EnvCredentials>();
  const aws::Environment env = environment();

  std::string out;
  JsonWriter w(out);
  w.begin_object();
  RemoteStatus s;
  try {
    if ((args[0] == "get" && args.size() == 3) || (args[0] == "list" && args.size() == 5)) {
      aws::EndpointSettings settings;
      std::string error;
      if (!aws::endpoint_settings(aws::AwsService::kS3, {}, env, settings, error)) {
        std::fprintf(stderr, "aws_clients_tool: %s\n", error.c_str());
        return 2;
      }
      S3ClientOptions o;
      o.region = env_or("AWS_REGION", "us-east-1");
      o.endpoint_url = settings.url;
      o.variant = settings.variant;
      S3Client s3(o, http, credentials);
      if (args[0] == "get") {
        ObjectRef ref;
        ref.bucket = args[1];
        ref.key = args[2];
        Buffer body;
        ObjectMetadata m;
        s = s3.get_with_metadata(ref, 64 << 20, body, m);
        w.field("size", static_cast<uint64_t>(body.size()));
        w.field("etag", std::string_view(m.etag));
        w.field("version_id", std::string_view(m.version_id));
        w.key("metadata").begin_object();
        for (const auto& [k, v] : m.user) w.field(k, std::string_view(v));
        w.end_object();
      } else {
        std::string token;
        int pages = 0;
        w.key("keys").begin_array();
        do {
          ObjectPage page;
          s = s3.list(args[1], args[2], args[3], token, std::stoul(args[4]), page);
          if (!s.ok()) break;
          ++pages;
          for (const ListedObject& x : page.objects)
            w.begin_array()
                .value(std::string_view(x.key))
                .value(static_cast<uint64_t>(x.size))
                .value(std::string_view(x.etag))
                .end_array();
          token = page.next_token;
        } while (!token.empty() && pages < 10000);
        w.end_array();
        w.field("pages", static_cast<int64_t>(pages));
      }
    } else if (args[0] == "keys" && args.size() == 4) {
      CloudTrailClientOptions o;
      std::string error;
      if (!cloudtrail_client_options({}, env, o, error)) {
        std::fprintf(stderr, "aws_clients_tool: %s\n", error.c_str());
        return 2;
      }
      o.max_attempts = 2;
      o.backoff_base = std::chrono::milliseconds(10);
      CloudTrailClient ct(o, http, credentials);
      std::vector<TrailPublicKey> keys;
      s = ct.list_public_keys(args[1], std::stoll(args[2]), std::stoll(args[3]), keys);
      w.key("keys").begin_array();
      for (const TrailPublicKey& k : keys) {
        w.begin_object();
        w.field("der_hex", std::string_view(hex(k.der)));
        w.field("fingerprint", std::string_view(k.fingerprint));
        w.field("from", k.valid_from);
        w.field("until", k.valid_until);
        w.end_object();
      }
      w.end_array();
    } else {
      return usage();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aws_clients_tool: %s\n", e.what());
    return 2;
  }
  w.field("ok", s.ok());
  w.field("code", std::string_view(code_name(s.code)));
  w.field("message", std::string_view(s.message));
  w.end_object();
  std::cout << out << std::endl;
  return s.ok() ? 0 : 1;
}
