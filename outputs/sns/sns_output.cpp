#include "outputs/sns/sns_output.h"
#include "outputs/sns/cloudwatch_alarm_message.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/aws/xml.h"
#include "agent/http/classify.h"

namespace trailwarden {

namespace {

using Status = DeliveryResult::Status;

constexpr std::string_view kVersion = "2010-03-31";

void add_entry_params(http::QueryList& p, const std::string& prefix, const SnsEntry& e) {
  p.emplace_back(prefix + "Message", e.message);
  if (!e.subject.empty()) p.emplace_back(prefix + "Subject", e.subject);
  for (size_t i = 0; i < e.attributes.size(); ++i) {
    const std::string a = fmt::format("{}MessageAttributes.entry.{}.", prefix, i + 1);
    p.emplace_back(a + "Name", e.attributes[i].first);
    p.emplace_back(a + "Value.DataType", "String");
    p.emplace_back(a + "Value.StringValue", e.attributes[i].second);
  }
  if (!e.group_id.empty()) p.emplace_back(prefix + "MessageGroupId", e.group_id);
  if (!e.deduplication_id.empty())
    p.emplace_back(prefix + "MessageDeduplicationId", e.deduplication_id);
}

void add_message(std::string& messages, const std::string& m) {
  if (m.empty() || messages.find(m) != std::string::npos) return;
  if (!messages.empty()) messages += "; ";
  messages += m;
}

bool one_of(std::string_view code, std::initializer_list<std::string_view> codes) {
  for (auto c : codes)
    if (code == c) return true;
  return false;
}

}  // namespace

http::QueryList sns_publish_params(const std::string& topic_arn, const SnsEntry& e) {
  http::QueryList p;
  p.emplace_back("Action", "Publish");
  p.emplace_back("Version", std::string(kVersion));
  p.emplace_back("TopicArn", topic_arn);
  add_entry_params(p, "", e);
  return p;
}

http::QueryList sns_publish_batch_params(const std::string& topic_arn,
                                         const std::vector<const SnsEntry*>& entries) {
  http::QueryList p;
  p.emplace_back("Action", "PublishBatch");
  p.emplace_back("Version", std::string(kVersion));
  p.emplace_back("TopicArn", topic_arn);
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string m = fmt::format("PublishBatchRequestEntries.member.{}.", i + 1);
    p.emplace_back(m + "Id", std::to_string(i));
    add_entry_params(p, m, *entries[i]);
  }
  return p;
}

void parse_sns_error(std::string_view xml, std::string& code, std::string& message) {
  code.clear();
  message.clear();
  std::vector<aws::XmlLeaf> leaves;
  std::string ignored;
  if (!aws::parse_xml_leaves(xml, leaves, ignored)) return;
  aws::xml_leaf_text(leaves, "ErrorResponse/Error/Code", code);
  aws::xml_leaf_text(leaves, "ErrorResponse/Error/Message", message);
  code = http::printable_excerpt(code, 128);
  message = http::printable_excerpt(message, 300);
}

bool parse_sns_publish_batch_response(std::string_view xml, std::vector<std::string>& successful,
                                      std::vector<SnsBatchFailure>& failed, std::string& error) {
  std::vector<aws::XmlLeaf> leaves;
  if (!aws::parse_xml_leaves(xml, leaves, error)) return false;
  constexpr std::string_view kResult = "PublishBatchResponse/PublishBatchResult/";
  bool any = false;
  for (const auto& l : leaves) {
    if (!l.path.starts_with("PublishBatchResponse/")) continue;
    any = true;
    if (l.path == fmt::format("{}Successful/member/Id", kResult)) successful.push_back(l.text);
  }
  if (!any) {
    error = "not a PublishBatchResponse";
    return false;
  }
  // Failed members: each <member> of <Failed> parsed on its own (the leaves of several members
  // share their paths). The whole document parsed above, so the tags nest.
  const size_t open = xml.find("<Failed>");
  if (open == std::string_view::npos) return true;
  const size_t close = xml.find("</Failed>", open);
  if (close == std::string_view::npos) {
    error = "unterminated <Failed>";
    return false;
  }
  std::string_view section = xml.substr(open, close - open);
  for (size_t pos = section.find("<member>"); pos != std::string_view::npos;
       pos = section.find("<member>", pos + 1)) {
    const size_t end = section.find("</member>", pos);
    if (end == std::string_view::npos) break;
    std::vector<aws::XmlLeaf> m;
    std::string ignored;
    if (!aws::parse_xml_leaves(section.substr(pos, end + 9 - pos), m, ignored)) continue;
    SnsBatchFailure f;
    std::string fault;
    aws::xml_leaf_text(m, "member/Id", f.id);
    aws::xml_leaf_text(m, "member/Code", f.code);
    aws::xml_leaf_text(m, "member/Message", f.message);
    aws::xml_leaf_text(m, "member/SenderFault", fault);
    f.code = http::printable_excerpt(f.code, 128);
    f.message = http::printable_excerpt(f.message, 300);
    f.sender_fault = fault == "true";
    failed.push_back(std::move(f));
  }
  return true;
}

SnsErrorClass classify_sns_error(int status, std::string_view code) {
  if (one_of(code, {"Throttled", "Throttling", "ThrottlingException", "ThrottledException",
                    "KMSThrottling", "InternalError", "InternalFailure", "ServiceUnavailable",
                    "RequestTimeout", "KMSThrottlingException"}))
    return SnsErrorClass::kRetry;
  if (one_of(code, {"NotFound", "NotFoundException", "AuthorizationError", "AccessDenied",
                    "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
                    "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                    "KMSAccessDenied", "KMSDisabled", "KMSNotFound", "KMSInvalidState",
                    "KMSOptInRequired", "InvalidSecurity", "OptedOut", "EndpointDisabled"}))
    return SnsErrorClass::kFatal;
  if (one_of(code, {"BatchRequestTooLong", "TooManyEntriesInBatchRequest"}))
    return SnsErrorClass::kBatchTooLarge;
  if (code.empty() && (status == 401 || status == 403 || status == 404))
    return SnsErrorClass::kFatal;
  if (http::classify_status(status).retryable) return SnsErrorClass::kRetry;
  return SnsErrorClass::kReject;
}

SnsOutput::SnsOutput(std::string name, SnsOptions options, std::shared_ptr<http::HttpClient> http,
                     std::shared_ptr<aws::CredentialsSource> credentials)
    : name_(std::move(name)),
      options_(std::move(options)),
      http_(std::move(http)),
      credentials_(std::move(credentials)),
      batch_(options_.batch) {
  call_options_ = aws::signed_call_options(
      aws::AwsService::kSns, "SNS", options_.region,
      [](const http::HttpResponse& r, std::string* message) {
        std::string code, text;
        parse_sns_error(r.body, code, text);
        if (message) *message = std::move(text);
        return code;
      });
  // SNS's query protocol says ExpiredToken only (ExpiredTokenException is the JSON protocols').
  call_options_.expired_token = [](std::string_view code) { return code == "ExpiredToken"; };
}

bool SnsOutput::publish(size_t begin, size_t end, std::string& messages, bool& fatal) {
  const bool batch = batch_ && end - begin > 1;
  std::string body;
  if (batch) {
    std::vector<const SnsEntry*> entries;
    for (size_t i = begin; i < end; ++i) entries.push_back(&entries_[i]);
    body = http::form_encode(sns_publish_batch_params(options_.topic.arn, entries));
  } else {
    body = http::form_encode(sns_publish_params(options_.topic.arn, entries_[begin]));
  }
  const std::string_view action = batch ? "PublishBatch" : "Publish";
  const std::string where = fmt::format("SNS {} to {}", action, options_.topic.arn);
  http::HttpRequest req;
  req.method = "POST";
  req.scheme = options_.scheme;
  req.host = options_.host;
  req.path = options_.path;
  req.body = std::move(body);
  req.cancel = &cancelled_;
  req.set_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  aws::SignedCallResult call =
      aws::signed_call(*http_, *credentials_, req, options_.timeout, call_options_);
  using Outcome = aws::SignedCallResult::Outcome;
  switch (call.outcome) {
    case Outcome::kOk:
    case Outcome::kRefused:
      break;
    case Outcome::kCancelled:
    case Outcome::kDeadline:  // no deadline is set
      return false;
    case Outcome::kNoCredentials:
      add_message(messages, fmt::format("{}: no AWS credentials: {}", where, call.error));
      return false;
    case Outcome::kNoAnswer:
      add_message(messages,
                  fmt::format("{}: {}", where, call.error.empty() ? "no answer" : call.error));
      return false;  // retry the pending entries
  }
  const http::HttpResponse& r = call.response;
  if (r.ok()) {
    if (!batch) {
      state_[begin] = ItemState::kDelivered;
      return true;
    }
    std::vector<std::string> ok;
    std::vector<SnsBatchFailure> failed;
    std::string error;
    if (!parse_sns_publish_batch_response(r.body, ok, failed, error)) {
      add_message(messages, fmt::format("{}: unreadable answer ({}): {}", where, error,
                                        http::printable_excerpt(r.body, 120)));
      return false;
    }
    auto index = [&](const std::string& id) -> size_t {
      size_t i = 0;
      for (char c : id) {
        if (c < '0' || c > '9' || i > end) return SIZE_MAX;
        i = i * 10 + static_cast<size_t>(c - '0');
      }
      return id.empty() || begin + i >= end ? SIZE_MAX : begin + i;
    };
    for (const auto& id : ok)
      if (size_t i = index(id); i != SIZE_MAX) state_[i] = ItemState::kDelivered;
    for (const auto& f : failed) {
      const size_t i = index(f.id);
      if (i == SIZE_MAX || state_[i] == ItemState::kDelivered) continue;
      const SnsErrorClass c = classify_sns_error(f.sender_fault ? 400 : 500, f.code);
      const std::string m = fmt::format("{}: entry refused: {}{}{}", where, f.code,
                                        f.message.empty() ? "" : ": ", f.message);
      add_message(messages, m);
      if (c == SnsErrorClass::kFatal) {
        fatal = true;
        messages = m;
        return false;
      }
      if (c == SnsErrorClass::kReject && f.sender_fault) state_[i] = ItemState::kRejected;
    }
    return true;
  }
  const std::string& code = call.code;
  const std::string& message = call.message;
  const std::string m =
      fmt::format("{} failed: HTTP {} {}{}{}", where, r.status, code.empty() ? "(no code)" : code,
                  message.empty() ? "" : ": ", message);
  switch (classify_sns_error(r.status, code)) {
    case SnsErrorClass::kRetry:
      add_message(messages, m);
      return false;
    case SnsErrorClass::kFatal:
      fatal = true;
      messages = m + (code == "NotFound" ? " (does the topic exist in this account and region?)"
                      : code == "AuthorizationError"
                          ? " (the agent's role needs sns:Publish on the topic, and "
                            "kms:GenerateDataKey and kms:Decrypt on its key if it is encrypted)"
                          : "");
      return false;
    case SnsErrorClass::kBatchTooLarge:
      batch_ = false;
      spdlog::warn("output {}: {}; publishing one message per request from now on", name_, m);
      add_message(messages, m);
      return false;
    case SnsErrorClass::kReject:
      add_message(messages, m);
      for (size_t i = begin; i < end; ++i) state_[i] = ItemState::kRejected;
      return true;
  }
  return false;  // not reached: every class returns
}

DeliveryResult SnsOutput::send(const std::vector<const AlertRecord*>& batch) {
  std::vector<SnsEntry> entries;
  entries.reserve(batch.size());
  for (const AlertRecord* a : batch) {
    // An alarm transition is sent as CloudWatch's alarm notification.
    if (a->kind == AlertKind::kAlarm) {
      CloudWatchAlarmChange change;
      std::string error;
      if (alarm_change_from_alert(*a, change, error)) {
        entries.push_back(make_sns_alarm_entry(change, options_));
        continue;
      }
      spdlog::warn("output {}: alarm alert {} (rule {}): {}; sent as an alert", name_, a->uid,
                   a->rule_id, error);
    }
    entries.push_back(make_sns_entry(*a, options_));
    if (entries.back().trimmed)
      spdlog::warn("output {}: alert {} (rule {}) is larger than SNS's 256 KiB: sent trimmed",
                   name_, a->uid, a->rule_id);
  }
  return send_entries(std::move(entries));
}

DeliveryResult SnsOutput::send_entries(std::vector<SnsEntry> entries) {
  DeliveryResult result;
  const size_t n = entries.size();
  if (n == 0) return result;
  entries_ = std::move(entries);
  state_.assign(n, ItemState::kPending);
  std::string messages;
  bool fatal = false;
  for (size_t begin = 0; begin < n && !cancelled_;) {
    size_t end = begin + 1;
    if (batch_) {
      size_t bytes = entries_[begin].payload_bytes();
      while (end < n && end - begin < 10 && bytes + entries_[end].payload_bytes() <= kSnsMaxPayloadBytes)
        bytes += entries_[end++].payload_bytes();
    }
    if (!publish(begin, end, messages, fatal)) break;
    begin = end;
  }
  if (fatal) {
    result.status = Status::kFatal;
    result.message = std::move(messages);
    return result;
  }
  return delivery_result_from(state_, std::move(messages));
}

}  // namespace trailwarden
