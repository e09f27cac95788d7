// DynamoDbClient: DynamoDB's item actions (UpdateItem, PutItem, GetItem, BatchGetItem, Query)
// and the table checks (DescribeTable, DescribeTimeToLive), over DynamoDB's JSON 1.0
// protocol (POST /, X-Amz-Target: DynamoDB_20120810.<Action>, Content-Type:
// application/x-amz-json-1.0), signed with SigV4 for service "dynamodb". The endpoint is
// resolved by the caller as for every AWS client (agent/aws/endpoints.h, AwsService::kDynamodb).
// Its users: the shared alarm store (agent/store/dynamodb_alarm_store) and whatever else shares
// state through a DynamoDB table; the client knows no table layout.
//
// Outcomes (DynamoResult):
//   kOk              the action succeeded;
//   kConditionFailed ConditionalCheckFailedException: the write's condition did not hold. An
//                    outcome the caller asked about, not an error, and never retried;
//   kRetry           still failing after options.max_attempts tries, each failure retryable:
//                    no answer, 408/429/5xx (agent/http/classify.h), throttling
//                    (ProvisionedThroughputExceededException, ThrottlingException,
//                    RequestLimitExceeded, ...), with jittered exponential backoff between tries;
//                    for BatchGetItem also keys still unprocessed after max_attempts rounds
//                    without progress (batch_get_item below);
//   kPermanent       anything else: ResourceNotFoundException, AccessDeniedException,
//                    ValidationException, ... with the AWS code and message in `message`; an
//                    answer that is not the JSON the action returns.
// An expired session token is refreshed and a clock-skew refusal corrects aws::SigningClock,
// each once per call: the loop is aws::signed_call (agent/aws/signed_call.h), shared with the
// SQS client and the SNS output; `attempts` is its request count (summed over the requests of
// a call that sends several: Query pages, BatchGetItem batches and rounds).
//
// The request encoders and the response parsers are free functions so that tests check the
// exact JSON. Thread-safe if the HttpClient and CredentialsSource are (the alarm store shares
// one client among the engine's workers).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/aws/signed_call.h"
#include "agent/http/http.h"
#include "agent/store/dynamodb_item.h"

namespace trailwarden::store {

struct DynamoResult {
  enum class Code { kOk, kConditionFailed, kRetry, kPermanent };
  Code code = Code::kOk;
  std::string aws_code;  // "ResourceNotFoundException" ...; "" when no AWS error was read
  std::string message;   // "DynamoDB UpdateItem failed: HTTP 400 <code>: <AWS message>"
  int attempts = 0;      // HTTP requests sent for this call

  bool ok() const { return code == Code::kOk; }
};

struct DynamoDbClientOptions {
  std::string region;        // the signing region
  std::string endpoint_url;  // https://dynamodb.<region>.amazonaws.com, or an override
  std::chrono::milliseconds request_timeout{5000};
  // Tries per call for retryable failures (>= 1), and the backoff between them
  // (common/backoff.h: base * 2^attempt capped at max, jittered).
  int max_attempts = 6;
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_max{2000};
  // How the client waits between tries; default std::this_thread::sleep_for (tests record).
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Expression attribute names ("#c" -> "cnt") and values (":one" -> {"N":"1"}).
using ExpressionNames = std::map<std::string, std::string>;

struct UpdateItemRequest {
  std::string table;
  Item key;
  std::string update_expression;     // "ADD #c :c SET #t = :ttl"
  std::string condition_expression;  // optional
  ExpressionNames names;
  Item values;
  std::string return_values = "NONE";  // NONE, UPDATED_NEW, ALL_NEW, ...
};

struct PutItemRequest {
  std::string table;
  Item item;
  std::string condition_expression;  // optional
  ExpressionNames names;
  Item values;
};

struct GetItemRequest {
  std::string table;
  Item key;
  bool consistent_read = true;
};

// One partition: KeyConditionExpression over the partition key (and a sort key range).
struct QueryRequest {
  std::string table;
  std::string key_condition_expression;  // "#pk = :pk AND #sk >= :from"
  ExpressionNames names;
  Item values;
  bool consistent_read = true;
  Item exclusive_start_key;  // empty: from the start
  // false: sort keys descending (ScanIndexForward false).
  bool scan_forward = true;
  // > 0: at most this many items (Limit), and query() reads one page only (the first `limit`
  // items in sort key order); 0: every item, every page.
  int limit = 0;
};

// BatchGetItem over one table: the items of `keys` (each the full primary key). Any number of
// keys: batch_get_item de-duplicates them and sends at most kBatchGetMaxKeys per request.
struct BatchGetItemRequest {
  std::string table;
  std::vector<Item> keys;
  bool consistent_read = true;
  // Attribute names to return (sent as a ProjectionExpression of "#p<i>" placeholders, so any
  // name, reserved words included; a name listed twice is sent once). Empty: every attribute.
  // Without the key attributes in it, the items returned cannot be told apart.
  std::vector<std::string> projection;
};

// DynamoDB's limit of keys per BatchGetItem request ("Too many items requested for the
// BatchGetItem call" beyond it).
inline constexpr size_t kBatchGetMaxKeys = 100;

struct KeyElement {
  std::string name;
  std::string key_type;        // "HASH" or "RANGE"
  std::string attribute_type;  // "S", "N", "B" (from AttributeDefinitions)
};

struct TableDescription {
  std::string status;  // CREATING, ACTIVE, UPDATING, DELETING ...
  std::vector<KeyElement> key_schema;
  std::string billing_mode;  // PAY_PER_REQUEST or PROVISIONED ("" when not reported)
};

struct TimeToLiveDescription {
  std::string status;          // ENABLED, DISABLED, ENABLING, DISABLING
  std::string attribute_name;  // "" when disabled
};

// Fills options.endpoint_url and options.region for the agent's `region`, with the endpoint
// precedence of agent/aws/endpoints.h ([aws] endpoint_url, AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL, FIPS / dual-stack, else https://dynamodb.<region>.<suffix>). The signing
// region is the one an AWS endpoint URL names in its host (it serves only that region), else
// `region`. false with `error` (naming DynamoDB) for a bad region, URL or variant.
bool resolve_dynamodb_endpoint(std::string_view region, const aws::EndpointConfig& config,
                               const aws::Environment& env, DynamoDbClientOptions& options,
                               std::string& error);

std::string encode_update_item(const UpdateItemRequest& r);
std::string encode_put_item(const PutItemRequest& r);
std::string encode_get_item(const GetItemRequest& r);
std::string encode_query(const QueryRequest& r);
std::string encode_table_name(std::string_view table);  // DescribeTable, DescribeTimeToLive
// {"RequestItems":{table:{"Keys":[...],"ConsistentRead":..,"ProjectionExpression":..,
// "ExpressionAttributeNames":..}}} with r.keys as given: splitting at kBatchGetMaxKeys and
// de-duplicating are batch_get_item's.
std::string encode_batch_get_item(const BatchGetItemRequest& r);

// Response parsers: false with `error` when the body is not the expected JSON.
bool parse_attributes(std::string_view body, std::string_view field, Item& out, bool& present,
                      std::string& error);  // UpdateItem "Attributes", GetItem "Item"
bool parse_query(std::string_view body, std::vector<Item>& items, Item& last_evaluated_key,
                 std::string& error);
// BatchGetItem's answer for a request over `table`: its "Responses" items are appended to
// `items`, its "UnprocessedKeys" keys of `table` replace `unprocessed_keys` (empty when none).
// An answer naming another table, or without "Responses", is an error.
bool parse_batch_get_item(std::string_view body, std::string_view table, std::vector<Item>& items,
                          std::vector<Item>& unprocessed_keys, std::string& error);
bool parse_describe_table(std::string_view body, TableDescription& out, std::string& error);
bool parse_describe_time_to_live(std::string_view body, TimeToLiveDescription& out,
                                 std::string& error);

// The error code of a DynamoDB JSON error body, as the SDKs read it: "__type" after its '#'
// ("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" ->
// "ConditionalCheckFailedException"), else the x-amzn-errortype header; `message` gets the
// body's "message"/"Message" (printable).
std::string dynamodb_error_code(const http::HttpResponse& response, std::string* message = nullptr);
// The outcome class of a failed exchange (status 0: no answer).
DynamoResult::Code classify_dynamodb_error(int http_status, std::string_view code);

class DynamoDbClient {
 public:
  // Throws std::runtime_error if the endpoint URL is malformed or the region is empty.
  DynamoDbClient(DynamoDbClientOptions options, std::shared_ptr<http::HttpClient> http,
                 std::shared_ptr<aws::CredentialsSource> credentials);

  // Sends `action` with `body`, retrying as above; on kOk `response` is the JSON body.
  DynamoResult call(std::string_view action, const std::string& body, std::string& response);

  // UpdateItem; on kOk `attributes` gets the returned "Attributes" (empty with NONE).
  DynamoResult update_item(const UpdateItemRequest& r, Item& attributes);
  DynamoResult put_item(const PutItemRequest& r);
  // `found` false when the item does not exist.
  DynamoResult get_item(const GetItemRequest& r, Item& item, bool& found);
  // Every page of the query (follows LastEvaluatedKey; one request per 1 MB page); with
  // r.limit, the first page only.
  DynamoResult query(const QueryRequest& r, std::vector<Item>& items);
  // BatchGetItem of every key of r (none: kOk without a request). The keys are de-duplicated
  // (DynamoDB refuses a request listing a key twice; keys are compared as sent, so the numbers
  // "1" and "1.0" are two keys here and one to DynamoDB) and sent in requests of at most
  // kBatchGetMaxKeys. The keys an answer leaves in UnprocessedKeys (throttled, or past the
  // 16 MB answer limit) are sent again in a next round, after the client's jittered backoff
  // (options.backoff_base * 2^n capped at backoff_max, n the rounds in a row that read no key);
  // after max_attempts such rounds without a key read: kRetry, the message saying how many keys
  // were left. Each request is retried as every call is (kRetry/kPermanent as above).
  // The items found are appended to `items` in no particular order (a key without an item
  // gives none); on a failure `items` holds only those read before it. An answer with an
  // unprocessed key that was not asked, or more items than keys: kPermanent.
  DynamoResult batch_get_item(const BatchGetItemRequest& r, std::vector<Item>& items);
  DynamoResult describe_table(std::string_view table, TableDescription& out);
  DynamoResult describe_time_to_live(std::string_view table, TimeToLiveDescription& out);

  const DynamoDbClientOptions& options() const { return options_; }

 private:
  DynamoDbClientOptions options_;
  http::HttpRequest endpoint_;
  std::shared_ptr<http::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
  aws::SignedCallOptions call_options_;  // DynamoDB's signing, errors and retries
};

}  // namespace trailwarden::store
