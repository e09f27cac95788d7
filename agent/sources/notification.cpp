#include "agent/sources/notification.h"

#include <cctype>
#include <simdjson.h>

#include <fmt/format.h>

namespace trailwarden {

std::string object_name(const ObjectRef& o) { return fmt::format("s3://{}/{}", o.bucket, o.key); }

namespace dom = simdjson::dom;

namespace {

constexpr size_t kMaxNestedEnvelopes = 2;

// An ETag as S3 and EventBridge notify it ("d41d8cd9...", "<hex>-<parts>" for multipart
// uploads), quotes removed; "" for anything else, so no header is ever built from junk.
std::string notified_etag(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 128) return {};
  for (char c : v)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return {};
  return std::string(v);
}

std::string_view get_string(const dom::element& e, std::string_view key) {
  std::string_view s;
  if (e[key].get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

bool has_key(const dom::element& e, std::string_view key) {
  dom::element ignored;
  return e[key].get(ignored) == simdjson::SUCCESS;
}

Notification unknown(std::string reason) {
  Notification n;
  n.kind = Notification::Kind::kUnknown;
  n.reason = std::move(reason);
  return n;
}

Notification parse_s3_event(const dom::element& root) {
  Notification n;
  n.route = "s3";
  dom::array records;
  if (root["Records"].get_array().get(records) != simdjson::SUCCESS)
    return unknown("\"Records\" is not an array");
  size_t ignored = 0;
  for (dom::element r : records) {
    if (get_string(r, "eventSource") != "aws:s3")
      return unknown("a record of \"Records\" is not an S3 event (eventSource is not aws:s3)");
    std::string_view event_name = get_string(r, "eventName");
    if (!event_name.starts_with("ObjectCreated:")) {
      ++ignored;
      continue;
    }
    ObjectRef o;
    std::string_view name, key;
    if (r["s3"]["bucket"]["name"].get_string().get(name) != simdjson::SUCCESS || name.empty())
      return unknown("an S3 event without s3.bucket.name");
    if (r["s3"]["object"]["key"].get_string().get(key) != simdjson::SUCCESS || key.empty())
      return unknown("an S3 event without s3.object.key");
    o.bucket = std::string(name);
    if (!url_decode_s3_key(key, o.key))
      return unknown(fmt::format("malformed URL encoding in s3.object.key \"{}\"", key));
    uint64_t size;
    if (r["s3"]["object"]["size"].get_uint64().get(size) == simdjson::SUCCESS) o.size = size;
    o.version_id = std::string(get_string(r["s3"]["object"], "versionId"));
    o.etag = notified_etag(get_string(r["s3"]["object"], "eTag"));
    o.event_time = std::string(get_string(r, "eventTime"));
    n.objects.push_back(std::move(o));
  }
  if (n.objects.empty()) {
    if (ignored == 0) return unknown("an S3 event notification with no records");
    n.kind = Notification::Kind::kIgnored;
    n.reason = fmt::format("{} S3 event(s), none of them ObjectCreated", ignored);
    return n;
  }
  n.kind = Notification::Kind::kObjects;
  return n;
}

Notification parse_cloudtrail_sns(const dom::element& root) {
  Notification n;
  n.route = "cloudtrail-sns";
  std::string_view bucket = get_string(root, "s3Bucket");
  dom::array keys;
  if (bucket.empty() || root["s3ObjectKey"].get_array().get(keys) != simdjson::SUCCESS)
    return unknown("a CloudTrail notification without s3Bucket and an s3ObjectKey list");
  for (dom::element k : keys) {
    std::string_view key;
    if (k.get_string().get(key) != simdjson::SUCCESS || key.empty())
      return unknown("s3ObjectKey holds something other than object keys");
    ObjectRef o;
    o.bucket = std::string(bucket);
    o.key = std::string(key);  // CloudTrail writes keys as they are, not URL-encoded
    n.objects.push_back(std::move(o));
  }
  if (n.objects.empty()) {
    n.kind = Notification::Kind::kIgnored;
    n.reason = "a CloudTrail notification with an empty s3ObjectKey list";
    return n;
  }
  n.kind = Notification::Kind::kObjects;
  return n;
}

Notification parse_eventbridge(const dom::element& root) {
  std::string_view source = get_string(root, "source");
  std::string_view detail_type = get_string(root, "detail-type");
  dom::element detail;
  if (root["detail"].get(detail) != simdjson::SUCCESS || !detail.is_object())
    return unknown("an EventBridge event without a detail object");
  Notification n;
  // CloudTrail events routed by EventBridge ("AWS API Call via CloudTrail", "AWS Console Sign
  // In via CloudTrail", "AWS Service Event via CloudTrail", ...): detail is the record itself.
  // Checked before the S3 branch: S3's own API calls (PutBucketPolicy, PutBucketAcl, ...) come
  // with source aws.s3 too.
  if (detail_type.ends_with("via CloudTrail") && has_key(detail, "eventName") &&
      has_key(detail, "eventSource")) {
    n.route = "eventbridge/cloudtrail";
    n.kind = Notification::Kind::kInlineEvent;
    n.inline_event = simdjson::minify(detail);
    InlineEventClaims& c = n.claims;
    c.route = n.route;
    c.id = std::string(get_string(root, "id"));
    c.source = std::string(source);
    c.detail_type = std::string(detail_type);
    c.account = std::string(get_string(root, "account"));
    c.region = std::string(get_string(root, "region"));
    c.record_account = std::string(get_string(detail, "recipientAccountId"));
    c.record_region = std::string(get_string(detail, "awsRegion"));
    return n;
  }
  if (source == "aws.s3") {
    n.route = "eventbridge/s3";
    if (detail_type != "Object Created") {
      n.kind = Notification::Kind::kIgnored;
      n.reason = fmt::format("EventBridge S3 event \"{}\" (only Object Created is read)", detail_type);
      return n;
    }
    ObjectRef o;
    std::string_view name, key;
    if (detail["bucket"]["name"].get_string().get(name) != simdjson::SUCCESS || name.empty() ||
        detail["object"]["key"].get_string().get(key) != simdjson::SUCCESS || key.empty())
      return unknown("an EventBridge Object Created event without detail.bucket.name and "
                     "detail.object.key");
    o.bucket = std::string(name);
    o.key = std::string(key);  // EventBridge carries the key as it is (see ObjectRef)
    if (std::string decoded; url_decode_s3_key(key, decoded) && !decoded.empty() && decoded != key)
      o.alternate_key = std::move(decoded);
    uint64_t size;
    if (detail["object"]["size"].get_uint64().get(size) == simdjson::SUCCESS) o.size = size;
    o.version_id = std::string(get_string(detail["object"], "version-id"));
    o.etag = notified_etag(get_string(detail["object"], "etag"));
    o.event_time = std::string(get_string(root, "time"));
    n.objects.push_back(std::move(o));
    n.kind = Notification::Kind::kObjects;
    return n;
  }
  return unknown(fmt::format("an EventBridge event from \"{}\" of type \"{}\"", source, detail_type));
}

Notification parse_document(std::string_view body, size_t depth) {
  dom::parser parser;
  dom::element root;
  if (auto e = parser.parse(body).get(root))
    return unknown(fmt::format("the body is not JSON ({})", simdjson::error_message(e)));
  if (!root.is_object()) return unknown("the body is JSON but not an object");

  // SNS envelope: the payload is a JSON document inside the Message string.
  if (get_string(root, "Type") == "Notification" && has_key(root, "Message") &&
      has_key(root, "TopicArn")) {
    std::string_view message;
    if (root["Message"].get_string().get(message) != simdjson::SUCCESS)
      return unknown("an SNS envelope whose Message is not a string");
    if (depth >= kMaxNestedEnvelopes) return unknown("SNS envelopes nested too deeply");
    Notification inner = parse_document(message, depth + 1);
    inner.route = "sns/" + inner.route;
    if (inner.kind == Notification::Kind::kInlineEvent) inner.claims.route = inner.route;
    if (inner.kind == Notification::Kind::kUnknown)
      inner.reason = "inside an SNS envelope: " + inner.reason;
    return inner;
  }
  if (get_string(root, "Event") == "s3:TestEvent") {
    Notification n;
    n.kind = Notification::Kind::kTestEvent;
    n.route = "s3-test";
    return n;
  }
  if (has_key(root, "Records")) return parse_s3_event(root);
  if (has_key(root, "s3Bucket") && has_key(root, "s3ObjectKey")) return parse_cloudtrail_sns(root);
  if (has_key(root, "detail-type") && has_key(root, "source")) return parse_eventbridge(root);
  return unknown("a JSON object of no known notification shape");
}

}  // namespace

bool url_decode_s3_key(std::string_view encoded, std::string& out) {
  out.clear();
  out.reserve(encoded.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < encoded.size(); ++i) {
    char c = encoded[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= encoded.size()) return false;
      int hi = hex(encoded[i + 1]), lo = hex(encoded[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

Notification parse_notification(std::string_view body) { return parse_document(body, 0); }

}  // namespace trailwarden
