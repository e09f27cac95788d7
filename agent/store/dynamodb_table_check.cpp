#include "agent/store/dynamodb_table_check.h"

#include <fmt/format.h>

#include <algorithm>

namespace trailwarden::store {

TableCheckResult check_dynamodb_table(DynamoDbClient& client, const std::string& table,
                                      const TableCheckSubject& subject,
                                      std::vector<std::string>& warnings) {
  TableCheckResult out;
  auto count = [&out](const DynamoResult& r) {
    out.requests += r.attempts;
    if (r.attempts > 1) out.retries += r.attempts - 1;
  };
  auto failure = [&out](bool retryable, std::string message) {
    out.ok = false;
    out.retryable = retryable;
    out.message = std::move(message);
    return out;
  };
  TableDescription t;
  DynamoResult r = client.describe_table(table, t);
  count(r);
  const std::string& region = client.options().region;
  if (!r.ok()) {
    if (r.aws_code == "ResourceNotFoundException")
      return failure(false, fmt::format("{}: DynamoDB table {} does not exist in region {} "
                                        "(create it as {} shows): {}",
                                        subject.store, table, region, subject.create_doc,
                                        r.message));
    return failure(r.code == DynamoResult::Code::kRetry,
                   fmt::format("{} (DynamoDB table {}): DescribeTable: {}", subject.store, table,
                               r.message));
  }
  if (t.status != "ACTIVE" && t.status != "UPDATING")
    return failure(t.status == "CREATING",
                   fmt::format("{}: DynamoDB table {} in region {} is {}, not ACTIVE",
                               subject.store, table, region,
                               t.status.empty() ? "of unknown status" : t.status));
  auto describe = [](const std::vector<KeyElement>& keys) {
    std::string s;
    for (const KeyElement& k : keys)
      s += fmt::format("{}{} {} {}", s.empty() ? "" : ", ", k.name, k.key_type,
                       k.attribute_type.empty() ? "?" : k.attribute_type);
    return s.empty() ? std::string("none") : s;
  };
  const std::vector<KeyElement> want = {{kTablePartitionKey, "HASH", "S"},
                                        {kTableSortKey, "RANGE", "S"}};
  auto same = [](const KeyElement& a, const KeyElement& b) {
    return a.name == b.name && a.key_type == b.key_type && a.attribute_type == b.attribute_type;
  };
  std::vector<KeyElement> have = t.key_schema;
  std::sort(have.begin(), have.end(),
            [](const KeyElement& a, const KeyElement& b) { return a.key_type < b.key_type; });
  if (have.size() != want.size() || !std::equal(have.begin(), have.end(), want.begin(), same))
    return failure(false, fmt::format("{}: DynamoDB table {} in region {} has the key schema [{}]; "
                                      "the {} needs [{}]",
                                      subject.store, table, region, describe(have), subject.store,
                                      describe(want)));
  TimeToLiveDescription ttl;
  r = client.describe_time_to_live(table, ttl);
  count(r);
  if (!r.ok()) {
    // Not needed for correctness; say so and go on.
    warnings.push_back(fmt::format("{}: cannot read the TTL setting of DynamoDB table {}: {}",
                                   subject.store, table, r.message));
  } else if (ttl.status != "ENABLED" && ttl.status != "ENABLING") {
    warnings.push_back(fmt::format(
        "{}: DynamoDB table {} has time to live {}; enable it on attribute {} or old {} stay "
        "(and are billed for storage) forever",
        subject.store, table, ttl.status.empty() ? "unknown" : ttl.status, kTableTtlAttribute,
        subject.items));
  } else if (ttl.attribute_name != kTableTtlAttribute) {
    warnings.push_back(fmt::format(
        "{}: DynamoDB table {} has time to live on attribute {:?}, not {}; old {} are never "
        "deleted",
        subject.store, table, ttl.attribute_name, kTableTtlAttribute, subject.items));
  }
  return out;
}

}  // namespace trailwarden::store
