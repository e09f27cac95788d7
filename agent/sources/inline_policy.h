// The trust policy of the inline route: which EventBridge-delivered CloudTrail events ("AWS API
// Call via CloudTrail", ...) the daemon matches directly, without reading the record from S3
// ([source.sqs] inline_events, inline_accounts, inline_regions).
//
// An inline event is only as trustworthy as the queue: nothing in the message is signed, and
// anyone allowed to send to the queue can write any envelope. The policy keeps the route off
// unless asked for, limits it to events an EventBridge rule sent to the queue directly (not
// relayed by an SNS topic, whose publishers are another set of principals, unless asked for),
// to AWS service sources of the accounts (and regions) named, and refuses envelopes that
// contradict their own record. The queue policy (docs/aws.md) is what
// keeps others from sending; alerts from this route say they are unverified, and never hide a
// record read from S3 (agent/normalize/ocsf.h, finding uids). Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "agent/sources/notification.h"

namespace trailwarden {

struct InlineEventPolicy {
  bool enabled = false;               // off: every inline event is refused
  bool via_sns = false;  // also accept events an SNS topic relayed ("sns/eventbridge/cloudtrail");
                         // off: only an EventBridge rule targeting the queue itself
  std::vector<std::string> accounts;  // accepted account ids; required when enabled
  std::vector<std::string> regions;   // accepted regions; empty: any valid region
};

// "" when the policy accepts an event making these claims; otherwise why it is refused, in
// words that are safe to log (untrusted values are escaped and shortened).
std::string inline_event_refusal(const InlineEventClaims& claims, const InlineEventPolicy& policy);

}  // namespace trailwarden
