// The start-up check of a DynamoDB table a store keeps its items in (the alarm store,
// dynamodb_alarm_store.h; the shared integrity ledger, agent/integrity/dynamodb_integrity_ledger.h):
// DescribeTable (the table exists, is ACTIVE or UPDATING, and its key schema is pk HASH S,
// sk RANGE S) and DescribeTimeToLive (TTL enabled on expires_at; otherwise a warning: nothing
// breaks, old items are just never deleted). A failure names the store, the table, the region
// and what is wrong; it is retryable while the table is CREATING or AWS throttles.
// No state; as thread-safe as the client.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/store/dynamodb_client.h"

namespace trailwarden::store {

// The key names and types every shared-state table has.
inline constexpr const char* kTablePartitionKey = "pk";
inline constexpr const char* kTableSortKey = "sk";
inline constexpr const char* kTableTtlAttribute = "expires_at";

// How the messages name the store that checks.
struct TableCheckSubject {
  std::string_view store;       // "alarm store": the messages' prefix ("the alarm store needs")
  std::string_view create_doc;  // where the table's creation is shown: docs/alarms.md "..."
  std::string_view items;       // what stays without TTL: "periods"
};

struct TableCheckResult {
  bool ok = true;
  bool retryable = false;  // when !ok
  std::string message;     // when !ok
  int requests = 0;        // HTTP requests sent (retries included)
  int retries = 0;         // of those, repeats after a retryable failure
};

// Appends the TTL warnings (if any) to `warnings`.
TableCheckResult check_dynamodb_table(DynamoDbClient& client, const std::string& table,
                                      const TableCheckSubject& subject,
                                      std::vector<std::string>& warnings);

}  // namespace trailwarden::store
