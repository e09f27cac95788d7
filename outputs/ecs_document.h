// ECS document: one alert as an Elastic Common Schema 8.17 document (format = "ecs").
//
// Built at format time from the AlertRecord: the normalized parts (time, message, user, source,
// cloud, rule) are mapped from the OCSF Detection Finding in `alert.ocsf`, so the normalization
// lives once, in agent/normalize; the CloudTrail record's own fields (`alert.raw`) go under
// `aws.cloudtrail.*` (and `tls.*`) with the names Elastic's AWS CloudTrail integration gives
// them (Elastic's own content filters on event.dataset aws.cloudtrail, ours is trailwarden.alert:
// docs/outputs.md says what to adapt); the route and the finding's uids
// go under the custom namespace `trailwarden.*`. docs/outputs.md ("ECS") lists every field and
// its source. Alerts that are not about a record say their kind (`trailwarden.kind`): an alarm
// transition has no record; an integrity finding's `raw` is its evidence, written as a file
// alert (event.category file, file.*) with the evidence under `trailwarden.integrity.*`
// (docs/outputs.md, "Integrity alerts, in every format").
//
// Every field outside `aws.*` and `trailwarden.*` is an ECS 8.17 field with a value of its type;
// event.category / event.type come from ECS's allowed values, every type expected by every
// category of the document. An attribute missing from the finding or the record leaves its
// fields out. When the finding or the record cannot be parsed (an alert decoded from an old
// buffer, a hostile record beyond the parser's limits) the document is still written, from the
// AlertRecord's own fields, and the degradation is counted (ecs_degraded_documents()) and named
// in `trailwarden.ecs_degraded`. The work is linear in the size of the finding and the record,
// and the document bounded: at most 64 resources (the rest counted, ecs_truncated_documents(),
// and named in `trailwarden.truncated_fields`), flattened objects only as deep and as large as
// Elastic indexes them. A @timestamp that is not the event's time (eventTime missing or not a
// time) is marked `trailwarden.time_unparsed`, with the raw text in `trailwarden.original_time`.
// The output is always one line of valid JSON (JsonWriter escapes control characters and
// repairs invalid UTF-8).
//
// Stateless apart from the counters and per-thread parsers; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "agent/core/alert_record.h"

namespace trailwarden {

inline constexpr const char* kEcsVersion = "8.17.0";

// Appends the ECS document for `alert` to `out` (one line, no newline). `now_ms` (milliseconds
// since the epoch) is event.created, the time the document was made.
void append_ecs_document(const AlertRecord& alert, int64_t now_ms, std::string& out);

// The summary of a document too large for its destination (syslog's max_message_bytes): the
// same fields made from the AlertRecord's own fields only (no finding, no record), with
// trailwarden.truncated = true and trailwarden.original_bytes, the size of the full document.
void append_ecs_summary(const AlertRecord& alert, size_t original_bytes, int64_t now_ms,
                        std::string& out);

// Documents written without the finding or the record because one of them could not be parsed
// (since the process started).
uint64_t ecs_degraded_documents();

// Documents that left part of a field out because the record held more than the document keeps
// (aws.cloudtrail.resources beyond 64 distinct entries), named in trailwarden.truncated_fields
// (since the process started).
uint64_t ecs_truncated_documents();

}  // namespace trailwarden
