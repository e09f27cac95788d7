// The entries of the alarm journal (state_dir_alarm_store.h): pure encoding and decoding, no
// I/O, so that reading the journal back can be tested and fuzzed on its own.
//
// The journal file is a segment file (outputs/delivery/segment_format.h: a file header, then
// records each with its own CRC-32C). A snapshot is several records — its start (the stream
// time), then one record per instance, per 4,096 remembered units and per undelivered
// transition — so that a damaged record costs only what it holds; commits and delivery marks
// follow. Each record's payload is one entry:
//   [u8 kind][u8 format version = 1][fields]
//   'S' snapshot start   i64 stream_ms
//   'I' instances        u32 n, n × instance
//   'U' units            u32 n, n × unit
//   'P' undelivered      u32 n, n × (unit, alert)
//   'C' commit           unit; i64 stream_ms; u32 n, n × instance; u32 n, n × alert
//   'D' delivered        u32 n, n × uid
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
  enum class Kind : uint8_t {
    kSnapshot = 'S',
    kInstances = 'I',
    kUnits = 'U',
    kUndelivered = 'P',
    kCommit = 'C',
    kDelivered = 'D',
  };
  Kind kind = Kind::kCommit;
  int64_t stream_ms = 0;                        // S, C
  std::vector<SavedInstance> instances;         // I, C
  std::string unit;                             // C
  std::vector<AlertRecord> transitions;         // C
  std::vector<std::string> units;               // U: remembered units, oldest first
  std::vector<PendingTransition> undelivered;   // P, oldest first
  std::vector<std::string> uids;                // D
};

std::string encode(const Entry& entry);

enum class DecodeResult {
  kOk,
  kMalformed,  // not an entry (damaged, or another file's record)
  kNewer,      // an entry of a later format version: written by a newer agent
};
// `error` says what is wrong when not kOk; never throws, and allocates at most in proportion to
// `payload`.
DecodeResult decode(std::string_view payload, Entry& entry, std::string& error);

}  // namespace trailwarden::alarms::journal
