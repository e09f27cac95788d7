// Where CloudTrail puts digest and log files in S3, and what a key says (docs/integrity.md):
//
//   [<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail-Digest/<src>/<YYYY>/<MM>/<DD>/
//       <acct>_CloudTrail-Digest_<src>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz
//   [<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail/<src>/<YYYY>/<MM>/<DD>/
//       <acct>_CloudTrail_<src>_<YYYYMMDDTHHMMZ>_<unique>.json.gz
//
// <src> is the region the files were delivered from, <home> the trail's home region (they
// differ for multi-region trails); the digest's folder date and timestamp are its end time.
// A chain of digests is one (bucket, prefix, organization, account, source region, trail, home
// region, backfill or not). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trailwarden::integrity {

struct DigestKey {
  std::string prefix;       // "" or the trail's S3 key prefix, without the trailing '/'
  std::string org_id;       // "o-..." for organization trails, else ""
  std::string account;      // 12 digits
  std::string source_region;
  std::string trail;        // the trail's name
  std::string home_region;
  int64_t end = 0;          // the timestamp in the name (epoch seconds, UTC)
  bool backfill = false;    // "_backfill.json.gz": a backfill digest (its own chain)

  // The chain this digest belongs to, as one printable string (without the bucket):
  // "<prefix>|<org>|<acct>|<src>|<trail>|<home>[|backfill]".
  std::string chain() const;
};

// Reads a digest file's key. false (with `error`) for any other key: every part must be
// present and well-formed (account 12 digits, region names, the folder date equal to the
// timestamp's date, ".json.gz").
bool parse_digest_key(std::string_view key, DigestKey& out, std::string& error);

// The folder holding a chain's digests of one UTC day:
// "[<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail-Digest/<src>/YYYY/MM/DD/".
std::string digest_day_folder(std::string_view prefix, std::string_view org_id,
                              std::string_view account, std::string_view source_region,
                              int64_t day_time);

// The folder above the day folders: "[<prefix>/]AWSLogs/[<o-id>/]<acct>/CloudTrail-Digest/<src>/".
std::string digest_region_folder(std::string_view prefix, std::string_view org_id,
                                 std::string_view account, std::string_view source_region);

// "YYYY-MM-DDTHH:MM:SSZ" of epoch seconds (UTC).
std::string format_utc(int64_t t);

}  // namespace trailwarden::integrity
