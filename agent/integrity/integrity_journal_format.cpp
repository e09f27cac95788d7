#include "agent/integrity/integrity_journal_format.h"

#include <algorithm>

#include <fmt/format.h>

#include "agent/common/byte_codec.h"

namespace trailwarden::integrity::journal {

namespace {

constexpr uint8_t kKind = 'C';
constexpr uint8_t kFormatVersion = 1;

// The least bytes an encoded item can take (a count check: common/byte_codec.h).
constexpr size_t kMinString = 4;
constexpr size_t kMinRead = 2 * kMinString;
constexpr size_t kMinSeen = kMinString + 8 + 4;
constexpr size_t kMinExpected = 9 * kMinString + 3 * 8 + 1 + 4;
constexpr size_t kMinDigest = 3 * kMinString + 2 * 8 + 1;
constexpr size_t kMinChain = 4 * kMinString + 1 + 8 + kMinString + 8 + 8 + 4;

using Reads = std::vector<std::pair<std::string, std::string>>;

void put_reads(std::string& out, const Reads& reads) {
  bytes::put_u32(out, static_cast<uint32_t>(reads.size()));
  for (const auto& [sha, unit] : reads) {
    bytes::put_str(out, sha);
    bytes::put_str(out, unit);
  }
}

bool get_reads(bytes::ByteReader& r, Reads& reads, std::string& error) {
  const uint32_t n = r.count(kMinRead);
  if (r.ok && n > kMaxReads) {
    error = fmt::format("{} reads of one log file, more than {}", n, kMaxReads);
    return false;
  }
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    std::string sha = r.str();
    std::string unit = r.str();
    reads.emplace_back(std::move(sha), std::move(unit));
  }
  return r.ok;
}

void put_expected(std::string& out, const ExpectedLog& e) {
  for (const std::string* s : {&e.bucket, &e.key, &e.sha256, &e.digest_key, &e.chain, &e.account,
                               &e.region, &e.fingerprint})
    bytes::put_str(out, *s);
  bytes::put_i64(out, e.digest_start);
  bytes::put_i64(out, e.digest_end);
  bytes::put_i64(out, e.listed_ms);
  bytes::put_u8(out, static_cast<uint8_t>(e.state));
  put_reads(out, e.mismatches);
}

bool get_expected(bytes::ByteReader& r, ExpectedLog& e, std::string& error) {
  for (std::string* s : {&e.bucket, &e.key, &e.sha256, &e.digest_key, &e.chain, &e.account,
                         &e.region, &e.fingerprint})
    *s = r.str();
  e.digest_start = r.i64();
  e.digest_end = r.i64();
  e.listed_ms = r.i64();
  const uint8_t state = r.u8();
  if (r.ok && state > static_cast<uint8_t>(ExpectedLog::State::kChecked)) {
    error = fmt::format("a log file in state {}, not one of 0, 1, 2", state);
    return false;
  }
  e.state = static_cast<ExpectedLog::State>(state);
  return get_reads(r, e.mismatches, error);
}

void put_chain(std::string& out, const Chain& c) {
  bytes::put_str(out, c.bucket);
  bytes::put_str(out, c.account);
  bytes::put_str(out, c.region);
  bytes::put_u8(out, c.backfill ? 1 : 0);
  bytes::put_i64(out, c.last_end);
  bytes::put_str(out, c.last_key);
  bytes::put_i64(out, c.alerted_stopped_end);
  bytes::put_i64(out, c.last_arrival_ms);
  bytes::put_u32(out, static_cast<uint32_t>(c.digests.size()));
  for (const auto& [end, d] : c.digests) {
    bytes::put_str(out, d.key);
    bytes::put_str(out, d.sha256);
    bytes::put_str(out, d.signature);
    bytes::put_i64(out, d.start);
    bytes::put_i64(out, d.end);
    bytes::put_u8(out, d.starting ? 1 : 0);
  }
}

bool get_flag(bytes::ByteReader& r, bool& out, std::string& error) {
  const uint8_t v = r.u8();
  if (r.ok && v > 1) {
    error = fmt::format("a flag of value {}, not 0 or 1", v);
    return false;
  }
  out = v == 1;
  return r.ok;
}

bool get_chain(bytes::ByteReader& r, Chain& c, std::string& error) {
  c.bucket = r.str();
  c.account = r.str();
  c.region = r.str();
  if (!get_flag(r, c.backfill, error)) return false;
  c.last_end = r.i64();
  c.last_key = r.str();
  c.alerted_stopped_end = r.i64();
  c.last_arrival_ms = r.i64();
  const uint32_t n = r.count(kMinDigest);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    KnownDigest d;
    d.key = r.str();
    d.sha256 = r.str();
    d.signature = r.str();
    d.start = r.i64();
    d.end = r.i64();
    if (!get_flag(r, d.starting, error)) return false;
    if (!c.digests.emplace(d.end, std::move(d)).second) {
      error = "a chain with two digests of the same end";
      return false;
    }
  }
  return r.ok;
}

}  // namespace

std::string encode(const Entry& e) {
  std::string out;
  bytes::put_u8(out, kKind);
  bytes::put_u8(out, kFormatVersion);
  bytes::put_i64(out, e.saved_ms);
  bytes::put_i64(out, e.coverage_from_ms);
  bytes::put_u32(out, static_cast<uint32_t>(e.seen.size()));
  for (const auto& [name, s] : e.seen) {
    bytes::put_str(out, name);
    bytes::put_i64(out, s.at_ms);
    put_reads(out, s.reads);
  }
  bytes::put_u32(out, static_cast<uint32_t>(e.expected.size()));
  for (const auto& [name, x] : e.expected) {
    bytes::put_str(out, name);
    put_expected(out, x);
  }
  bytes::put_u32(out, static_cast<uint32_t>(e.chains.size()));
  for (const auto& [id, c] : e.chains) {
    bytes::put_str(out, id);
    put_chain(out, c);
  }
  bytes::put_u32(out, static_cast<uint32_t>(e.findings.size()));
  for (const AlertRecord& a : e.findings) {
    std::string encoded;
    a.encode(encoded);
    bytes::put_str(out, encoded);
  }
  bytes::put_u32(out, static_cast<uint32_t>(e.delivered.size()));
  for (const std::string& uid : e.delivered) bytes::put_str(out, uid);
  return out;
}

DecodeResult decode(std::string_view payload, Entry& e, std::string& error) {
  e = Entry{};
  bytes::ByteReader r{payload};
  const uint8_t kind = r.u8();
  const uint8_t version = r.u8();
  if (!r.ok) {
    error = "shorter than an entry's header";
    return DecodeResult::kMalformed;
  }
  if (kind != kKind) {
    // An intact record (its CRC held) of a kind this agent does not know: a newer agent's, or
    // another file's. Refused either way, never dropped as damage.
    error = fmt::format("an entry of kind {:#04x}, not one this agent knows", kind);
    return DecodeResult::kNewer;
  }
  if (version > kFormatVersion) {
    error = fmt::format("entry format {} (this agent reads {})", version, kFormatVersion);
    return DecodeResult::kNewer;
  }
  if (version == 0) {
    error = "entry format 0";
    return DecodeResult::kMalformed;
  }
  auto fail = [&](const char* what) {
    if (error.empty()) error = fmt::format("cut short or damaged in its {}", what);
    return DecodeResult::kMalformed;
  };
  e.saved_ms = r.i64();
  e.coverage_from_ms = r.i64();
  if (!r.ok) return fail("header");
  uint32_t n = r.count(kMinSeen);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    std::pair<std::string, SeenLog> item;
    item.first = r.str();
    item.second.at_ms = r.i64();
    if (!get_reads(r, item.second.reads, error)) return fail("log files read");
    e.seen.push_back(std::move(item));
  }
  if (!r.ok) return fail("log files read");
  n = r.count(kMinString + kMinExpected);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    std::pair<std::string, ExpectedLog> item;
    item.first = r.str();
    if (!get_expected(r, item.second, error)) return fail("log files listed");
    e.expected.push_back(std::move(item));
  }
  if (!r.ok) return fail("log files listed");
  n = r.count(kMinString + kMinChain);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    std::pair<std::string, Chain> item;
    item.first = r.str();
    if (!get_chain(r, item.second, error)) return fail("chains");
    e.chains.push_back(std::move(item));
  }
  if (!r.ok) return fail("chains");
  n = r.count(kMinString);
  for (uint32_t k = 0; k < n && r.ok; ++k) {
    const std::string_view encoded = r.str_view();
    AlertRecord a;
    if (r.ok && !encoded.empty() &&
        static_cast<uint8_t>(encoded[0]) > AlertRecord::kEncodingVersion) {
      error = fmt::format("a finding of encoding version {} (this agent reads up to {})",
                          static_cast<uint8_t>(encoded[0]), AlertRecord::kEncodingVersion);
      return DecodeResult::kNewer;
    }
    if (!r.ok || !AlertRecord::decode(encoded, a)) return fail("findings");
    e.findings.push_back(std::move(a));
  }
  n = r.count(kMinString);
  for (uint32_t k = 0; k < n && r.ok; ++k) e.delivered.push_back(r.str());
  if (!r.ok) return fail("delivery marks");
  if (!r.in.empty()) {
    error = fmt::format("{} bytes after the entry", r.in.size());
    return DecodeResult::kMalformed;
  }
  return DecodeResult::kOk;
}

void apply(const Entry& e, IntegrityLedger& ledger) {
  ledger.saved_ms = std::max(ledger.saved_ms, e.saved_ms);
  if (e.coverage_from_ms != 0) ledger.coverage_from_ms = e.coverage_from_ms;
  for (const auto& [name, s] : e.seen) ledger.seen[name] = s;
  for (const auto& [name, x] : e.expected) {
    ledger.expected[name] = x;
    ledger.seen.erase(name);  // a read log file its digest listed: compared, moved
  }
  for (const auto& [id, c] : e.chains) ledger.chains[id] = c;
  for (const AlertRecord& a : e.findings) ledger.outbox[a.uid] = a;
  for (const std::string& uid : e.delivered) ledger.outbox.erase(uid);
}

}  // namespace trailwarden::integrity::journal
