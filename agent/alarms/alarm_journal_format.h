// The entries of the alarm journal (state_dir_alarm_store.h): pure encoding and decoding, no
// I/O, so that reading the journal back can be tested and fuzzed on its own.
//
// The journal file is a segment file (outputs/delivery/segment_format.h: a file header, then
// records each with its own CRC-32C), whose first record is a snapshot and whose next records
// are commits and delivery marks. Each record's payload is one entry:
//   [u8 'S' snapshot | 'C' commit | 'D' delivered][u8 format version = 1][fields]
//   snapshot   i64 stream_ms; u32 n, n × instance; u32 n, n × unit; u32 n, n × (unit, alert)
//   commit     unit; i64 stream_ms; u32 n, n × instance; u32 n, n × alert
//   delivered  u32 n, n × uid
//   instance   rule_id; u32 n, n × dimension value; account; region; i64 newest_ms; evaluator
//   alert      the AlertRecord encoding (core/alert_record.h) as one string
// Strings are u32 length + bytes, integers little-endian (common/byte_codec.h). A unit is the
// store's fixed-size digest of the unit's identity ("" for a tick).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alarms/alarm_state_store.h"

namespace trailwarden::alarms::journal {

struct PendingTransition {
  std::string unit;  // the digest of the unit that made it ("" for a tick)
  AlertRecord alert;
};

struct Entry {
  enum class Kind : uint8_t { kSnapshot = 'S', kCommit = 'C', kDelivered = 'D' };
  Kind kind = Kind::kCommit;
  int64_t stream_ms = 0;                        // snapshot, commit
  std::vector<SavedInstance> instances;         // snapshot, commit
  std::string unit;                             // commit
  std::vector<AlertRecord> transitions;         // commit
  std::vector<std::string> units;               // snapshot: remembered units, oldest first
  std::vector<PendingTransition> undelivered;   // snapshot, oldest first
  std::vector<std::string> uids;                // delivered
};

std::string encode(const Entry& entry);
// False with `error` (what is wrong, where) when `payload` is not an entry of this version;
// never throws, and allocates at most in proportion to `payload`.
bool decode(std::string_view payload, Entry& entry, std::string& error);

}  // namespace trailwarden::alarms::journal
