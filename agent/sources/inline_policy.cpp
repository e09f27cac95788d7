#include "agent/sources/inline_policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/aws/names.h"

namespace trailwarden {

namespace {

// An untrusted value, quoted, escaped and shortened for a log line.
std::string quoted(std::string_view s, size_t max = 64) {
  std::string out = "\"";
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') out += fmt::format("\\x{:02x}", u);
    else out.push_back(c);
  }
  if (s.size() > max) out += "...";
  return out + "\"";
}

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string inline_event_refusal(const InlineEventClaims& c, const InlineEventPolicy& p) {
  if (!p.enabled)
    return "inline EventBridge events are not accepted (source.sqs.inline_events is off)";
  if (c.route != "eventbridge/cloudtrail") {
    if (c.route != "sns/eventbridge/cloudtrail")
      return fmt::format("it came by route {}, not from an EventBridge rule", quoted(c.route));
    if (!p.via_sns)
      return "it came through an SNS topic, whose publishers may forge it (only an EventBridge "
             "rule targeting the queue is accepted unless source.sqs.inline_events_via_sns is on)";
  }
  if (!aws::is_aws_event_source(c.source))
    return fmt::format("source {} is not an AWS service (aws.*)", quoted(c.source));
  if (!aws::is_valid_account_id(c.account))
    return fmt::format("account {} is not an account id", quoted(c.account));
  if (!listed(p.accounts, c.account))
    return fmt::format("account {} is not in source.sqs.inline_accounts", c.account);
  if (c.record_account != c.account)
    return fmt::format("the record's recipientAccountId {} is not the event's account {}",
                       quoted(c.record_account), c.account);
  if (!aws::is_valid_region(c.region))
    return fmt::format("region {} is not a region name", quoted(c.region));
  if (!p.regions.empty() && !listed(p.regions, c.region))
    return fmt::format("region {} is not in source.sqs.inline_regions", c.region);
  if (c.record_region != c.region)
    return fmt::format("the record's awsRegion {} is not the event's region {}",
                       quoted(c.record_region), c.region);
  return {};
}

}  // namespace trailwarden
