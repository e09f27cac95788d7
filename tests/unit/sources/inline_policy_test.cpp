#include "agent/sources/inline_policy.h"

#include <doctest/doctest.h>

using namespace trailwarden;

namespace {

InlineEventClaims genuine() {
  InlineEventClaims c;
  c.route = "eventbridge/cloudtrail";
  c.id = "36eb8523-97d0-4518-b33d-ee3579ff19f0";
  c.source = "aws.config";
  c.detail_type = "AWS API Call via CloudTrail";
  c.account = "111122223333";
  c.region = "us-east-1";
  c.record_account = "111122223333";
  c.record_region = "us-east-1";
  return c;
}

InlineEventPolicy on() {
  InlineEventPolicy p;
  p.enabled = true;
  p.accounts = {"111122223333"};
  return p;
}

}  // namespace

TEST_CASE("inline policy: off by default") {
  CHECK(inline_event_refusal(genuine(), InlineEventPolicy{}).find("inline_events is off") !=
        std::string::npos);
  CHECK(inline_event_refusal(genuine(), on()).empty());
}

TEST_CASE("inline policy: refusals say why") {
  struct Case {
    const char* what;
    void (*change)(InlineEventClaims&, InlineEventPolicy&);
    const char* reason;
  };
  const Case cases[] = {
      {"custom source", [](InlineEventClaims& c, InlineEventPolicy&) { c.source = "attacker.custom"; },
       "not an AWS service"},
      {"no source", [](InlineEventClaims& c, InlineEventPolicy&) { c.source.clear(); },
       "not an AWS service"},
      {"other account", [](InlineEventClaims& c, InlineEventPolicy&) {
         c.account = c.record_account = "999999999999";
       }, "not in source.sqs.inline_accounts"},
      {"malformed account", [](InlineEventClaims& c, InlineEventPolicy&) { c.account = "1\n2"; },
       "not an account id"},
      {"record from another account", [](InlineEventClaims& c, InlineEventPolicy&) {
         c.record_account = "999999999999";
       }, "recipientAccountId"},
      {"record without recipientAccountId",
       [](InlineEventClaims& c, InlineEventPolicy&) { c.record_account.clear(); },
       "recipientAccountId"},
      {"hostile region", [](InlineEventClaims& c, InlineEventPolicy&) {
         c.region = c.record_region = "us-east-1.amazonaws.com.evil";
       }, "not a region name"},
      {"region not listed", [](InlineEventClaims& c, InlineEventPolicy& p) {
         p.regions = {"eu-west-1"};
         (void)c;
       }, "not in source.sqs.inline_regions"},
      {"record from another region", [](InlineEventClaims& c, InlineEventPolicy&) {
         c.record_region = "eu-west-1";
       }, "awsRegion"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.what);
    InlineEventClaims c = genuine();
    InlineEventPolicy p = on();
    k.change(c, p);
    const std::string why = inline_event_refusal(c, p);
    CHECK(why.find(k.reason) != std::string::npos);
    CHECK(why.find('\n') == std::string::npos);  // untrusted values are escaped
  }
  InlineEventPolicy listed = on();
  listed.regions = {"eu-west-1", "us-east-1"};
  CHECK(inline_event_refusal(genuine(), listed).empty());
}

TEST_CASE("inline policy: only an EventBridge rule's own delivery, unless SNS is allowed") {
  InlineEventClaims via_sns = genuine();
  via_sns.route = "sns/eventbridge/cloudtrail";
  const std::string why = inline_event_refusal(via_sns, on());
  CHECK(why.find("SNS topic") != std::string::npos);
  CHECK(why.find("source.sqs.inline_events_via_sns") != std::string::npos);
  InlineEventPolicy sns_ok = on();
  sns_ok.via_sns = true;
  CHECK(inline_event_refusal(via_sns, sns_ok).empty());
  CHECK(inline_event_refusal(genuine(), sns_ok).empty());
  // Nested envelopes (SNS does not deliver to SNS) and unknown routes: never.
  for (const char* route : {"sns/sns/eventbridge/cloudtrail", "", "s3", "eventbridge/s3"}) {
    CAPTURE(route);
    InlineEventClaims c = genuine();
    c.route = route;
    CHECK(inline_event_refusal(c, sns_ok).find("not from an EventBridge rule") !=
          std::string::npos);
  }
}
