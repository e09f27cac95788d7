// libFuzzer target: what the SNS output reads from SNS and what it makes of hostile alerts. The
// first byte picks the part; the rest is its input. None may crash or hang, and each keeps the
// promise its header makes (outputs/sns/sns_output.h, sns_message.h, sns_config.h):
//   0  parse_sns_publish_batch_response: an answer to PublishBatch; codes and messages it
//      returns are printable and bounded (128 and 300 bytes and "..."; they go into log lines and dead-letter reasons).
//   1  parse_sns_error: an ErrorResponse; the same.
//   2  make_sns_entry: the input as the alert's document and its actor (in the subject): the
//      subject is 0-100 printable ASCII characters not starting with a space, the FIFO ids
//      1-128 printable ASCII characters, and the payload within the limit (a small one here, so
//      that trimming runs), the message valid JSON.
//   3  parse_sns_subject: a template; when accepted, the subject it makes is SNS-safe.
//   4  alarm_change_from_alert: the input as an alarm transition alert's change (AlertRecord::
//      alarm, read back from a disk buffer); when accepted, the CloudWatch notification made of
//      it has an SNS-safe subject and ids and a message that is valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "outputs/sns/cloudwatch_alarm_message.h"
#include "outputs/sns/sns_config.h"
#include "outputs/sns/sns_message.h"
#include "outputs/sns/sns_output.h"

using namespace trailwarden;

namespace {

bool printable(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

void safe_subject(const std::string& s) {
  if (!printable(s, kSnsMaxSubjectChars)) std::abort();
  if (!s.empty() && s.front() == ' ') std::abort();
}

void sns_id(const std::string& s) {
  if (s.empty() || s.size() > 128) std::abort();
  for (char c : s)
    if (static_cast<unsigned char>(c) < 33 || static_cast<unsigned char>(c) > 126) std::abort();
}

void entry(std::string_view in) {
  SnsOptions o;
  o.topic.fifo = true;
  o.attributes = sns_default_attributes();
  std::string error;
  if (!parse_sns_subject("{actor}", o.subject, error)) std::abort();
  AlertRecord a;
  a.uid = std::string(in.substr(0, 200));
  a.rule_id = "cis-4.9";
  a.rule_title = "t";
  a.actor = std::string(in);
  a.account = std::string(in.substr(0, 40));
  a.ocsf = std::string(in);
  o.group_id = SnsField::kAccount;
  constexpr size_t kLimit = 4096;
  const SnsEntry e = make_sns_entry(a, o, kLimit);
  safe_subject(e.subject);
  sns_id(e.group_id);
  sns_id(e.deduplication_id);
  if (e.payload_bytes() > kLimit) std::abort();
  if (e.trimmed) {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(e.message).get(doc) != simdjson::SUCCESS) std::abort();
  }
}

void alarm_change(std::string_view in) {
  AlertRecord a;
  a.kind = AlertKind::kAlarm;
  a.rule_id = "cis-4.9";
  a.alarm = std::string(in);
  CloudWatchAlarmChange change;
  std::string error;
  if (!alarm_change_from_alert(a, change, error)) {
    if (error.empty()) std::abort();  // a refusal says why
    return;
  }
  SnsOptions o;
  o.topic.fifo = true;
  const SnsEntry e = make_sns_alarm_entry(change, o);
  safe_subject(e.subject);
  sns_id(e.group_id);
  sns_id(e.deduplication_id);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(e.message).get(doc) != simdjson::SUCCESS) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      std::vector<std::string> ok;
      std::vector<SnsBatchFailure> failed;
      std::string error;
      if (parse_sns_publish_batch_response(in, ok, failed, error))
        for (const auto& f : failed)
          if (!printable(f.code, 131) || !printable(f.message, 303)) std::abort();
      break;
    }
    case 1: {
      std::string code, message;
      parse_sns_error(in, code, message);
      if (!printable(code, 131) || !printable(message, 303)) std::abort();
      break;
    }
    case 2:
      entry(in);
      break;
    case 3: {
      SnsSubjectTemplate t;
      std::string error;
      if (parse_sns_subject(in, t, error)) {
        AlertRecord a;
        a.rule_title = std::string(in);
        safe_subject(sns_subject(t, a));
      }
      break;
    }
    case 4:
      alarm_change(in);
      break;
  }
  return 0;
}
