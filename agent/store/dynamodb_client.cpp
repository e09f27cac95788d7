#include "agent/store/dynamodb_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "agent/common/backoff.h"
#include "agent/common/json_writer.h"
#include "agent/http/classify.h"

namespace trailwarden::store {

namespace {

void write_names(JsonWriter& w, const ExpressionNames& names) {
  if (names.empty()) return;
  w.key("ExpressionAttributeNames").begin_object();
  for (const auto& [placeholder, name] : names) w.field(placeholder, std::string_view(name));
  w.end_object();
}

void write_values(JsonWriter& w, const Item& values) {
  if (values.empty()) return;
  w.key("ExpressionAttributeValues");
  write_item(w, values);
}

bool parse_root(std::string_view body, simdjson::dom::parser& p, simdjson::dom::element& root,
                std::string& error) {
  if (p.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    error = fmt::format("response is not a JSON object: {}", http::printable_excerpt(body));
    return false;
  }
  return true;
}

// A key as the JSON it is sent as (attributes in name order): equal keys, equal texts.
std::string key_text(const Item& key) {
  std::string text;
  JsonWriter w(text);
  write_item(w, key);
  return text;
}

// Reads {"table": value, ...} where only `table` may appear; `what` names the field.
bool only_table(simdjson::dom::object o, std::string_view table, std::string_view what,
                simdjson::dom::element& value, bool& present, std::string& error) {
  present = false;
  for (auto field : o) {
    if (field.key != table) {
      error = fmt::format("BatchGetItem response's {} names table \"{}\", which was not asked",
                          what, http::printable_excerpt(field.key, 128));
      return false;
    }
    value = field.value;
    present = true;
  }
  return true;
}

bool read_items(simdjson::dom::element e, std::vector<Item>& out) {
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element x : a) {
    Item item;
    if (!read_item(x, item)) return false;
    out.push_back(std::move(item));
  }
  return true;
}

}  // namespace

bool resolve_dynamodb_endpoint(std::string_view region, const aws::EndpointConfig& config,
                               const aws::Environment& env, DynamoDbClientOptions& options,
                               std::string& error) {
  aws::EndpointSettings settings;
  std::string url, why;
  if (!aws::endpoint_settings(aws::AwsService::kDynamodb, config, env, settings, why) ||
      !aws::resolve_endpoint_url(aws::AwsService::kDynamodb, region, settings, url, why)) {
    error = "DynamoDB endpoint: " + why;
    return false;
  }
  const std::string named = aws::region_from_endpoint_url(aws::AwsService::kDynamodb, url);
  options.endpoint_url = std::move(url);
  options.region = named.empty() ? std::string(region) : named;
  if (options.region.empty()) {
    error = "DynamoDB endpoint: no AWS region configured";
    return false;
  }
  return true;
}

std::string encode_update_item(const UpdateItemRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("TableName", std::string_view(r.table));
  w.key("Key");
  write_item(w, r.key);
  w.field("UpdateExpression", std::string_view(r.update_expression));
  if (!r.condition_expression.empty())
    w.field("ConditionExpression", std::string_view(r.condition_expression));
  write_names(w, r.names);
  write_values(w, r.values);
  w.field("ReturnValues", std::string_view(r.return_values));
  w.end_object();
  return body;
}

std::string encode_put_item(const PutItemRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("TableName", std::string_view(r.table));
  w.key("Item");
  write_item(w, r.item);
  if (!r.condition_expression.empty())
    w.field("ConditionExpression", std::string_view(r.condition_expression));
  write_names(w, r.names);
  write_values(w, r.values);
  w.end_object();
  return body;
}

std::string encode_get_item(const GetItemRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("TableName", std::string_view(r.table));
  w.key("Key");
  write_item(w, r.key);
  w.field("ConsistentRead", r.consistent_read);
  w.end_object();
  return body;
}

std::string encode_query(const QueryRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("TableName", std::string_view(r.table));
  w.field("KeyConditionExpression", std::string_view(r.key_condition_expression));
  write_names(w, r.names);
  write_values(w, r.values);
  w.field("ConsistentRead", r.consistent_read);
  if (!r.scan_forward) w.field("ScanIndexForward", false);
  if (r.limit > 0) w.field("Limit", static_cast<int64_t>(r.limit));
  if (!r.exclusive_start_key.empty()) {
    w.key("ExclusiveStartKey");
    write_item(w, r.exclusive_start_key);
  }
  w.end_object();
  return body;
}

std::string encode_table_name(std::string_view table) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().field("TableName", table).end_object();
  return body;
}

std::string encode_batch_get_item(const BatchGetItemRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().key("RequestItems").begin_object().key(r.table).begin_object();
  w.key("Keys").begin_array();
  for (const Item& key : r.keys) write_item(w, key);
  w.end_array();
  w.field("ConsistentRead", r.consistent_read);
  if (!r.projection.empty()) {
    // DynamoDB refuses a path listed twice ("Two document paths overlap").
    std::vector<std::string_view> names;
    for (const std::string& name : r.projection)
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    std::string expression;
    for (size_t i = 0; i < names.size(); ++i)
      expression += fmt::format("{}#p{}", i ? ", " : "", i);
    w.field("ProjectionExpression", std::string_view(expression));
    w.key("ExpressionAttributeNames").begin_object();
    for (size_t i = 0; i < names.size(); ++i) w.field(fmt::format("#p{}", i), names[i]);
    w.end_object();
  }
  w.end_object().end_object().end_object();
  return body;
}

bool parse_attributes(std::string_view body, std::string_view field, Item& out, bool& present,
                      std::string& error) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (!parse_root(body, p, root, error)) return false;
  simdjson::dom::element e;
  present = root[field].get(e) == simdjson::SUCCESS;
  if (!present) return true;
  if (!read_item(e, out)) {
    error = fmt::format("\"{}\" is not an item", field);
    return false;
  }
  return true;
}

bool parse_query(std::string_view body, std::vector<Item>& items, Item& last_evaluated_key,
                 std::string& error) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (!parse_root(body, p, root, error)) return false;
  simdjson::dom::array a;
  if (root["Items"].get_array().get(a) != simdjson::SUCCESS) {
    error = "Query response has no \"Items\" array";
    return false;
  }
  for (simdjson::dom::element e : a) {
    Item item;
    if (!read_item(e, item)) {
      error = "Query response has an item that is not an object";
      return false;
    }
    items.push_back(std::move(item));
  }
  last_evaluated_key.clear();
  simdjson::dom::element k;
  if (root["LastEvaluatedKey"].get(k) == simdjson::SUCCESS && !read_item(k, last_evaluated_key)) {
    error = "Query response's LastEvaluatedKey is not an item";
    return false;
  }
  return true;
}

bool parse_batch_get_item(std::string_view body, std::string_view table, std::vector<Item>& items,
                          std::vector<Item>& unprocessed_keys, std::string& error) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (!parse_root(body, p, root, error)) return false;
  simdjson::dom::object responses;
  if (root["Responses"].get_object().get(responses) != simdjson::SUCCESS) {
    error = "BatchGetItem response has no \"Responses\" object";
    return false;
  }
  std::vector<Item> found, unprocessed;
  simdjson::dom::element e;
  bool present = false;
  if (!only_table(responses, table, "Responses", e, present, error)) return false;
  if (present && !read_items(e, found)) {
    error = "BatchGetItem response's Responses is not an array of items";
    return false;
  }
  simdjson::dom::element u;
  if (root["UnprocessedKeys"].get(u) == simdjson::SUCCESS) {
    simdjson::dom::object o;
    if (u.get_object().get(o) != simdjson::SUCCESS) {
      error = "BatchGetItem response's UnprocessedKeys is not an object";
      return false;
    }
    if (!only_table(o, table, "UnprocessedKeys", e, present, error)) return false;
    simdjson::dom::element keys;
    if (present && (e["Keys"].get(keys) != simdjson::SUCCESS || !read_items(keys, unprocessed))) {
      error = "BatchGetItem response's UnprocessedKeys has no array of keys";
      return false;
    }
  }
  items.insert(items.end(), std::make_move_iterator(found.begin()),
               std::make_move_iterator(found.end()));
  unprocessed_keys = std::move(unprocessed);
  return true;
}

bool parse_describe_table(std::string_view body, TableDescription& out, std::string& error) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (!parse_root(body, p, root, error)) return false;
  simdjson::dom::element t;
  if (root["Table"].get(t) != simdjson::SUCCESS || !t.is_object()) {
    error = "DescribeTable response has no \"Table\"";
    return false;
  }
  std::string_view s;
  if (t["TableStatus"].get_string().get(s) == simdjson::SUCCESS) out.status = std::string(s);
  if (t["BillingModeSummary"]["BillingMode"].get_string().get(s) == simdjson::SUCCESS)
    out.billing_mode = std::string(s);
  std::map<std::string, std::string, std::less<>> types;
  simdjson::dom::array defs;
  if (t["AttributeDefinitions"].get_array().get(defs) == simdjson::SUCCESS)
    for (simdjson::dom::element d : defs) {
      std::string_view name, type;
      if (d["AttributeName"].get_string().get(name) == simdjson::SUCCESS &&
          d["AttributeType"].get_string().get(type) == simdjson::SUCCESS)
        types[std::string(name)] = std::string(type);
    }
  simdjson::dom::array schema;
  if (t["KeySchema"].get_array().get(schema) != simdjson::SUCCESS) {
    error = "DescribeTable response has no \"KeySchema\"";
    return false;
  }
  for (simdjson::dom::element k : schema) {
    std::string_view name, type;
    if (k["AttributeName"].get_string().get(name) != simdjson::SUCCESS ||
        k["KeyType"].get_string().get(type) != simdjson::SUCCESS) {
      error = "DescribeTable response has a malformed KeySchema element";
      return false;
    }
    auto it = types.find(name);
    out.key_schema.push_back({std::string(name), std::string(type),
                              it == types.end() ? std::string() : it->second});
  }
  return true;
}

bool parse_describe_time_to_live(std::string_view body, TimeToLiveDescription& out,
                                 std::string& error) {
  simdjson::dom::parser p;
  simdjson::dom::element root;
  if (!parse_root(body, p, root, error)) return false;
  simdjson::dom::element d;
  if (root["TimeToLiveDescription"].get(d) != simdjson::SUCCESS || !d.is_object()) {
    error = "DescribeTimeToLive response has no \"TimeToLiveDescription\"";
    return false;
  }
  std::string_view s;
  if (d["TimeToLiveStatus"].get_string().get(s) == simdjson::SUCCESS) out.status = std::string(s);
  if (d["AttributeName"].get_string().get(s) == simdjson::SUCCESS)
    out.attribute_name = std::string(s);
  return true;
}

std::string dynamodb_error_code(const http::HttpResponse& r, std::string* message) {
  std::string code;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  auto shorten = [](std::string_view t) {
    const size_t hash = t.rfind('#');
    if (hash != std::string_view::npos) t = t.substr(hash + 1);
    const size_t colon = t.find(':');
    if (colon != std::string_view::npos) t = t.substr(0, colon);
    return std::string(t);
  };
  if (p.parse(r.body).get(e) == simdjson::SUCCESS && e.is_object()) {
    std::string_view t;
    if (e["__type"].get_string().get(t) == simdjson::SUCCESS ||
        e["code"].get_string().get(t) == simdjson::SUCCESS)
      code = shorten(t);
    std::string_view m;
    if (message && (e["message"].get_string().get(m) == simdjson::SUCCESS ||
                    e["Message"].get_string().get(m) == simdjson::SUCCESS))
      *message = http::printable_excerpt(m);
  }
  if (code.empty())
    if (const std::string* t = r.find_header("x-amzn-errortype")) code = shorten(*t);
  return http::printable_excerpt(code, 128);
}

DynamoResult::Code classify_dynamodb_error(int status, std::string_view code) {
  using Code = DynamoResult::Code;
  if (code == "ConditionalCheckFailedException") return Code::kConditionFailed;
  if (http::classify_status(status).retryable) return Code::kRetry;
  // The SDKs' throttling and transient codes for DynamoDB (botocore's _retry.json "dynamodb"
  // and general sections; Java v2 DynamoDbRetryPolicy).
  static constexpr std::string_view kRetryable[] = {
      "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
      "RequestLimitExceeded", "TransactionInProgressException", "LimitExceededException",
      "InternalServerError", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException",
      "TooManyRequestsException"};
  for (std::string_view c : kRetryable)
    if (code == c) return Code::kRetry;
  return Code::kPermanent;
}

DynamoDbClient::DynamoDbClient(DynamoDbClientOptions options,
                               std::shared_ptr<http::HttpClient> http,
                               std::shared_ptr<aws::CredentialsSource> credentials)
    : options_(std::move(options)), http_(std::move(http)), credentials_(std::move(credentials)) {
  std::string error;
  if (!http::parse_endpoint_url(options_.endpoint_url, endpoint_, error))
    throw std::runtime_error(
        fmt::format("dynamodb: bad endpoint URL {}: {}", options_.endpoint_url, error));
  endpoint_.path = "/";
  if (options_.region.empty()) throw std::runtime_error("dynamodb: no AWS region configured");
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  call_options_ = aws::signed_call_options(aws::AwsService::kDynamodb, "DynamoDB",
                                           options_.region, &dynamodb_error_code);
  call_options_.retryable = [](int status, std::string_view code) {
    return classify_dynamodb_error(status, code) == DynamoResult::Code::kRetry;
  };
  call_options_.max_attempts = options_.max_attempts;
  call_options_.backoff_base = options_.backoff_base;
  call_options_.backoff_max = options_.backoff_max;
  call_options_.sleep = options_.sleep;
}

DynamoResult DynamoDbClient::call(std::string_view action, const std::string& body,
                                  std::string& response) {
  http::HttpRequest req = endpoint_;
  req.method = "POST";
  req.body = body;
  req.set_header("Content-Type", "application/x-amz-json-1.0");
  req.set_header("X-Amz-Target", fmt::format("DynamoDB_20120810.{}", action));
  aws::SignedCallResult r =
      aws::signed_call(*http_, *credentials_, req, options_.request_timeout, call_options_);
  DynamoResult result;
  result.attempts = r.requests;
  using Outcome = aws::SignedCallResult::Outcome;
  switch (r.outcome) {
    case Outcome::kOk:
      response = std::move(r.response.body);
      return result;
    case Outcome::kNoCredentials:
      return {DynamoResult::Code::kRetry, "", fmt::format("no AWS credentials: {}", r.error),
              result.attempts};
    case Outcome::kCancelled:  // neither a cancel flag nor a deadline is set
    case Outcome::kDeadline:
    case Outcome::kNoAnswer:
      result.code = classify_dynamodb_error(0, "");
      result.message = fmt::format("DynamoDB {} failed: {}", action,
                                   r.outcome == Outcome::kNoAnswer ? r.error : "cancelled");
      break;
    case Outcome::kRefused:
      result.code = classify_dynamodb_error(r.response.status, r.code);
      result.aws_code = r.code;
      result.message = fmt::format("DynamoDB {} failed: HTTP {} {}{}{}", action,
                                   r.response.status, r.code, r.message.empty() ? "" : ": ",
                                   r.message);
      break;
  }
  if (r.exhausted) result.message += fmt::format(" (gave up after {} tries)", r.failures);
  return result;
}

DynamoResult DynamoDbClient::update_item(const UpdateItemRequest& r, Item& attributes) {
  std::string response;
  DynamoResult s = call("UpdateItem", encode_update_item(r), response);
  if (!s.ok()) return s;
  bool present = false;
  std::string error;
  attributes.clear();
  if (!parse_attributes(response, "Attributes", attributes, present, error))
    return {DynamoResult::Code::kPermanent, "", "DynamoDB UpdateItem: " + error, s.attempts};
  return s;
}

DynamoResult DynamoDbClient::put_item(const PutItemRequest& r) {
  std::string response;
  return call("PutItem", encode_put_item(r), response);
}

DynamoResult DynamoDbClient::get_item(const GetItemRequest& r, Item& item, bool& found) {
  std::string response;
  DynamoResult s = call("GetItem", encode_get_item(r), response);
  if (!s.ok()) return s;
  std::string error;
  item.clear();
  if (!parse_attributes(response, "Item", item, found, error))
    return {DynamoResult::Code::kPermanent, "", "DynamoDB GetItem: " + error, s.attempts};
  return s;
}

DynamoResult DynamoDbClient::query(const QueryRequest& r, std::vector<Item>& items) {
  QueryRequest page = r;
  int attempts = 0;
  // Bounded by the partition's size: each page moves LastEvaluatedKey forward.
  while (true) {
    std::string response;
    DynamoResult s = call("Query", encode_query(page), response);
    attempts += s.attempts;
    s.attempts = attempts;
    if (!s.ok()) return s;
    std::string error;
    Item last;
    if (!parse_query(response, items, last, error))
      return {DynamoResult::Code::kPermanent, "", "DynamoDB Query: " + error, attempts};
    if (last.empty() || r.limit > 0) return s;
    if (last == page.exclusive_start_key)
      return {DynamoResult::Code::kPermanent, "", "DynamoDB Query: LastEvaluatedKey did not move",
              attempts};
    page.exclusive_start_key = std::move(last);
  }
}

DynamoResult DynamoDbClient::batch_get_item(const BatchGetItemRequest& r,
                                            std::vector<Item>& items) {
  using Code = DynamoResult::Code;
  std::vector<Item> pending;  // this round's keys, each once, in the order given
  {
    std::unordered_set<std::string> seen;
    for (const Item& key : r.keys)
      if (seen.insert(key_text(key)).second) pending.push_back(key);
  }
  const size_t total = pending.size();
  thread_local std::mt19937 rng{std::random_device{}()};
  BatchGetItemRequest batch;
  batch.table = r.table;
  batch.consistent_read = r.consistent_read;
  batch.projection = r.projection;
  DynamoResult result;
  int stalled = 0;  // rounds in a row that read no key
  for (int round = 0; !pending.empty(); ++round) {
    if (round > 0)
      options_.sleep(jittered_backoff(options_.backoff_base, options_.backoff_max,
                                      std::max(0, stalled - 1), rng));
    std::vector<Item> left;  // unprocessed in this round, for the next
    for (size_t at = 0; at < pending.size(); at += kBatchGetMaxKeys) {
      const size_t end = std::min(pending.size(), at + kBatchGetMaxKeys);
      batch.keys.assign(pending.begin() + static_cast<std::ptrdiff_t>(at),
                        pending.begin() + static_cast<std::ptrdiff_t>(end));
      const size_t read_before = total - pending.size() + at - left.size();
      std::string response;
      DynamoResult s = call("BatchGetItem", encode_batch_get_item(batch), response);
      result.attempts += s.attempts;
      if (!s.ok()) {
        s.attempts = result.attempts;
        s.message += fmt::format(" ({} of {} keys read)", read_before, total);
        return s;
      }
      std::vector<Item> found, unprocessed;
      std::string error;
      if (!parse_batch_get_item(response, r.table, found, unprocessed, error))
        return {Code::kPermanent, "", "DynamoDB BatchGetItem: " + error, result.attempts};
      // Each unprocessed key must be one of this request's, once: else the rounds need not end.
      std::unordered_set<std::string> asked;
      for (const Item& key : batch.keys) asked.insert(key_text(key));
      for (const Item& key : unprocessed)
        if (asked.erase(key_text(key)) == 0)
          return {Code::kPermanent, "",
                  fmt::format("DynamoDB BatchGetItem: UnprocessedKeys has a key not asked (or "
                              "twice): {}",
                              http::printable_excerpt(key_text(key))),
                  result.attempts};
      if (found.size() + unprocessed.size() > batch.keys.size())
        return {Code::kPermanent, "",
                fmt::format("DynamoDB BatchGetItem: {} items and {} unprocessed keys for {} keys "
                            "asked",
                            found.size(), unprocessed.size(), batch.keys.size()),
                result.attempts};
      items.insert(items.end(), std::make_move_iterator(found.begin()),
                   std::make_move_iterator(found.end()));
      left.insert(left.end(), std::make_move_iterator(unprocessed.begin()),
                  std::make_move_iterator(unprocessed.end()));
    }
    stalled = left.size() < pending.size() ? 0 : stalled + 1;
    if (stalled >= options_.max_attempts)
      return {Code::kRetry, "",
              fmt::format("DynamoDB BatchGetItem: {} of {} keys still unprocessed after {} "
                          "rounds in a row that read none",
                          left.size(), total, stalled),
              result.attempts};
    pending = std::move(left);
  }
  return result;
}

DynamoResult DynamoDbClient::describe_table(std::string_view table, TableDescription& out) {
  std::string response;
  DynamoResult s = call("DescribeTable", encode_table_name(table), response);
  if (!s.ok()) return s;
  std::string error;
  out = {};
  if (!parse_describe_table(response, out, error))
    return {DynamoResult::Code::kPermanent, "", "DynamoDB DescribeTable: " + error, s.attempts};
  return s;
}

DynamoResult DynamoDbClient::describe_time_to_live(std::string_view table,
                                                   TimeToLiveDescription& out) {
  std::string response;
  DynamoResult s = call("DescribeTimeToLive", encode_table_name(table), response);
  if (!s.ok()) return s;
  std::string error;
  out = {};
  if (!parse_describe_time_to_live(response, out, error))
    return {DynamoResult::Code::kPermanent, "", "DynamoDB DescribeTimeToLive: " + error,
            s.attempts};
  return s;
}

}  // namespace trailwarden::store
