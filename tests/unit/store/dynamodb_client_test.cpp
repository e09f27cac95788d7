// DynamoDbClient against a fake HTTP client: the exact JSON 1.0 requests, the typed attribute
// values (numbers as exact decimal strings), response parsing, and the error classes:
// ConditionalCheckFailed an outcome, throttling and 5xx retried with backoff, the rest
// permanent with the AWS code and message. BatchGetItem against a fake table that refuses what
// DynamoDB refuses (more than 100 keys, a key twice) and leaves keys unprocessed on demand.
#include "agent/store/dynamodb_client.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "tests/unit/aws/fakes.h"

using namespace trailwarden;
using namespace trailwarden::store;
using namespace std::chrono_literals;
using aws::test::FakeHttp;
using aws::test::StaticCredentials;
using aws::test::response;

namespace {

constexpr const char* kRoute = "POST https://dynamodb.us-east-1.amazonaws.com/";

std::string error_body(std::string_view code, std::string_view message) {
  return fmt::format(R"({{"__type":"com.amazonaws.dynamodb.v20120810#{}","message":"{}"}})", code,
                     message);
}

struct Fixture {
  std::shared_ptr<FakeHttp> http = std::make_shared<FakeHttp>();
  std::vector<std::chrono::milliseconds> sleeps;
  DynamoDbClient client(int max_attempts = 4) {
    DynamoDbClientOptions o;
    o.region = "us-east-1";
    o.endpoint_url = "https://dynamodb.us-east-1.amazonaws.com";
    o.max_attempts = max_attempts;
    o.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    return DynamoDbClient(o, http, std::make_shared<StaticCredentials>());
  }
  // Answers with `answers` in turn, the last one repeated.
  void answer(std::vector<http::HttpResponse> answers) {
    auto n = std::make_shared<size_t>(0);
    http->on(kRoute, [answers, n](const http::HttpRequest&) {
      return answers[std::min(answers.size() - 1, (*n)++)];
    });
  }
};

Item pk_key(std::string_view pk) { return {{"pk", AttributeValue::s(std::string(pk))}}; }

std::vector<Item> pk_keys(size_t n, std::string_view prefix = "k") {
  std::vector<Item> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(pk_key(fmt::format("{}{}", prefix, i)));
  return keys;
}

// Table "t" (partition key "pk") answering BatchGetItem as DynamoDB does: a ValidationException
// for more than 100 keys or a key listed twice; for each key an item {pk, v: "value of <pk>"},
// except keys starting with "missing" (no item) and keys `leave` picks (sent back in
// UnprocessedKeys, with the request's ConsistentRead as DynamoDB does).
struct FakeBatchTable {
  std::function<bool(const std::string& pk)> leave = [](const std::string&) { return false; };
  std::vector<std::vector<std::string>> requests;  // the pk of each key of each request

  http::HttpResponse answer(const http::HttpRequest& req) {
    simdjson::dom::parser p;
    simdjson::dom::element root;
    simdjson::dom::array keys;
    if (p.parse(req.body).get(root) != simdjson::SUCCESS ||
        root["RequestItems"]["t"]["Keys"].get_array().get(keys) != simdjson::SUCCESS)
      return response(400, error_body("SerializationException", "bad request"));
    std::vector<std::string> pks;
    for (simdjson::dom::element k : keys) {
      std::string_view pk;
      if (k["pk"]["S"].get_string().get(pk) != simdjson::SUCCESS)
        return response(400, error_body("ValidationException", "bad key"));
      pks.emplace_back(pk);
    }
    requests.push_back(pks);
    if (pks.size() > 100)
      return response(400, error_body("ValidationException",
                                      "Too many items requested for the BatchGetItem call"));
    if (std::set<std::string>(pks.begin(), pks.end()).size() != pks.size())
      return response(400, error_body("ValidationException",
                                      "Provided list of item keys contains duplicates"));
    std::string body;
    JsonWriter w(body);
    w.begin_object().key("Responses").begin_object().key("t").begin_array();
    std::vector<std::string> left;
    for (const std::string& pk : pks) {
      if (leave(pk)) {
        left.push_back(pk);
      } else if (!pk.starts_with("missing")) {
        write_item(w, {{"pk", AttributeValue::s(pk)}, {"v", AttributeValue::s("value of " + pk)}});
      }
    }
    w.end_array().end_object().key("UnprocessedKeys").begin_object();
    if (!left.empty()) {
      w.key("t").begin_object().key("Keys").begin_array();
      for (const std::string& pk : left) write_item(w, pk_key(pk));
      w.end_array().field("ConsistentRead", true).end_object();
    }
    w.end_object().end_object();
    return response(200, body);
  }
};

}  // namespace

TEST_CASE("DynamoDB numbers are exact decimal strings both ways") {
  CHECK(decimal_string(0.1) == "0.1");
  CHECK(decimal_string(1.0) == "1");
  CHECK(decimal_string(-2.5) == "-2.5");
  CHECK(decimal_string(-0.0) == "0");
  CHECK(decimal_string(1e21) == "1e+21");
  CHECK_THROWS(decimal_string(std::numeric_limits<double>::infinity()));
  CHECK(AttributeValue::n(int64_t{9223372036854775807}).text == "9223372036854775807");
  Item item{{"i", AttributeValue::n("12")}, {"f", AttributeValue::n("12.5")},
            {"s", AttributeValue::s("12")}};
  CHECK(get_int(item, "i") == 12);
  CHECK_FALSE(get_int(item, "f"));  // not an integer: no silent truncation
  CHECK(get_double(item, "f") == 12.5);
  CHECK_FALSE(get_int(item, "s"));  // a string, not a number
  CHECK_FALSE(get_int(item, "missing"));
}

TEST_CASE("DynamoDB UpdateItem request: typed key and values, names, condition, ReturnValues") {
  UpdateItemRequest u;
  u.table = "tw-alarms";
  u.key = {{"pk", AttributeValue::s("a#1")}, {"sk", AttributeValue::s("p#1")}};
  u.update_expression = "ADD #c :c SET #t = :t";
  u.condition_expression = "attribute_exists(#c)";
  u.names = {{"#c", "cnt"}, {"#t", "expires_at"}};
  u.values = {{":c", AttributeValue::n(int64_t{3})},
              {":i", AttributeValue::ss({"e1", "e\"2"})},
              {":t", AttributeValue::n(0.5)}};
  u.return_values = "UPDATED_NEW";
  CHECK(encode_update_item(u) ==
        R"({"TableName":"tw-alarms","Key":{"pk":{"S":"a#1"},"sk":{"S":"p#1"}},)"
        R"j("UpdateExpression":"ADD #c :c SET #t = :t","ConditionExpression":"attribute_exists(#c)",)j"
        R"("ExpressionAttributeNames":{"#c":"cnt","#t":"expires_at"},)"
        R"("ExpressionAttributeValues":{":c":{"N":"3"},":i":{"SS":["e1","e\"2"]},":t":{"N":"0.5"}},)"
        R"("ReturnValues":"UPDATED_NEW"})");
  GetItemRequest g{"tw-alarms", {{"pk", AttributeValue::s("x")}}, true};
  CHECK(encode_get_item(g) ==
        R"({"TableName":"tw-alarms","Key":{"pk":{"S":"x"}},"ConsistentRead":true})");
  PutItemRequest p;
  p.table = "t";
  p.item = {{"pk", AttributeValue::s("x")}, {"ok", AttributeValue::b(true)}};
  p.condition_expression = "attribute_not_exists(#pk)";
  p.names = {{"#pk", "pk"}};
  CHECK(encode_put_item(p) ==
        R"({"TableName":"t","Item":{"ok":{"BOOL":true},"pk":{"S":"x"}},)"
        R"j("ConditionExpression":"attribute_not_exists(#pk)","ExpressionAttributeNames":{"#pk":"pk"}})j");
}

TEST_CASE("DynamoDB requests carry the JSON 1.0 target, content type and a dynamodb signature") {
  Fixture f;
  f.answer({response(200, R"({"Attributes":{"cnt":{"N":"7"},"odd":{"L":[]}}})")});
  DynamoDbClient c = f.client();
  Item after;
  UpdateItemRequest u;
  u.table = "tw-alarms";
  u.key = {{"pk", AttributeValue::s("k")}};
  u.update_expression = "ADD #c :c";
  DynamoResult r = c.update_item(u, after);
  REQUIRE(r.ok());
  CHECK(r.attempts == 1);
  CHECK(get_int(after, "cnt") == 7);
  CHECK(after.count("odd") == 0);  // an unmodelled type is skipped, not an error
  REQUIRE(f.http->calls.size() == 1);
  const http::HttpRequest& req = f.http->calls[0].request;
  CHECK(*req.find_header("X-Amz-Target") == "DynamoDB_20120810.UpdateItem");
  CHECK(*req.find_header("Content-Type") == "application/x-amz-json-1.0");
  CHECK(req.find_header("Authorization")->find("/us-east-1/dynamodb/aws4_request") !=
        std::string::npos);
  CHECK(req.body == encode_update_item(u));
}

TEST_CASE("DynamoDB error codes and their classes") {
  CHECK(dynamodb_error_code(response(400, error_body("ValidationException", "bad"))) ==
        "ValidationException");
  CHECK(dynamodb_error_code(response(400, "not json",
                                     {{"x-amzn-errortype", "ThrottlingException:http://x"}})) ==
        "ThrottlingException");
  std::string message;
  dynamodb_error_code(response(400, error_body("X", "why\\u0007")), &message);
  CHECK(message.starts_with("why"));
  CHECK(message.find('\a') == std::string::npos);
  using Code = DynamoResult::Code;
  CHECK(classify_dynamodb_error(400, "ConditionalCheckFailedException") == Code::kConditionFailed);
  CHECK(classify_dynamodb_error(400, "ProvisionedThroughputExceededException") == Code::kRetry);
  CHECK(classify_dynamodb_error(400, "ThrottlingException") == Code::kRetry);
  CHECK(classify_dynamodb_error(400, "RequestLimitExceeded") == Code::kRetry);
  CHECK(classify_dynamodb_error(500, "InternalServerError") == Code::kRetry);
  CHECK(classify_dynamodb_error(503, "") == Code::kRetry);
  CHECK(classify_dynamodb_error(0, "") == Code::kRetry);
  CHECK(classify_dynamodb_error(400, "ResourceNotFoundException") == Code::kPermanent);
  CHECK(classify_dynamodb_error(400, "AccessDeniedException") == Code::kPermanent);
  CHECK(classify_dynamodb_error(400, "ValidationException") == Code::kPermanent);
}

TEST_CASE("DynamoDB: throttling and 5xx are retried with backoff until they pass") {
  Fixture f;
  f.answer({response(400, error_body("ProvisionedThroughputExceededException", "slow down")),
            response(500, error_body("InternalServerError", "oops")),
            response(200, R"({"Item":{"pk":{"S":"k"}}})")});
  DynamoDbClient c = f.client();
  Item item;
  bool found = false;
  DynamoResult r = c.get_item({"t", {{"pk", AttributeValue::s("k")}}, true}, item, found);
  CHECK(r.ok());
  CHECK(found);
  CHECK(r.attempts == 3);
  CHECK(f.sleeps.size() == 2);
  CHECK(f.http->calls.size() == 3);
}

TEST_CASE("DynamoDB: retries are bounded; the last error is reported as retryable") {
  Fixture f;
  f.answer({response(400, error_body("ThrottlingException", "rate exceeded"))});
  DynamoDbClient c = f.client(3);
  std::string out;
  DynamoResult r = c.call("PutItem", "{}", out);
  CHECK(r.code == DynamoResult::Code::kRetry);
  CHECK(r.attempts == 3);
  CHECK(f.sleeps.size() == 2);
  CHECK(r.aws_code == "ThrottlingException");
  CHECK(r.message.find("rate exceeded") != std::string::npos);
  CHECK(r.message.find("gave up after 3 tries") != std::string::npos);
}

TEST_CASE("DynamoDB: a failed condition is an outcome, permanent errors are not retried") {
  Fixture f;
  f.answer({response(400, error_body("ConditionalCheckFailedException", "The conditional request failed"))});
  DynamoDbClient c = f.client();
  std::string out;
  DynamoResult r = c.call("PutItem", "{}", out);
  CHECK(r.code == DynamoResult::Code::kConditionFailed);
  CHECK(r.attempts == 1);
  CHECK(f.sleeps.empty());

  for (const char* code : {"ResourceNotFoundException", "AccessDeniedException", "ValidationException"}) {
    CAPTURE(code);
    Fixture g;
    g.answer({response(400, error_body(code, "Requested resource not found: Table: tw-alarms"))});
    DynamoDbClient c2 = g.client();
    DynamoResult p = c2.call("DescribeTable", "{}", out);
    CHECK(p.code == DynamoResult::Code::kPermanent);
    CHECK(p.attempts == 1);
    CHECK(p.aws_code == code);
    CHECK(p.message.find(code) != std::string::npos);
    CHECK(p.message.find("Table: tw-alarms") != std::string::npos);
    CHECK(p.message.find("DescribeTable") != std::string::npos);
  }
}

TEST_CASE("DynamoDB Query follows LastEvaluatedKey over every page") {
  Fixture f;
  f.answer({response(200, R"({"Items":[{"sk":{"S":"p#1"}}],"LastEvaluatedKey":{"pk":{"S":"a"},"sk":{"S":"p#1"}}})"),
            response(200, R"({"Items":[{"sk":{"S":"p#2"}},{"sk":{"S":"state"}}],"Count":2})")});
  DynamoDbClient c = f.client();
  QueryRequest q;
  q.table = "t";
  q.key_condition_expression = "#pk = :pk";
  q.names = {{"#pk", "pk"}};
  q.values = {{":pk", AttributeValue::s("a")}};
  std::vector<Item> items;
  DynamoResult r = c.query(q, items);
  REQUIRE(r.ok());
  CHECK(r.attempts == 2);
  REQUIRE(items.size() == 3);
  CHECK(get_s(items[2], "sk") == "state");
  REQUIRE(f.http->calls.size() == 2);
  CHECK(f.http->calls[0].request.body.find("ExclusiveStartKey") == std::string::npos);
  CHECK(f.http->calls[1].request.body.find(
            R"("ExclusiveStartKey":{"pk":{"S":"a"},"sk":{"S":"p#1"}})") != std::string::npos);
  CHECK(f.http->calls[1].request.body.find(R"("ConsistentRead":true)") != std::string::npos);
}

TEST_CASE("DynamoDB DescribeTable and DescribeTimeToLive responses") {
  TableDescription t;
  std::string error;
  REQUIRE(parse_describe_table(
      R"({"Table":{"TableName":"t","TableStatus":"ACTIVE","BillingModeSummary":{"BillingMode":"PAY_PER_REQUEST"},)"
      R"("AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}],)"
      R"("KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]}})",
      t, error));
  CHECK(t.status == "ACTIVE");
  CHECK(t.billing_mode == "PAY_PER_REQUEST");
  REQUIRE(t.key_schema.size() == 2);
  CHECK(t.key_schema[1].name == "sk");
  CHECK(t.key_schema[1].key_type == "RANGE");
  CHECK(t.key_schema[1].attribute_type == "N");
  CHECK_FALSE(parse_describe_table(R"({"Table":{"TableStatus":"ACTIVE"}})", t, error));
  CHECK(error.find("KeySchema") != std::string::npos);
  CHECK_FALSE(parse_describe_table("<html>", t, error));
  TimeToLiveDescription ttl;
  REQUIRE(parse_describe_time_to_live(
      R"({"TimeToLiveDescription":{"TimeToLiveStatus":"ENABLED","AttributeName":"expires_at"}})", ttl,
      error));
  CHECK(ttl.status == "ENABLED");
  CHECK(ttl.attribute_name == "expires_at");
}

TEST_CASE("DynamoDB endpoint: AWS host by region, overrides by precedence, signing region") {
  DynamoDbClientOptions o;
  std::string error;
  aws::EndpointConfig config;
  REQUIRE(resolve_dynamodb_endpoint("eu-west-1", config, {}, o, error));
  CHECK(o.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com");
  CHECK(o.region == "eu-west-1");
  REQUIRE(resolve_dynamodb_endpoint("cn-north-1", config, {}, o, error));
  CHECK(o.endpoint_url == "https://dynamodb.cn-north-1.amazonaws.com.cn");
  REQUIRE(resolve_dynamodb_endpoint("us-east-1", config, {{"AWS_USE_FIPS_ENDPOINT", "true"}}, o, error));
  CHECK(o.endpoint_url == "https://dynamodb-fips.us-east-1.amazonaws.com");
  REQUIRE(resolve_dynamodb_endpoint("us-gov-west-1", config, {{"AWS_USE_FIPS_ENDPOINT", "true"}}, o, error));
  CHECK(o.endpoint_url == "https://dynamodb.us-gov-west-1.amazonaws.com");
  aws::Environment env = {{"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"},
                          {"AWS_ENDPOINT_URL", "http://127.0.0.1:9"}};
  REQUIRE(resolve_dynamodb_endpoint("us-east-1", config, env, o, error));
  CHECK(o.endpoint_url == "http://127.0.0.1:8000");
  CHECK(o.region == "us-east-1");
  // An endpoint of another region signs for that region.
  config.endpoint_url = "https://dynamodb.ap-south-1.amazonaws.com";
  REQUIRE(resolve_dynamodb_endpoint("us-east-1", config, env, o, error));
  CHECK(o.endpoint_url == "https://dynamodb.ap-south-1.amazonaws.com");
  CHECK(o.region == "ap-south-1");
  CHECK_FALSE(resolve_dynamodb_endpoint("not a region", {}, {}, o, error));
  CHECK(error.starts_with("DynamoDB endpoint: "));
}

TEST_CASE("DynamoDB response parsers: every truncation and byte flip of a reply is handled") {
  const std::vector<std::string> replies = {
      R"({"Items":[{"pk":{"S":"a"},"cnt":{"N":"3"},"ids":{"SS":["x","y"]},"b":{"BOOL":true}}],"LastEvaluatedKey":{"pk":{"S":"a"}}})",
      R"({"Table":{"TableStatus":"ACTIVE","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}})",
      R"({"TimeToLiveDescription":{"TimeToLiveStatus":"ENABLED","AttributeName":"expires_at"}})",
      R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"no"})",
      R"({"Responses":{"t":[{"pk":{"S":"a"},"cnt":{"N":"3"}},{"pk":{"S":"b"},"bs":{"BS":["AAE="]}}]},)"
      R"("UnprocessedKeys":{"t":{"Keys":[{"pk":{"S":"c"}},{"pk":{"N":"4"}}],"ConsistentRead":true}}})"};
  size_t accepted = 0, batch_accepted = 0;
  for (const std::string& reply : replies) {
    std::vector<std::string> inputs;
    for (size_t n = 0; n <= reply.size(); ++n) inputs.push_back(reply.substr(0, n));
    for (size_t i = 0; i < reply.size(); ++i) {
      std::string flipped = reply;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
      inputs.push_back(flipped);
    }
    for (const std::string& in : inputs) {
      std::string error;
      std::vector<Item> items;
      Item last, attrs;
      bool present = false;
      TableDescription t;
      TimeToLiveDescription ttl;
      accepted += parse_query(in, items, last, error);
      accepted += parse_describe_table(in, t, error);
      accepted += parse_describe_time_to_live(in, ttl, error);
      accepted += parse_attributes(in, "Attributes", attrs, present, error);
      std::vector<Item> left;
      const size_t before = items.size();
      const bool batch = parse_batch_get_item(in, "t", items, left, error);
      batch_accepted += batch;
      if (!batch) CHECK(items.size() == before);  // nothing appended from a refused answer
      for (const Item& item : items) {
        (void)get_int(item, "cnt");
        (void)get_double(item, "cnt");
      }
      std::string message;
      const std::string code = dynamodb_error_code(response(400, in), &message);
      CHECK(code.size() <= 128);
      for (char c : code + message) CHECK((static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f));
    }
  }
  CHECK(accepted > 0);
  CHECK(batch_accepted > 0);
}

TEST_CASE("DynamoDB BatchGetItem request: keys, consistency, a projection of placeholders") {
  BatchGetItemRequest r;
  r.table = "tw-alarms";
  r.keys = {{{"pk", AttributeValue::s("a")}, {"sk", AttributeValue::s("x")}},
            {{"pk", AttributeValue::s("b")}, {"sk", AttributeValue::n(int64_t{2})}}};
  CHECK(encode_batch_get_item(r) ==
        R"({"RequestItems":{"tw-alarms":{"Keys":[{"pk":{"S":"a"},"sk":{"S":"x"}},)"
        R"({"pk":{"S":"b"},"sk":{"N":"2"}}],"ConsistentRead":true}}})");
  // Reserved words ("size") and odd names pass through placeholders; a name twice is sent once
  // (DynamoDB refuses overlapping paths).
  r.consistent_read = false;
  r.keys.resize(1);
  r.projection = {"pk", "size", "a.b", "pk"};
  CHECK(encode_batch_get_item(r) ==
        R"({"RequestItems":{"tw-alarms":{"Keys":[{"pk":{"S":"a"},"sk":{"S":"x"}}],)"
        R"("ConsistentRead":false,"ProjectionExpression":"#p0, #p1, #p2",)"
        R"("ExpressionAttributeNames":{"#p0":"pk","#p1":"size","#p2":"a.b"}}}})");
}

TEST_CASE("DynamoDB BatchGetItem response: items, unprocessed keys, another table refused") {
  std::vector<Item> items, left;
  std::string error;
  REQUIRE(parse_batch_get_item(
      R"({"Responses":{"t":[{"pk":{"S":"a"},"v":{"N":"1"}},{"pk":{"S":"b"}}]},)"
      R"("UnprocessedKeys":{"t":{"Keys":[{"pk":{"S":"c"}}],"ConsistentRead":true}}})",
      "t", items, left, error));
  REQUIRE(items.size() == 2);
  CHECK(get_int(items[0], "v") == 1);
  REQUIRE(left.size() == 1);
  CHECK(left[0] == pk_key("c"));
  // None found, none left (AWS and dynalite send an empty UnprocessedKeys map).
  REQUIRE(parse_batch_get_item(R"({"Responses":{"t":[]},"UnprocessedKeys":{}})", "t", items,
                               left, error));
  CHECK(items.size() == 2);
  CHECK(left.empty());
  REQUIRE(parse_batch_get_item(R"({"Responses":{}})", "t", items, left, error));
  CHECK_FALSE(parse_batch_get_item(R"({"Responses":{"other":[]}})", "t", items, left, error));
  CHECK(error.find("\"other\", which was not asked") != std::string::npos);
  CHECK_FALSE(parse_batch_get_item(R"({"Responses":{"t":[]},"UnprocessedKeys":{"other":{"Keys":[]}}})",
                                   "t", items, left, error));
  CHECK(error.find("UnprocessedKeys") != std::string::npos);
  CHECK_FALSE(parse_batch_get_item(R"({"Items":[]})", "t", items, left, error));
  CHECK(error.find("Responses") != std::string::npos);
  // A failed parse appends nothing.
  CHECK_FALSE(parse_batch_get_item(R"({"Responses":{"t":[{"pk":{"S":"d"}},7]}})", "t", items,
                                   left, error));
  CHECK(items.size() == 2);
  CHECK_FALSE(parse_batch_get_item(R"({"Responses":{"t":[]},"UnprocessedKeys":{"t":{}}})", "t",
                                   items, left, error));
}

TEST_CASE("DynamoDB BatchGetItem: 250 keys given twice are 3 requests of at most 100, each key once") {
  Fixture f;
  FakeBatchTable table;
  f.http->on(kRoute, [&](const http::HttpRequest& req) { return table.answer(req); });
  DynamoDbClient c = f.client();
  BatchGetItemRequest r;
  r.table = "t";
  r.keys = pk_keys(250);
  const std::vector<Item> again = pk_keys(250);
  r.keys.insert(r.keys.end(), again.begin(), again.end());  // each key twice
  r.keys.push_back(pk_key("missing-1"));
  std::vector<Item> items;
  DynamoResult res = c.batch_get_item(r, items);
  REQUIRE_MESSAGE(res.ok(), res.message);
  CHECK(res.attempts == 3);
  CHECK(f.sleeps.empty());
  REQUIRE(table.requests.size() == 3);
  std::multiset<std::string> sent;
  for (const auto& keys : table.requests) {
    CHECK(keys.size() <= kBatchGetMaxKeys);
    sent.insert(keys.begin(), keys.end());
  }
  CHECK(table.requests[0].size() == 100);
  CHECK(table.requests[2].size() == 51);
  CHECK(sent.size() == 251);
  CHECK(std::set<std::string>(sent.begin(), sent.end()).size() == 251);  // none twice
  REQUIRE(items.size() == 250);  // "missing-1" has no item
  std::set<std::string> read;
  for (const Item& item : items) {
    const auto pk = get_s(item, "pk");
    REQUIRE(pk);
    CHECK(get_s(item, "v") == "value of " + *pk);
    read.insert(*pk);
  }
  CHECK(read.size() == 250);
  CHECK(f.http->calls[0].request.find_header("X-Amz-Target") != nullptr);
  CHECK(*f.http->calls[0].request.find_header("X-Amz-Target") == "DynamoDB_20120810.BatchGetItem");

  // No keys: no request.
  items.clear();
  CHECK(c.batch_get_item({"t", {}, true, {}}, items).ok());
  CHECK(table.requests.size() == 3);
}

TEST_CASE("DynamoDB BatchGetItem: UnprocessedKeys are sent again, after the backoff, until read") {
  Fixture f;
  FakeBatchTable table;
  // Every key whose number ends in 7, 8 or 9 is left unprocessed the first time it is asked
  // (throttled, or past the 16 MB answer).
  std::set<std::string> asked;
  table.leave = [&](const std::string& pk) {
    return asked.insert(pk).second && std::string_view("789").find(pk.back()) != std::string::npos;
  };
  f.http->on(kRoute, [&](const http::HttpRequest& req) { return table.answer(req); });
  DynamoDbClient c = f.client();
  BatchGetItemRequest r;
  r.table = "t";
  r.keys = pk_keys(150);
  r.projection = {"pk", "v"};
  std::vector<Item> items;
  DynamoResult res = c.batch_get_item(r, items);
  REQUIRE_MESSAGE(res.ok(), res.message);
  // Round 1: 100 + 50 keys, 30 + 15 left; round 2: the 45 left, in one request.
  REQUIRE(table.requests.size() == 3);
  CHECK(res.attempts == 3);
  CHECK(table.requests[2].size() == 45);
  for (const std::string& pk : table.requests[2])
    CHECK(std::string_view("789").find(pk.back()) != std::string::npos);
  CHECK(items.size() == 150);
  // One backoff, before the second round: the first step, base 50 ms jittered to [25, 50].
  REQUIRE(f.sleeps.size() == 1);
  CHECK(f.sleeps[0] >= 25ms);
  CHECK(f.sleeps[0] <= 50ms);
  // The keys sent again keep the request's projection and consistency.
  const std::string& again = f.http->calls[2].request.body;
  CHECK(again.find(R"("ConsistentRead":true,"ProjectionExpression":"#p0, #p1")") !=
        std::string::npos);
}

TEST_CASE("DynamoDB BatchGetItem: rounds that read nothing end in kRetry after max_attempts") {
  Fixture f;
  FakeBatchTable table;
  table.leave = [](const std::string&) { return true; };
  f.http->on(kRoute, [&](const http::HttpRequest& req) { return table.answer(req); });
  DynamoDbClient c = f.client(4);
  std::vector<Item> items;
  DynamoResult res = c.batch_get_item({"t", pk_keys(5), true, {}}, items);
  CHECK(res.code == DynamoResult::Code::kRetry);
  CHECK(res.attempts == 4);
  CHECK(table.requests.size() == 4);
  CHECK(items.empty());
  CHECK(res.message.find("5 of 5 keys still unprocessed after 4 rounds") != std::string::npos);
  // Growing, jittered backoff between the rounds: [25, 50], [50, 100], [100, 200] ms.
  REQUIRE(f.sleeps.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(f.sleeps[i] >= std::chrono::milliseconds(25 << i));
    CHECK(f.sleeps[i] <= std::chrono::milliseconds(50 << i));
  }

  // Rounds that read some keys do not count: one key read per request, 6 keys, max_attempts 2.
  Fixture g;
  FakeBatchTable slow;
  bool first = true;  // only the first key of each request is read
  slow.leave = [&](const std::string&) { return !std::exchange(first, false); };
  g.http->on(kRoute, [&](const http::HttpRequest& req) {
    first = true;
    return slow.answer(req);
  });
  DynamoDbClient c2 = g.client(2);
  items.clear();
  res = c2.batch_get_item({"t", pk_keys(6), true, {}}, items);
  REQUIRE_MESSAGE(res.ok(), res.message);
  CHECK(items.size() == 6);
  CHECK(slow.requests.size() == 6);
  CHECK(g.sleeps.size() == 5);
}

TEST_CASE("DynamoDB BatchGetItem: throttling is retried as other calls are; errors say what was read") {
  Fixture f;
  FakeBatchTable table;
  size_t n = 0;
  f.http->on(kRoute, [&](const http::HttpRequest& req) {
    if (n++ == 0)
      return response(400, error_body("ProvisionedThroughputExceededException", "slow down"));
    return table.answer(req);
  });
  DynamoDbClient c = f.client();
  std::vector<Item> items;
  DynamoResult res = c.batch_get_item({"t", pk_keys(3), true, {}}, items);
  REQUIRE_MESSAGE(res.ok(), res.message);
  CHECK(res.attempts == 2);
  CHECK(f.sleeps.size() == 1);
  CHECK(items.size() == 3);

  // A permanent error on the second request: its code, and how far the call got.
  Fixture g;
  size_t m = 0;
  g.http->on(kRoute, [&](const http::HttpRequest& req) {
    if (m++ == 1)
      return response(400, error_body("ResourceNotFoundException", "Requested resource not found"));
    return table.answer(req);
  });
  DynamoDbClient c2 = g.client();
  items.clear();
  res = c2.batch_get_item({"t", pk_keys(250), true, {}}, items);
  CHECK(res.code == DynamoResult::Code::kPermanent);
  CHECK(res.aws_code == "ResourceNotFoundException");
  CHECK(res.attempts == 2);
  CHECK(res.message.find("BatchGetItem") != std::string::npos);
  CHECK(res.message.find("(100 of 250 keys read)") != std::string::npos);
  CHECK(items.size() == 100);
}

TEST_CASE("DynamoDB BatchGetItem: an answer that cannot be right is an error, not a loop") {
  const std::vector<std::pair<std::string, std::string>> answers = {
      {R"({"Responses":{"t":[]},"UnprocessedKeys":{"t":{"Keys":[{"pk":{"S":"stranger"}}]}}})",
       "UnprocessedKeys has a key not asked"},
      {R"({"Responses":{"t":[]},"UnprocessedKeys":{"t":{"Keys":[{"pk":{"S":"k0"}},{"pk":{"S":"k0"}}]}}})",
       "UnprocessedKeys has a key not asked (or twice)"},
      {R"({"Responses":{"t":[{"pk":{"S":"k0"}},{"pk":{"S":"k0"}},{"pk":{"S":"k1"}}]}})",
       "3 items and 0 unprocessed keys for 2 keys asked"},
      {R"({"Responses":{"other":[]}})", "not asked"},
      {R"({"Responses":{"t":[{"pk":{"S":"k0"}})", "not a JSON object"},
      {"", "not a JSON object"}};
  for (const auto& [body, why] : answers) {
    CAPTURE(body);
    Fixture f;
    f.answer({response(200, body)});
    DynamoDbClient c = f.client();
    std::vector<Item> items;
    DynamoResult res = c.batch_get_item({"t", pk_keys(2), true, {}}, items);
    CHECK(res.code == DynamoResult::Code::kPermanent);
    CHECK(res.message.find(why) != std::string::npos);
    CHECK(res.message.starts_with("DynamoDB BatchGetItem: "));
    CHECK(f.http->calls.size() == 1);
    CHECK(items.empty());
  }
}
