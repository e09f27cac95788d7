// DynamoDbClient against a fake HTTP client: the exact JSON 1.0 requests, the typed attribute
// values (numbers as exact decimal strings), response parsing, and the error classes:
// ConditionalCheckFailed an outcome, throttling and 5xx retried with backoff, the rest
// permanent with the AWS code and message.
#include "agent/store/dynamodb_client.h"

#include <doctest/doctest.h>

#include <limits>

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
      R"({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"no"})"};
  size_t accepted = 0;
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
}
