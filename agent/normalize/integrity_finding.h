// The alert for one integrity finding (docs/alerts.md, "Integrity findings";
// docs/integrity.md): an OCSF 1.4 Detection Finding (class 2004) whose analytic is the check
// (rule id "integrity.<check>"), with the S3 object it is about as the resource, the digest
// and chain as evidence, the hashes compared and the agent's unit that read the file. The alert
// is AlertKind::kIntegrity, route kS3Object (bucket, key of the object it is about); its `raw`
// is the evidence as one JSON object (the "record" of an integrity alert). Pure functions;
// thread-safe.
//
// The input is plain values (the integrity stage, agent/integrity/integrity_stage.h, fills it),
// so this layer does not depend on the stage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/core/alert_record.h"

namespace trailwarden {

enum class IntegrityCheck {
  kDigestInvalid,      // integrity.digest_invalid: signature, key, format or location wrong
  kDigestChainBroken,  // integrity.digest_chain_broken: a digest missing, or a link that does
                       // not match the digest it names
  kChainRestarted,     // integrity.digest_chain_restarted: a starting digest after an earlier
                       // one (logging or validation was stopped: a gap [from, to])
  kLogFileModified,    // integrity.log_file_modified: the hash read differs from the digest's
  kLogFileUnreadable,  // integrity.log_file_unreadable: listed, but deleted or not readable
  kDeliveryStopped,    // integrity.digest_delivery_stopped: no digest for an hour plus grace
};

// Every check, in the order above (tests and tools go through them all).
inline constexpr IntegrityCheck kIntegrityChecks[] = {
    IntegrityCheck::kDigestInvalid,     IntegrityCheck::kDigestChainBroken,
    IntegrityCheck::kChainRestarted,    IntegrityCheck::kLogFileModified,
    IntegrityCheck::kLogFileUnreadable, IntegrityCheck::kDeliveryStopped,
};

// "integrity.digest_invalid", ...
std::string_view integrity_rule_id(IntegrityCheck check);
// "digest_invalid", ...: the rule id without "integrity." (the evidence's `check`, the alert's
// event_name, metadata.event_code).
std::string_view integrity_check_name(IntegrityCheck check);
// "CloudTrail digest file invalid", ...
std::string_view integrity_rule_title(IntegrityCheck check);
// OCSF severity_id: 5 (critical) for a modified log file, 4 (high) for the others.
int integrity_severity(IntegrityCheck check);

struct IntegrityFindingInput {
  IntegrityCheck check = IntegrityCheck::kDigestInvalid;
  std::string reason;   // one sentence: what was found ("signature verification failed", ...)
  // The object the finding is about (the digest, or the log file); for kDeliveryStopped and
  // kChainRestarted the chain's last digest.
  std::string bucket;
  std::string key;
  std::string account;  // the trail's account (the digest key's)
  std::string region;   // the source region (the digest key's)
  std::string chain;    // the chain (bucket + DigestKey::chain())
  std::string digest_key;  // the digest that lists the log file, or names the missing one
  std::string expected_sha256;  // the digest's hashValue / previousDigestHashValue
  std::string actual_sha256;    // what the agent read
  std::string fingerprint;      // the digest's public key fingerprint
  int64_t from_ms = 0;  // the period concerned: the digest's start, the gap's start, last end
  int64_t to_ms = 0;    // its end (the gap's end; for kDeliveryStopped, when it was noticed)
  std::string unit;     // the agent's unit that read the file ("s3://b/k"; "" if none)
  std::string error;    // the read error (HTTP status and S3's message), if any
  int64_t time_ms = 0;  // the finding's time (when the agent found it)
};

// The finding uid: a UUID (version 8) from SHA-256 of the check, the object (bucket, key), the
// digest key, the expected hash and from/to, so the same finding found again (a redelivered
// unit, another agent) has the same uid and the de-duplication window drops it. Not of
// time_ms, reason or error, which may differ between two findings of the same fault, nor, for
// kDeliveryStopped, of `to` (when the stop was noticed: another time at each tick and agent).
// kLogFileModified also hashes actual_sha256: another content read is another change.
std::string integrity_finding_uid(const IntegrityFindingInput& in);

// The alert (docs/alerts.md, "Integrity findings"): kind kIntegrity, route kS3Object
// (bucket, key), rule id/title/severity of the check, tags {"integrity", "cloudtrail"},
// time_ms, account, region, event_name the check's name, raw the evidence (check, reason,
// bucket, key always; digest_key, chain, expected_sha256, actual_sha256, fingerprint, from, to
// (RFC 3339), unit, error when known), ocsf the finding. Every string may come from S3 (keys,
// digest fields): all of it is JSON-escaped, invalid UTF-8 repaired.
AlertRecord make_integrity_alert(const IntegrityFindingInput& in);

}  // namespace trailwarden
