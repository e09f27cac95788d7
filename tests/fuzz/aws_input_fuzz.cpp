// libFuzzer target: the parsers of bytes that arrive from the queue or from an AWS peer, where
// anyone who can send to the queue, or stand between the agent and an endpoint it was pointed
// at, chooses the input. The first byte picks the parser; the rest is its input. None may
// crash, hang or grow without bound, and each keeps the promise its header makes:
//   0  parse_notification (agent/sources/notification.h): an SQS message body. Every object it
//      asks for has a bucket and a key, an ETag only of the characters an ETag has, an
//      alternate key that differs from the key; an unknown body says why.
//   1  parse_http_date (agent/aws/time_util.h): a Date header; what it accepts formats back to
//      the same instant.
//   2  region_from_endpoint_url / sqs_region_from_queue_url (agent/aws/endpoints.h): a region
//      read from a URL is always a valid region name (it goes into a signing scope).
//   3  sqs_error_code (agent/sources/sqs_client.h): an error body and x-amzn-query-error header;
//      the code is printable and bounded (it goes into log lines and decisions).
//   4  parse_sts_response (agent/aws/sts.h): an STS answer; credentials it accepts are complete.
//   5  split_command_line, parse_process_credentials (agent/aws/process_credentials.h): a
//      profile's credential_process line and the helper's output.
//   6  parse_list_objects_v2 (agent/sources/s3_client.h): a ListObjectsV2 page; every key it
//      accepts is non-empty, and a page reads the same twice.
//   7  parse_list_public_keys (agent/sources/cloudtrail_client.h): a ListPublicKeys answer;
//      every key it accepts has DER bytes within the bound, a hex fingerprint and a validity
//      range that does not end before it starts.
//   8  parse_object_metadata (agent/sources/s3_client.h): response headers ("name: value"
//      lines); what it accepts is within the entry and byte bounds, names unique.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/aws/names.h"
#include "agent/aws/process_credentials.h"
#include "agent/aws/sts.h"
#include "agent/aws/time_util.h"
#include "agent/sources/cloudtrail_client.h"
#include "agent/sources/notification.h"
#include "agent/sources/s3_client.h"
#include "agent/sources/sqs_client.h"

namespace aws = trailwarden::aws;
namespace http = trailwarden::http;

namespace {

bool etag_chars(std::string_view s) {
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != '-') return false;
  }
  return true;
}

void notification(std::string_view body) {
  const trailwarden::Notification n = trailwarden::parse_notification(body);
  using Kind = trailwarden::Notification::Kind;
  if ((n.kind == Kind::kUnknown || n.kind == Kind::kIgnored) && n.reason.empty()) std::abort();
  if (n.kind == Kind::kObjects && n.objects.empty()) std::abort();
  for (const trailwarden::ObjectRef& o : n.objects) {
    if (o.bucket.empty() || o.key.empty()) std::abort();
    if (!etag_chars(o.etag)) std::abort();
    if (!o.alternate_key.empty() && o.alternate_key == o.key) std::abort();
    if (o.verify_identity) std::abort();  // set by readers, never by a message
  }
}

void http_date(std::string_view s) {
  aws::TimePoint t;
  if (!aws::parse_http_date(s, t)) return;
  aws::TimePoint again;
  if (!aws::parse_http_date(aws::format_http_date(t), again) || again != t) std::abort();
}

void endpoint_region(std::string_view url) {
  for (aws::AwsService service : {aws::AwsService::kSqs, aws::AwsService::kS3,
                                  aws::AwsService::kSts, aws::AwsService::kSns,
                                  aws::AwsService::kCloudTrail}) {
    const std::string r = aws::region_from_endpoint_url(service, url);
    if (!r.empty() && !aws::is_valid_region(r)) std::abort();
  }
  const std::string r = aws::sqs_region_from_queue_url(url);
  if (!r.empty() && !aws::is_valid_region(r)) std::abort();
}

void sqs_error(std::string_view data) {
  const size_t cut = data.find('\n');
  http::HttpResponse response;
  response.status = 400;
  if (cut != std::string_view::npos) {
    response.headers.emplace_back("x-amzn-query-error", std::string(data.substr(0, cut)));
    response.body = std::string(data.substr(cut + 1));
  } else {
    response.body = std::string(data);
  }
  std::string message;
  const std::string code = trailwarden::sqs_error_code(response, &message);
  if (code.size() > 1024 || message.size() > 4096) std::abort();
  for (char c : code) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) std::abort();
  }
}

void sts(std::string_view body) {
  for (std::string_view action : {"AssumeRole", "AssumeRoleWithWebIdentity"}) {
    http::HttpResponse response;
    response.status = 200;
    response.body = std::string(body);
    aws::Credentials c;
    std::string error;
    if (aws::parse_sts_response(action, response, c, error) && !c.complete()) std::abort();
  }
}

void process(std::string_view data) {
  std::vector<std::string> argv;
  std::string error;
  if (aws::split_command_line(data, argv, error) && argv.empty() && !error.empty()) std::abort();
  aws::Credentials c;
  if (aws::parse_process_credentials(data, c, error) && !c.complete()) std::abort();
}

void list_page(std::string_view xml) {
  trailwarden::ObjectPage page;
  std::string error;
  if (!trailwarden::parse_list_objects_v2(xml, page, error)) {
    if (error.empty()) std::abort();
    return;
  }
  for (const trailwarden::ListedObject& o : page.objects)
    if (o.key.empty()) std::abort();
  // Parsing is a function of the bytes: the same page gives the same keys and token.
  trailwarden::ObjectPage again;
  if (!trailwarden::parse_list_objects_v2(xml, again, error) ||
      again.objects.size() != page.objects.size() || again.next_token != page.next_token)
    std::abort();
}

void public_keys(std::string_view body) {
  std::vector<trailwarden::TrailPublicKey> keys;
  std::string next, error;
  if (!trailwarden::parse_list_public_keys(body, keys, next, error)) {
    if (error.empty()) std::abort();
    return;
  }
  for (const trailwarden::TrailPublicKey& k : keys) {
    if (k.der.empty() || k.der.size() > trailwarden::kMaxPublicKeyDerBytes) std::abort();
    if (k.fingerprint.empty() || k.valid_until < k.valid_from) std::abort();
    for (char c : k.fingerprint)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
        std::abort();
  }
}

void metadata(std::string_view data) {
  http::HeaderList headers;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const std::string_view line = data.substr(0, nl);
    const size_t colon = line.find(':');
    headers.emplace_back(std::string(line.substr(0, colon)),
                         colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  trailwarden::ObjectMetadata m;
  std::string error;
  if (!trailwarden::parse_object_metadata(headers, m, error)) return;
  if (m.user.size() > trailwarden::kMaxUserMetadataEntries) std::abort();
  size_t bytes = 0;
  for (size_t i = 0; i < m.user.size(); ++i) {
    if (m.user[i].first.empty()) std::abort();
    bytes += m.user[i].first.size() + m.user[i].second.size();
    for (size_t j = 0; j < i; ++j)
      if (m.user[j].first == m.user[i].first) std::abort();
  }
  if (bytes > trailwarden::kMaxUserMetadataBytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 9) {
    case 0: notification(input); break;
    case 1: http_date(input); break;
    case 2: endpoint_region(input); break;
    case 3: sqs_error(input); break;
    case 4: sts(input); break;
    case 5: process(input); break;
    case 6: list_page(input); break;
    case 7: public_keys(input); break;
    default: metadata(input); break;
  }
  return 0;
}
