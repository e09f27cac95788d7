#include "agent/alarms/alarm_journal_format.h"

#include <fmt/format.h>

#include "agent/common/byte_codec.h"

namespace trailwarden::alarms::journal {

namespace {

constexpr uint8_t kFormatVersion = 1;

// The least bytes an encoded item can take (a count check: common/byte_codec.h).
constexpr size_t kMinString = 4;
constexpr size_t kMinInstance = 4 + 4 + 4 + 4 + 8 + 4;
constexpr size_t kMinAlert = 4;

void put_instance(std::string& out, const SavedInstance& i) {
  bytes::put_str(out, i.rule_id);
  bytes::put_u32(out, static_cast<uint32_t>(i.dimensions.size()));
  for (const std::string& d : i.dimensions) bytes::put_str(out, d);
  bytes::put_str(out, i.account);
  bytes::put_str(out, i.region);
  bytes::put_i64(out, i.newest_ms);
  bytes::put_str(out, i.evaluator);
}

void put_alert(std::string& out, const AlertRecord& a) {
  std::string encoded;
  a.encode(encoded);
  bytes::put_str(out, encoded);
}

bool get_instance(bytes::ByteReader& r, SavedInstance& i) {
  i.rule_id = r.str();
  const uint32_t n = r.count(kMinString);
  i.dimensions.clear();
  for (uint32_t k = 0; k < n && r.ok; ++k) i.dimensions.push_back(r.str());
  i.account = r.str();
  i.region = r.str();
  i.newest_ms = r.i64();
  i.evaluator = r.str();
  return r.ok;
}

bool get_alert(bytes::ByteReader& r, AlertRecord& a) {
  const std::string_view encoded = r.str_view();
  return r.ok && AlertRecord::decode(encoded, a);
}

bool get_instances(bytes::ByteReader& r, std::vector<SavedInstance>& out) {
  const uint32_t n = r.count(kMinInstance);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    SavedInstance i;
    if (!get_instance(r, i)) return false;
    out.push_back(std::move(i));
  }
  return r.ok;
}

}  // namespace

std::string encode(const Entry& e) {
  std::string out;
  bytes::put_u8(out, static_cast<uint8_t>(e.kind));
  bytes::put_u8(out, kFormatVersion);
  switch (e.kind) {
    case Entry::Kind::kSnapshot:
      bytes::put_i64(out, e.stream_ms);
      break;
    case Entry::Kind::kInstances:
      bytes::put_u32(out, static_cast<uint32_t>(e.instances.size()));
      for (const SavedInstance& i : e.instances) put_instance(out, i);
      break;
    case Entry::Kind::kUnits:
      bytes::put_u32(out, static_cast<uint32_t>(e.units.size()));
      for (const std::string& u : e.units) bytes::put_str(out, u);
      break;
    case Entry::Kind::kUndelivered:
      bytes::put_u32(out, static_cast<uint32_t>(e.undelivered.size()));
      for (const PendingTransition& p : e.undelivered) {
        bytes::put_str(out, p.unit);
        put_alert(out, p.alert);
      }
      break;
    case Entry::Kind::kCommit:
      bytes::put_str(out, e.unit);
      bytes::put_i64(out, e.stream_ms);
      bytes::put_u32(out, static_cast<uint32_t>(e.instances.size()));
      for (const SavedInstance& i : e.instances) put_instance(out, i);
      bytes::put_u32(out, static_cast<uint32_t>(e.transitions.size()));
      for (const AlertRecord& a : e.transitions) put_alert(out, a);
      break;
    case Entry::Kind::kDelivered:
      bytes::put_u32(out, static_cast<uint32_t>(e.uids.size()));
      for (const std::string& u : e.uids) bytes::put_str(out, u);
      break;
  }
  return out;
}

DecodeResult decode(std::string_view payload, Entry& e, std::string& error) {
  e = Entry{};
  bytes::ByteReader r{payload};
  const uint8_t kind = r.u8();
  const uint8_t version = r.u8();
  if (!r.ok) {
    error = "an entry shorter than its header";
    return DecodeResult::kMalformed;
  }
  const bool known_kind = std::string_view("SIUPCD").find(static_cast<char>(kind)) !=
                          std::string_view::npos;
  if (!known_kind) {
    error = fmt::format("an entry of unknown kind {}", static_cast<unsigned>(kind));
    return DecodeResult::kMalformed;
  }
  if (version > kFormatVersion) {
    error = fmt::format("an entry of format version {} (this agent reads version {})", version,
                        kFormatVersion);
    return DecodeResult::kNewer;
  }
  if (version != kFormatVersion) {
    error = fmt::format("an entry of format version {}", version);
    return DecodeResult::kMalformed;
  }
  e.kind = static_cast<Entry::Kind>(kind);
  switch (e.kind) {
    case Entry::Kind::kSnapshot:
      e.stream_ms = r.i64();
      break;
    case Entry::Kind::kInstances:
      get_instances(r, e.instances);
      break;
    case Entry::Kind::kUnits: {
      const uint32_t n = r.count(kMinString);
      for (uint32_t k = 0; k < n && r.ok; ++k) e.units.push_back(r.str());
      break;
    }
    case Entry::Kind::kUndelivered: {
      const uint32_t n = r.count(kMinString + kMinAlert);
      for (uint32_t k = 0; k < n && r.ok; ++k) {
        PendingTransition p;
        p.unit = r.str();
        if (!get_alert(r, p.alert)) r.ok = false;
        else e.undelivered.push_back(std::move(p));
      }
      break;
    }
    case Entry::Kind::kCommit: {
      e.unit = r.str();
      e.stream_ms = r.i64();
      get_instances(r, e.instances);
      const uint32_t n = r.count(kMinAlert);
      for (uint32_t k = 0; k < n && r.ok; ++k) {
        AlertRecord a;
        if (!get_alert(r, a)) r.ok = false;
        else e.transitions.push_back(std::move(a));
      }
      break;
    }
    case Entry::Kind::kDelivered: {
      const uint32_t n = r.count(kMinString);
      for (uint32_t k = 0; k < n && r.ok; ++k) e.uids.push_back(r.str());
      break;
    }
  }
  if (!r.ok) {
    error = "a truncated or malformed entry";
    return DecodeResult::kMalformed;
  }
  if (!r.in.empty()) {
    error = fmt::format("{} bytes after the entry", r.in.size());
    return DecodeResult::kMalformed;
  }
  return DecodeResult::kOk;
}

}  // namespace trailwarden::alarms::journal
