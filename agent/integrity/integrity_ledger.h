// The integrity stage's ledger (integrity_stage.h): what it knows of log files, digests and
// chains, as plain values, so that the stage's journal (state_dir_integrity_store.h) can save
// them and give them back after a restart. Names are "s3://bucket/key"; chain ids
// "bucket|<DigestKey::chain()>"; times are epoch seconds (digest periods) or epoch ms (when the
// agent did something).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/alert_record.h"

namespace trailwarden::integrity {

// Distinct contents remembered per log file (see SeenLog, ExpectedLog::mismatches).
constexpr size_t kMaxReads = 8;

// A log file the agent read and no digest has listed yet: every distinct content read (S3
// versions: a forged notification may name the original version after the object was changed,
// so the last read must not hide an earlier one), at most kMaxReads.
struct SeenLog {
  std::vector<std::pair<std::string, std::string>> reads;  // (SHA-256 hex, unit identity)
  int64_t at_ms = 0;                                       // last read
};

// A log file a valid digest listed.
struct ExpectedLog {
  enum class State : uint8_t { kWaiting = 0, kQueued = 1, kChecked = 2 };
  std::string bucket, key;
  std::string sha256;  // the digest's hashValue
  std::string digest_key;
  std::string chain;
  std::string account, region, fingerprint;
  int64_t digest_start = 0, digest_end = 0;  // epoch seconds
  int64_t listed_ms = 0;
  State state = State::kWaiting;
  // Contents read that are not the listed one (SHA-256, unit), at most kMaxReads: found again
  // when the digest's unit comes again.
  std::vector<std::pair<std::string, std::string>> mismatches;
};

// A valid digest of a chain.
struct KnownDigest {
  std::string key;
  std::string sha256;
  std::string signature;
  int64_t start = 0, end = 0;
  bool starting = false;
};

struct Chain {
  std::string bucket;
  std::string account, region;
  bool backfill = false;
  std::map<int64_t, KnownDigest> digests;  // by end
  int64_t last_end = 0;                    // the newest valid digest's end (epoch seconds)
  std::string last_key;
  int64_t alerted_stopped_end = 0;  // delivery-stopped reported while last_end was this
  int64_t last_arrival_ms = 0;      // when the agent last read a valid digest of the chain
};

// Everything the stage keeps, as saved and loaded.
struct IntegrityLedger {
  // Log files listed by digests whose period began before this (epoch ms) are checked only if
  // read (the state before it is not complete). 0: not known (a new ledger).
  int64_t coverage_from_ms = 0;
  int64_t saved_ms = 0;  // when the ledger was last written (loaded: the journal's last entry)
  std::map<std::string, SeenLog> seen;
  std::map<std::string, ExpectedLog> expected;
  std::map<std::string, Chain> chains;
  std::map<std::string, AlertRecord> outbox;  // by uid: findings not yet delivered
};

}  // namespace trailwarden::integrity
