// Notification parsing: turns the body of one SQS message into what the agent must do with it.
// Understood shapes (samples in tests/data/notifications):
//   - S3 event notification, delivered directly to SQS ({"Records":[{"eventSource":"aws:s3",...}]})
//   - the same wrapped by SNS (raw message delivery off: {"Type":"Notification","Message":"..."};
//     on: the S3 JSON itself)
//   - EventBridge "Object Created" from aws.s3
//   - CloudTrail's own SNS notification ({"s3Bucket":...,"s3ObjectKey":[...]}), with or without
//     the SNS envelope
//   - EventBridge "AWS API Call via CloudTrail" (and other CloudTrail-sourced detail types, from
//     any source, aws.s3 included): the CloudTrail record itself, to be matched directly without
//     any S3 fetch if the daemon's inline policy accepts what the envelope claims
//     (agent/sources/inline_policy.h)
//   - s3:TestEvent (to be deleted, nothing else)
// Anything else is kUnknown and must not be deleted. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

struct ObjectRef {
  std::string bucket;
  std::string key;  // decoded: ready for GetObject
  // EventBridge "Object Created" only: the key's other reading (URL-decoded, as S3 -> SQS
  // notifications encode keys), when it differs from `key` and decodes. AWS does not document
  // detail.object.key as encoded and real events carry it as is ("2023-08-08T14:03:40.zip"
  // where S3 -> SQS says "%3A"), so `key` is that; the daemon tries this one only if `key` is
  // not found (404, or 403 AccessDenied without s3:ListBucket), only if it passes the same
  // checks, and only as the notified object (verify_identity, no version_id) (docs/aws.md,
  // "S3 -> EventBridge -> SQS"). Empty otherwise.
  std::string alternate_key;
  std::optional<uint64_t> size;
  std::string version_id;
  // The object's ETag as notified (s3.object.eTag, detail.object.etag), without quotes; empty if
  // absent or not an ETag (hex digits, '-' and a part count for multipart uploads).
  std::string etag;
  // Set by readers, never by a notification: this read is not pinned by version_id (the
  // unversioned re-read of a versioned object, the alternate reading of a key), so the store
  // must make sure it is the notified object: If-Match with `etag`, or, without an etag, the
  // notified `size` against what was read. A mismatch is a failure, never processed.
  bool verify_identity = false;
  // No region: where the object lives is for configuration and S3's own redirects to say, never
  // a message (agent/sources/s3_client.h).
  std::string event_time;  // when S3/EventBridge saw the object created, if given
};

// "s3://bucket/key": how logs and alerts name an object.
std::string object_name(const ObjectRef& object);

// What the envelope and the record of an inline EventBridge event claim about where it comes
// from. Unverified: anyone allowed to send to the queue can write any of it.
struct InlineEventClaims {
  std::string route;           // how it arrived: "eventbridge/cloudtrail" (an EventBridge rule
                               // targeting the queue), "sns/eventbridge/cloudtrail" (through an
                               // SNS topic), ... (as Notification::route)
  std::string id;              // the EventBridge event id
  std::string source;          // "aws.config", "aws.s3", ...
  std::string detail_type;     // "AWS API Call via CloudTrail", ...
  std::string account;         // the envelope's account
  std::string region;          // the envelope's region
  std::string record_account;  // detail.recipientAccountId ("" if absent)
  std::string record_region;   // detail.awsRegion ("" if absent)
};

struct Notification {
  enum class Kind {
    kObjects,      // fetch and process `objects`
    kInlineEvent,  // match `inline_event` (a CloudTrail record) directly
    kTestEvent,    // s3:TestEvent: delete
    kIgnored,      // understood, but nothing to do (e.g. only ObjectRemoved events): delete
    kUnknown,      // not understood: leave it for the queue's redrive policy
  };
  Kind kind = Kind::kUnknown;
  // How it arrived: "s3", "sns/s3", "eventbridge/s3", "cloudtrail-sns", "sns/cloudtrail-sns",
  // "eventbridge/cloudtrail", "s3-test", "sns/s3-test".
  std::string route;
  std::vector<ObjectRef> objects;
  std::string inline_event;  // kInlineEvent: compact JSON text of the CloudTrail record
  InlineEventClaims claims;  // kInlineEvent: where it says it comes from
  std::string reason;        // kUnknown / kIgnored: why, in words
};

// Parses one SQS message body. Never throws; malformed input is kUnknown with a reason.
Notification parse_notification(std::string_view body);

// Decodes an S3 event key: '+' is a space and %XX an escaped byte (form encoding). Returns
// false (and leaves `out` unspecified) on a malformed escape.
bool url_decode_s3_key(std::string_view encoded, std::string& out);

}  // namespace trailwarden
