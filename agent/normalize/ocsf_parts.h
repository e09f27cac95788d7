// Pieces every OCSF finding of the agent writes the same way, per record (ocsf.h) and per alarm
// transition (alarm_finding.h): the account object, the product with profiles and log provider
// of `metadata`, and the rule's tags as metadata.labels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

class JsonWriter;

// "account": {"uid": uid, "type": "AWS Account", "type_id": 10}
void write_ocsf_account(JsonWriter& w, std::string_view uid);
// Inside `metadata`: "product" (trailwarden and its version), "profiles" ["cloud","datetime"]
// and "log_provider" "AWS CloudTrail".
void write_ocsf_product(JsonWriter& w);
// Inside `metadata`: "labels" with the rule's tags; nothing when there are none.
void write_ocsf_labels(JsonWriter& w, const std::vector<std::string>& tags);

}  // namespace trailwarden
