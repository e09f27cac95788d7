#include "outputs/sns/sns_message.h"

#include <simdjson.h>

#include <atomic>
#include <string_view>

#include "agent/aws/sigv4.h"
#include "agent/common/json_writer.h"
#include "outputs/format.h"

namespace trailwarden {

namespace {

std::atomic<uint64_t> g_trimmed{0};

// SNS ids (MessageGroupId, MessageDeduplicationId): 1-128 of ASCII 33-126.
bool sns_id_ok(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 33 || static_cast<unsigned char>(c) > 126) return false;
  return true;
}

std::string sns_id(std::string_view s, std::string_view fallback) {
  if (s.empty()) return std::string(fallback);
  if (sns_id_ok(s)) return std::string(s);
  return aws::sha256_hex(s);  // 64 hex digits: stable for the same value
}

void write_marker(JsonWriter& w, const std::vector<std::string_view>& fields, size_t original) {
  w.key("sns_trimmed").begin_object();
  w.key("fields").begin_array();
  for (auto f : fields) w.value(f);
  w.end_array();
  w.field("original_bytes", static_cast<uint64_t>(original));
  w.end_object();
}

// Copies the members of object `obj` into the open object of `w`, except `skip`.
void copy_members(JsonWriter& w, simdjson::dom::object obj, std::string_view skip = {}) {
  for (auto field : obj) {
    if (!skip.empty() && field.key == skip) continue;
    w.key(field.key).raw(simdjson::minify(field.value));
  }
}

// The OCSF finding without raw_data (level 1), and without unmapped's members other than
// "trailwarden" (level 2); the marker goes into unmapped.trailwarden.
bool trim_ocsf(simdjson::dom::object root, int level, size_t original, std::string& out) {
  std::vector<std::string_view> dropped;
  if (root["raw_data"].error() == simdjson::SUCCESS) dropped.push_back("raw_data");
  simdjson::dom::object unmapped;
  const bool has_unmapped = root["unmapped"].get_object().get(unmapped) == simdjson::SUCCESS;
  if (level >= 2 && has_unmapped)
    for (auto field : unmapped)
      if (field.key != "trailwarden") {
        dropped.push_back("unmapped");
        break;
      }
  out.clear();
  JsonWriter w(out);
  w.begin_object();
  for (auto field : root) {
    if (field.key == "raw_data" || (field.key == "unmapped" && has_unmapped)) continue;
    w.key(field.key).raw(simdjson::minify(field.value));
  }
  w.key("unmapped").begin_object();
  bool marked = false;
  if (has_unmapped) {
    for (auto field : unmapped) {
      simdjson::dom::object tw;
      if (field.key == "trailwarden" && field.value.get_object().get(tw) == simdjson::SUCCESS) {
        w.key("trailwarden").begin_object();
        copy_members(w, tw, "sns_trimmed");
        write_marker(w, dropped, original);
        w.end_object();
        marked = true;
      } else if (level < 2) {
        w.key(field.key).raw(simdjson::minify(field.value));
      }
    }
  }
  if (!marked) {
    w.key("trailwarden").begin_object();
    write_marker(w, dropped, original);
    w.end_object();
  }
  w.end_object();
  w.end_object();
  return true;
}

// cloudtrail: the envelope without "record"; the marker goes into "trailwarden".
bool trim_envelope(simdjson::dom::object root, std::string_view drop, size_t original,
                   std::string& out) {
  out.clear();
  JsonWriter w(out);
  w.begin_object();
  bool marked = false;
  for (auto field : root) {
    if (field.key == drop) continue;
    simdjson::dom::object tw;
    if (field.key == "trailwarden" && field.value.get_object().get(tw) == simdjson::SUCCESS) {
      w.key("trailwarden").begin_object();
      copy_members(w, tw, "sns_trimmed");
      write_marker(w, {drop}, original);
      w.end_object();
      marked = true;
    } else {
      w.key(field.key).raw(simdjson::minify(field.value));
    }
  }
  if (!marked) {
    w.key("trailwarden").begin_object();
    write_marker(w, {drop}, original);
    w.end_object();
  }
  w.end_object();
  return true;
}

void summary(const AlertRecord& a, size_t original, std::string& out) {
  out.clear();
  JsonWriter w(out);
  w.begin_object().key("trailwarden").begin_object();
  write_marker(w, {"*"}, original);
  w.field("finding_uid", std::string_view(a.uid));
  w.field("rule_id", std::string_view(a.rule_id));
  w.field("rule_title", std::string_view(a.rule_title));
  w.field("severity", a.severity());
  w.field("severity_id", static_cast<int64_t>(a.severity_id));
  w.field("time_ms", a.time_ms);
  w.field("account", std::string_view(a.account));
  w.field("region", std::string_view(a.region));
  w.field("event_name", std::string_view(a.event_name));
  w.field("event_source", std::string_view(a.event_source));
  w.field("event_id", std::string_view(a.event_id));
  w.end_object().end_object();
}

}  // namespace

size_t SnsEntry::payload_bytes() const {
  size_t n = message.size();
  for (const auto& [name, value] : attributes) n += name.size() + value.size() + 6;  // "String"
  return n;
}

uint64_t sns_trimmed_messages() { return g_trimmed.load(); }

std::string sns_field_value(const AlertRecord& a, SnsField f) {
  switch (f) {
    case SnsField::kRuleId: return a.rule_id;
    case SnsField::kRuleTitle: return a.rule_title;
    case SnsField::kSeverity: return std::string(a.severity());
    case SnsField::kSeverityId: return std::to_string(a.severity_id);
    case SnsField::kAccount: return a.account;
    case SnsField::kRegion: return a.region;
    case SnsField::kEventName: return a.event_name;
    case SnsField::kEventSource: return a.event_source;
    case SnsField::kActor: return a.actor;
    case SnsField::kSourceIp: return a.source_ip;
    case SnsField::kEventId: return a.event_id;
    case SnsField::kFindingUid: return a.uid;
  }
  return {};
}

std::string sns_safe_subject(std::string_view text) {
  std::string s;
  s.reserve(std::min(text.size(), size_t{128}));
  for (size_t i = 0; i < text.size() && s.size() <= kSnsMaxSubjectChars; ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    // Must start with a letter, digit or punctuation: leading blanks are skipped as they come.
    if (s.empty() && (u == ' ' || u == '\n' || u == '\r' || u == '\t')) continue;
    if (u >= 0x20 && u < 0x7f) {
      s.push_back(static_cast<char>(u));
    } else if (u == '\n' || u == '\r' || u == '\t') {
      s.push_back(' ');
    } else {
      s.push_back('?');
      if (u >= 0xC0) {  // one '?' for a whole UTF-8 sequence
        while (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) ++i;
      }
    }
  }
  if (s.size() > kSnsMaxSubjectChars) {
    s.resize(kSnsMaxSubjectChars - 3);
    s += "...";
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string sns_subject(const SnsSubjectTemplate& t, const AlertRecord& a) {
  std::string raw;
  for (const auto& p : t.parts) raw += p.is_field ? sns_field_value(a, p.field) : p.text;
  return sns_safe_subject(raw);
}

SnsEntry make_sns_entry(const AlertRecord& a, const SnsOptions& o, size_t max_payload) {
  SnsEntry e;
  e.subject = sns_subject(o.subject, a);
  for (SnsField f : o.attributes) {
    std::string v = sns_field_value(a, f);
    if (v.size() > kSnsMaxAttributeBytes) {  // cut on a UTF-8 boundary
      size_t cut = kSnsMaxAttributeBytes;
      while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;
      v.resize(cut);
    }
    if (!v.empty()) e.attributes.emplace_back(std::string(sns_field_name(f)), std::move(v));
  }
  if (o.topic.fifo) {
    e.group_id = sns_id(sns_field_value(a, o.group_id), "trailwarden");
    e.deduplication_id = sns_id(a.uid, aws::sha256_hex(a.ocsf));
  }
  format_alert(a, o.format, e.message);
  if (e.payload_bytes() <= max_payload) return e;

  // Too large: trim, count, never drop.
  e.trimmed = true;
  g_trimmed.fetch_add(1);
  const size_t original = e.message.size();
  const size_t attrs = e.payload_bytes() - e.message.size();
  const size_t budget = max_payload > attrs ? max_payload - attrs : 0;
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  std::string trimmed;
  if (parser.parse(e.message).get_object().get(root) == simdjson::SUCCESS) {
    if (o.format == AlertFormat::kOcsf) {
      for (int level = 1; level <= 2; ++level) {
        trim_ocsf(root, level, original, trimmed);
        if (trimmed.size() <= budget) {
          e.message = std::move(trimmed);
          return e;
        }
      }
    } else if (o.format == AlertFormat::kCloudTrail) {
      trim_envelope(root, "record", original, trimmed);
      if (trimmed.size() <= budget) {
        e.message = std::move(trimmed);
        return e;
      }
    }
  }
  summary(a, original, e.message);
  if (e.message.size() > budget) {  // absurdly long rule titles or ids: a bare marker
    AlertRecord bare;
    bare.uid = a.uid.substr(0, 128);
    bare.rule_id = a.rule_id.substr(0, 128);
    bare.severity_id = a.severity_id;
    summary(bare, original, e.message);
  }
  return e;
}

}  // namespace trailwarden
