// The entries of the integrity ledger's journal (state_dir_integrity_store.h): pure encoding and
// decoding, no I/O, so that reading the journal back can be tested and fuzzed on its own.
//
// The journal file is a store/journal_file.h file: a segment file of records, each with its own
// CRC-32C, each record's payload one entry. There is one kind of entry, a set of changes to the
// ledger (integrity_ledger.h): a unit's or a tick's commit, a delivery mark, or one record of a
// snapshot (a rewrite writes the ledger as many entries of at most a few thousand items, so a
// damaged record costs only what it holds). An item replaces the item of the same name; entries
// are applied in file order:
//   [u8 'C'][u8 format version = 1]
//   i64 saved_ms; i64 coverage_from_ms (0: unchanged)
//   u32 n, n × seen      name; i64 at_ms; u32 n ≤ 8, n × (sha256, unit)
//   u32 n, n × expected  name; bucket; key; sha256; digest_key; chain; account; region;
//                        fingerprint; i64 digest_start; i64 digest_end; i64 listed_ms;
//                        u8 state (0 waiting, 1 queued, 2 checked); u32 n ≤ 8, n × (sha256, unit)
//   u32 n, n × chain     id; bucket; account; region; u8 backfill; i64 last_end; last_key;
//                        i64 alerted_stopped_end; i64 last_arrival_ms;
//                        u32 n, n × digest (key; sha256; signature; i64 start; i64 end; u8 starting)
//   u32 n, n × finding   the AlertRecord encoding (core/alert_record.h) as one string
//   u32 n, n × uid       findings delivered (removed from the outbox)
// Strings are u32 length + bytes, integers little-endian (common/byte_codec.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/integrity/integrity_ledger.h"

namespace trailwarden::integrity::journal {

struct Entry {
  int64_t saved_ms = 0;
  int64_t coverage_from_ms = 0;  // 0: unchanged
  std::vector<std::pair<std::string, SeenLog>> seen;
  std::vector<std::pair<std::string, ExpectedLog>> expected;
  std::vector<std::pair<std::string, Chain>> chains;
  std::vector<AlertRecord> findings;   // added to the outbox
  std::vector<std::string> delivered;  // uids removed from the outbox

  bool empty() const {
    return seen.empty() && expected.empty() && chains.empty() && findings.empty() &&
           delivered.empty() && coverage_from_ms == 0;
  }
  size_t items() const {
    return seen.size() + expected.size() + chains.size() + findings.size() + delivered.size();
  }
};

std::string encode(const Entry& entry);

enum class DecodeResult {
  kOk,
  kMalformed,  // not an entry (cut short, inconsistent)
  kNewer,      // an entry of a later format version, of a kind this agent does not know, or
               // holding a finding of a later AlertRecord encoding: a newer agent's (or another
               // file's); the journal is refused, not rewritten without it
};
// `error` says what is wrong when not kOk; never throws, and allocates at most in proportion to
// `payload`.
DecodeResult decode(std::string_view payload, Entry& entry, std::string& error);

// Applies `entry` to `ledger` (an item replaces the one of the same name).
void apply(const Entry& entry, IntegrityLedger& ledger);

}  // namespace trailwarden::integrity::journal
