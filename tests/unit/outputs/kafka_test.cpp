// The Kafka output's configuration (keys, validation with positions, property passthrough,
// secret indirection), message keys, error classification, and the MSK IAM token. Nothing here
// connects to a broker: librdkafka is used only for its configuration objects.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "agent/config/toml_util.h"
#include "outputs/kafka/kafka_config.h"
#include "outputs/kafka/kafka_output.h"
#include "agent/kafka/msk_iam.h"
#include "outputs/settings.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden;

namespace {

const std::string kConfigFile = "/etc/trailwarden/trailwarden.toml";

// In-memory environment and files for secret indirection.
struct FakeSecrets {
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;
  std::vector<std::string> files_read;

  SecretSources sources() {
    SecretSources s;
    s.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    s.read_file = [this](const std::string& path, std::string& content, std::string&) {
      files_read.push_back(path);
      auto it = files.find(path);
      if (it == files.end()) return aws::ReadStatus::kNotFound;
      content = it->second;
      return aws::ReadStatus::kOk;
    };
    return s;
  }
};

OutputSettings settings_from(const std::string& toml) {
  const toml::table doc = parse_toml(toml, kConfigFile);
  return parse_output_settings(*doc["outputs"][0].as_table(), kConfigFile, 0);
}

KafkaOutputConfig parse(const std::string& toml, FakeSecrets& secrets,
                        const std::string& region = "us-east-1") {
  return parse_kafka_config(settings_from(toml), region, secrets.sources());
}

KafkaOutputConfig parse(const std::string& toml) {
  FakeSecrets secrets;
  return parse(toml, secrets);
}

// The error message parse() throws, or "" when it does not.
std::string parse_error(const std::string& toml, FakeSecrets& secrets,
                        const std::string& region = "us-east-1") {
  try {
    parse(toml, secrets, region);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& toml) {
  FakeSecrets secrets;
  return parse_error(toml, secrets);
}

const std::string kMinimal = R"([[outputs]]
type = "kafka"
brokers = "k1:9092,k2:9092"
topic = "security-alerts"
)";

std::string conf_get(rd_kafka_conf_t* conf, const char* name) {
  char buf[1024];
  size_t size = sizeof buf;
  if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return buf;
}

const KafkaProperty* find_property(const KafkaOutputConfig& c, const std::string& name) {
  for (const auto& p : c.properties)
    if (p.name == name) return &p;
  return nullptr;
}

class FixedCredentials final : public aws::CredentialsSource {
 public:
  explicit FixedCredentials(std::optional<aws::Credentials> c, std::string error = "")
      : creds_(std::move(c)), error_(std::move(error)) {}
  bool get(aws::Credentials& out, std::string& error) override {
    if (!creds_) {
      error = error_;
      return false;
    }
    out = *creds_;
    return true;
  }
  void invalidate() override {}

 private:
  std::optional<aws::Credentials> creds_;
  std::string error_;
};

aws::Credentials creds(std::string id, std::string secret, std::string token = "") {
  aws::Credentials c;
  c.access_key_id = std::move(id);
  c.secret_access_key = std::move(secret);
  c.session_token = std::move(token);
  c.provider = "test";
  return c;
}

// 2024-03-15T12:34:56Z
aws::TimePoint fixed_time() { return aws::test::utc(2024, 3, 15, 12, 34, 56); }

}  // namespace

TEST_CASE("kafka config: minimal table and defaults") {
  const KafkaOutputConfig c = parse(kMinimal);
  CHECK(c.brokers == "k1:9092,k2:9092");
  CHECK(c.topic == "security-alerts");
  CHECK(c.key == KafkaKey::kAccount);
  CHECK(c.compression == "zstd");
  CHECK(c.delivery_timeout.count() == 10000);
  CHECK_FALSE(c.msk_iam);
  CHECK(c.properties.empty());
}

TEST_CASE("kafka config: every key") {
  const KafkaOutputConfig c = parse(R"([[outputs]]
type = "kafka"
name = "siem"
format = "cloudtrail"
brokers = [" b-1.example:9094 ", "b-2.example:9094"]
topic = "ct.alerts_v2"
key = "rule"
compression = "lz4"
delivery_timeout_ms = 2500
)");
  CHECK(c.brokers == "b-1.example:9094,b-2.example:9094");
  CHECK(c.topic == "ct.alerts_v2");
  CHECK(c.key == KafkaKey::kRule);
  CHECK(c.compression == "lz4");
  CHECK(c.delivery_timeout.count() == 2500);
  for (const char* k : {"uid", "none", "account"}) {
    const KafkaOutputConfig k_c = parse(kMinimal + "key = \"" + std::string(k) + "\"\n");
    CHECK(kafka_key_name(k_c.key) == k);
  }
  for (const char* codec : {"zstd", "lz4", "snappy", "gzip", "none"})
    CHECK(parse(kMinimal + "compression = \"" + std::string(codec) + "\"\n").compression == codec);
}

TEST_CASE("kafka config: errors carry file:line:column") {
  CHECK(parse_error("[[outputs]]\ntype = \"kafka\"\ntopic = \"t\"\n").find("needs brokers") !=
        std::string::npos);
  CHECK(parse_error("[[outputs]]\ntype = \"kafka\"\nbrokers = \"k:1\"\n").find("needs a topic") !=
        std::string::npos);
  CHECK(parse_error(kMinimal + "key = \"region\"\n") ==
        kConfigFile + ":5:1: outputs.key must be \"account\", \"rule\", \"uid\" or \"none\"");
  CHECK(parse_error(kMinimal + "compression = \"brotli\"\n").rfind(kConfigFile + ":5:1:", 0) == 0);
  CHECK(parse_error(kMinimal + "delivery_timeout_ms = 0\n").rfind(kConfigFile + ":5:1:", 0) == 0);
  CHECK(parse_error(kMinimal + "msk_iam = \"yes\"\n").find("must be true or false") !=
        std::string::npos);
  CHECK(parse_error(kMinimal + "partitions = 3\n") ==
        kConfigFile + ":5:1: unknown key 'partitions' in [outputs]");
  CHECK(parse_error("[[outputs]]\ntype = \"kafka\"\nbrokers = \"a:1,,b:2\"\ntopic = \"t\"\n")
            .rfind(kConfigFile + ":3:1:", 0) == 0);
  CHECK(parse_error("[[outputs]]\ntype = \"kafka\"\nbrokers = 9092\ntopic = \"t\"\n")
            .find("string (\"host:port,host:port\") or an array") != std::string::npos);
  CHECK(parse_error("[[outputs]]\ntype = \"kafka\"\nbrokers = \"k:1\"\ntopic = \"bad topic\"\n")
            .rfind(kConfigFile + ":4:1:", 0) == 0);
  CHECK(parse_error(kMinimal + "properties = \"acks=1\"\n").find("must be a table") !=
        std::string::npos);
}

TEST_CASE("kafka config: properties are passed through to librdkafka") {
  const KafkaOutputConfig c = parse(kMinimal + R"(
[outputs.properties]
"security.protocol" = "SASL_SSL"
sasl.mechanisms = "SCRAM-SHA-512"
sasl.username = "trailwarden"
"linger.ms" = 20
"socket.keepalive.enable" = true
"message.max.bytes" = 2000000
)");
  REQUIRE(c.properties.size() == 6);
  // Nested tables (unquoted dotted keys) are flattened back into librdkafka names.
  REQUIRE(find_property(c, "sasl.mechanisms"));
  CHECK(find_property(c, "sasl.mechanisms")->value == "SCRAM-SHA-512");
  CHECK(find_property(c, "linger.ms")->value == "20");
  CHECK(find_property(c, "socket.keepalive.enable")->value == "true");
  CHECK_FALSE(find_property(c, "sasl.username")->secret);

  std::string error;
  rd_kafka_conf_t* conf = make_rdkafka_conf(c, error);
  REQUIRE_MESSAGE(conf, error);
  CHECK(conf_get(conf, "security.protocol") == "sasl_ssl");
  CHECK(conf_get(conf, "sasl.mechanisms") == "SCRAM-SHA-512");
  CHECK(conf_get(conf, "sasl.username") == "trailwarden");
  CHECK(conf_get(conf, "linger.ms") == "20");
  CHECK(conf_get(conf, "message.max.bytes") == "2000000");
  // What the output itself sets.
  CHECK(conf_get(conf, "bootstrap.servers") == "k1:9092,k2:9092");
  CHECK(conf_get(conf, "enable.idempotence") == "true");
  CHECK(conf_get(conf, "acks") == "-1");  // "all"
  CHECK(conf_get(conf, "compression.codec") == "zstd");
  CHECK(conf_get(conf, "message.timeout.ms") == "0");
  CHECK(conf_get(conf, "client.id") == "trailwarden");
  rd_kafka_conf_destroy(conf);
}

TEST_CASE("kafka config: properties librdkafka refuses, or that the output owns") {
  CHECK(parse_error(kMinimal + "[outputs.properties]\n\"no.such.property\" = 1\n") ==
        kConfigFile +
            ":6:1: outputs.properties.no.such.property: unknown librdkafka property "
            "'no.such.property'");
  CHECK(parse_error(kMinimal + "[outputs.properties]\n\"linger.ms\" = \"soon\"\n")
            .rfind(kConfigFile + ":6:1: outputs.properties.linger.ms: ", 0) == 0);
  CHECK(parse_error(kMinimal + "[outputs.properties]\n\"linger.ms\" = 1.5\n")
            .find("must be a string, an integer or a boolean") != std::string::npos);
  for (const char* reserved :
       {"bootstrap.servers", "enable.idempotence", "acks", "request.required.acks",
        "compression.codec", "compression.type", "transactional.id", "metadata.broker.list"}) {
    const std::string e =
        parse_error(kMinimal + "[outputs.properties]\n\"" + reserved + "\" = \"x\"\n");
    CHECK_MESSAGE(e.find("cannot be set here") != std::string::npos, reserved, ": ", e);
  }
  CHECK(parse_error(kMinimal + "[outputs.properties]\nacks = 1\n")
            .find("idempotent producer with acks=all") != std::string::npos);
  // The user may bound librdkafka's own delivery timeout.
  CHECK(find_property(parse(kMinimal + "[outputs.properties]\n\"message.timeout.ms\" = 60000\n"),
                      "message.timeout.ms"));
}

TEST_CASE("kafka config: secret indirection from the environment and files") {
  FakeSecrets secrets;
  secrets.env["KAFKA_PASSWORD"] = "pa55-from-env";
  secrets.files["/run/secrets/kafka"] = "pa55-from-file\n";
  secrets.files["/etc/trailwarden/client.key"] = "-----BEGIN PRIVATE KEY-----\r\n";
  const KafkaOutputConfig c = parse(kMinimal + R"(
[outputs.properties]
"sasl.password" = "${KAFKA_PASSWORD}"
"ssl.key.password" = "@file:/run/secrets/kafka"
"ssl.key.pem" = "@file:client.key"
"sasl.username" = "$${NOT_EXPANDED}"
"client.id" = "@@file:literal"
"ssl.keystore.password" = "plain-but-secret"
)",
                                    secrets);
  CHECK(find_property(c, "sasl.password")->value == "pa55-from-env");
  CHECK(find_property(c, "sasl.password")->secret);
  CHECK(find_property(c, "ssl.key.password")->value == "pa55-from-file");  // newline removed
  CHECK(find_property(c, "ssl.key.password")->secret);
  // A relative path is taken from the configuration file's directory.
  CHECK(find_property(c, "ssl.key.pem")->value == "-----BEGIN PRIVATE KEY-----");
  CHECK(find_property(c, "sasl.username")->value == "${NOT_EXPANDED}");
  CHECK_FALSE(find_property(c, "sasl.username")->secret);
  CHECK(find_property(c, "client.id")->value == "@file:literal");
  CHECK(find_property(c, "ssl.keystore.password")->secret);  // by its name

  std::string error;
  rd_kafka_conf_t* conf = make_rdkafka_conf(c, error);
  REQUIRE_MESSAGE(conf, error);
  CHECK(conf_get(conf, "client.id") == "@file:literal");  // overrides the output's default
  rd_kafka_conf_destroy(conf);
}

TEST_CASE("kafka config: indirection failures name the property, never the secret") {
  FakeSecrets secrets;
  std::string e =
      parse_error(kMinimal + "[outputs.properties]\n\"sasl.password\" = \"${MISSING}\"\n", secrets);
  CHECK(e == kConfigFile +
                 ":6:1: outputs.properties.sasl.password: environment variable "
                 "MISSING is not set");
  e = parse_error(kMinimal + "[outputs.properties]\n\"sasl.password\" = \"${not valid}\"\n",
                  secrets);
  CHECK(e.find("must name an environment variable") != std::string::npos);
  e = parse_error(kMinimal + "[outputs.properties]\n\"sasl.password\" = \"@file:/nope\"\n",
                  secrets);
  CHECK(e == kConfigFile +
                 ":6:1: outputs.properties.sasl.password: cannot read /nope: no such "
                 "file");
  // A value librdkafka refuses is not echoed when it came from a secret.
  secrets.env["PROTO"] = "hunter2-is-not-a-protocol";
  e = parse_error(kMinimal + "[outputs.properties]\n\"security.protocol\" = \"${PROTO}\"\n",
                  secrets);
  CHECK_FALSE(e.empty());
  CHECK(e.find("hunter2") == std::string::npos);
}

TEST_CASE("kafka config: msk_iam") {
  FakeSecrets secrets;
  const KafkaOutputConfig c = parse(kMinimal + "msk_iam = true\n", secrets, "eu-west-1");
  CHECK(c.msk_iam);
  CHECK(c.msk_region == "eu-west-1");
  std::string error;
  rd_kafka_conf_t* conf = make_rdkafka_conf(c, error);
  REQUIRE_MESSAGE(conf, error);
  CHECK(conf_get(conf, "security.protocol") == "sasl_ssl");
  CHECK(conf_get(conf, "sasl.mechanisms") == "OAUTHBEARER");
  rd_kafka_conf_destroy(conf);

  CHECK(parse_error(kMinimal + "msk_iam = true\n", secrets, "").find("needs the AWS region") !=
        std::string::npos);
  CHECK(parse_error(kMinimal + "msk_iam = true\n", secrets, "evil.example.com/")
            .find("is not an AWS region name") != std::string::npos);
  CHECK(parse_error(kMinimal + "msk_iam = true\n[outputs.properties]\n\"sasl.mechanisms\" = "
                               "\"PLAIN\"\n",
                    secrets)
            .find("msk_iam sets the SASL mechanism") != std::string::npos);
  CHECK(parse_error(kMinimal + "msk_iam = true\n[outputs.properties]\n\"security.protocol\" = "
                               "\"SSL\"\n",
                    secrets)
            .find("msk_iam needs SASL_SSL") != std::string::npos);
  // SASL_PLAINTEXT is allowed (tests, private networks).
  CHECK(parse(kMinimal + "msk_iam = true\n[outputs.properties]\n\"security.protocol\" = "
                         "\"SASL_PLAINTEXT\"\n",
              secrets)
            .msk_iam);
  // Without msk_iam, sasl.* is the user's business.
  CHECK(parse(kMinimal + "[outputs.properties]\n\"sasl.mechanisms\" = \"PLAIN\"\n")
            .properties.size() == 1);
}

TEST_CASE("kafka message keys") {
  AlertRecord a;
  a.uid = "f1e2d3";
  a.rule_id = "cis-4.9";
  a.account = "111122223333";
  CHECK(kafka_message_key(a, KafkaKey::kAccount) == "111122223333");
  CHECK(kafka_message_key(a, KafkaKey::kRule) == "cis-4.9");
  CHECK(kafka_message_key(a, KafkaKey::kUid) == "f1e2d3");
  CHECK(kafka_message_key(a, KafkaKey::kNone).empty());
  a.account.clear();  // unknown account: null key
  CHECK(kafka_message_key(a, KafkaKey::kAccount).empty());
}

TEST_CASE("kafka delivery errors: retry, reject or fatal") {
  for (auto e :
       {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__FATAL,
        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN})
    CHECK_MESSAGE(classify_kafka_error(e) == KafkaErrorClass::kRetry, rd_kafka_err2name(e));
  for (auto e : {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD,
                 RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR__BAD_MSG})
    CHECK_MESSAGE(classify_kafka_error(e) == KafkaErrorClass::kReject, rd_kafka_err2name(e));
  for (auto e : {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                 RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__AUTHENTICATION,
                 RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
                 RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
                 RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE, RD_KAFKA_RESP_ERR__SSL})
    CHECK_MESSAGE(classify_kafka_error(e) == KafkaErrorClass::kFatal, rd_kafka_err2name(e));
}

TEST_CASE("base64url without padding (RFC 4648 test vectors)") {
  CHECK(base64url_encode("") == "");
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("foob") == "Zm9vYg");
  CHECK(base64url_encode("fooba") == "Zm9vYmE");
  CHECK(base64url_encode("foobar") == "Zm9vYmFy");
  CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");  // '+' '/' become '-' '_'
}

// Expected values were produced independently with botocore 1.43 (Python), following
// aws-msk-iam-sasl-signer-python's __construct_auth_token: an AWSRequest GET
// https://kafka.<region>.amazonaws.com/ with params {"Action": "kafka-cluster:Connect"}, signed
// by botocore.auth.SigV4QueryAuth(credentials, "kafka-cluster", region, expires=900) with
// botocore.auth.get_current_datetime patched to return 2024-03-15 12:34:56 UTC; then
// request.params = {"User-Agent": "trailwarden/test"}, url = request.prepare().url, token =
// base64.urlsafe_b64encode(url).rstrip("=").
TEST_CASE("MSK IAM token matches botocore's presigned URL (long-term credentials)") {
  const aws::Credentials c = creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  const std::string url = msk_iam_presigned_url(c, "us-east-1", fixed_time(), "trailwarden/test");
  CHECK(url ==
        "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm="
        "AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240315%2Fus-east-1%2Fkafka-cluster%2F"
        "aws4_request&X-Amz-Date=20240315T123456Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-"
        "Amz-Signature=2741a9359785627a1ac56c5be793fb6977ffe43fd19fb950150726b34d74601b&User-"
        "Agent=trailwarden%2Ftest");
  const MskIamToken t = make_msk_iam_token(c, "us-east-1", fixed_time(), "trailwarden/test");
  CHECK(t.value ==
        "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25u"
        "ZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJREVYQU1QTEUl"
        "MkYyMDI0MDMxNSUyRnVzLWVhc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0y"
        "MDI0MDMxNVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1T"
        "aWduYXR1cmU9Mjc0MWE5MzU5Nzg1NjI3YTFhYzU2YzViZTc5M2ZiNjk3N2ZmZTQzZmQxOWZiOTUwMTUwNzI2YjM0"
        "ZDc0NjAxYiZVc2VyLUFnZW50PXRyYWlsd2FyZGVuJTJGdGVzdA");
  CHECK(t.value == base64url_encode(url));
  // 2024-03-15T12:34:56Z + 900 s, in milliseconds.
  CHECK(t.expiry_ms == (int64_t{1710506096} + 900) * 1000);
}

TEST_CASE("MSK IAM token matches botocore's presigned URL (temporary credentials)") {
  const aws::Credentials c =
      creds("ASIAEXAMPLEKEYID", "secret/with+chars=", "IQoJb3JpZ2luX2VjE//token+/=");
  const MskIamToken t = make_msk_iam_token(c, "eu-west-3", fixed_time(), "trailwarden/test");
  CHECK(msk_iam_presigned_url(c, "eu-west-3", fixed_time(), "trailwarden/test") ==
        "https://kafka.eu-west-3.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm="
        "AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLEKEYID%2F20240315%2Feu-west-3%2Fkafka-cluster"
        "%2Faws4_request&X-Amz-Date=20240315T123456Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
        "X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2F%2Ftoken%2B%2F%3D&X-Amz-Signature=167109d0bfbb"
        "334bb60fba93726ccd206e9efd2458e4c0f4b95137ccfc11b358&User-Agent=trailwarden%2Ftest");
  CHECK(t.value ==
        "aHR0cHM6Ly9rYWZrYS5ldS13ZXN0LTMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25u"
        "ZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QVNJQUVYQU1QTEVL"
        "RVlJRCUyRjIwMjQwMzE1JTJGZXUtd2VzdC0zJTJGa2Fma2EtY2x1c3RlciUyRmF3czRfcmVxdWVzdCZYLUFtei1E"
        "YXRlPTIwMjQwMzE1VDEyMzQ1NlomWC1BbXotRXhwaXJlcz05MDAmWC1BbXotU2lnbmVkSGVhZGVycz1ob3N0Jlgt"
        "QW16LVNlY3VyaXR5LVRva2VuPUlRb0piM0pwWjJsdVgyVmpFJTJGJTJGdG9rZW4lMkIlMkYlM0QmWC1BbXotU2ln"
        "bmF0dXJlPTE2NzEwOWQwYmZiYjMzNGJiNjBmYmE5MzcyNmNjZDIwNmU5ZWZkMjQ1OGU0YzBmNGI5NTEzN2NjZmMx"
        "MWIzNTgmVXNlci1BZ2VudD10cmFpbHdhcmRlbiUyRnRlc3Q");
}

TEST_CASE("MSK IAM token lifetime ends with the credentials when they expire sooner") {
  aws::Credentials c = creds("ASIAEXAMPLEKEYID", "secret", "token");
  c.expiration = fixed_time() + std::chrono::minutes(5);
  const MskIamToken t = make_msk_iam_token(c, "us-east-1", fixed_time(), "ua");
  CHECK(t.expiry_ms == (int64_t{1710506096} + 300) * 1000);
  // Sub-second signing time: the token's lifetime counts from the signed (whole) second.
  const MskIamToken u = make_msk_iam_token(creds("AKID", "secret"), "us-east-1",
                                           fixed_time() + std::chrono::milliseconds(999), "ua");
  CHECK(u.expiry_ms == (int64_t{1710506096} + 900) * 1000);
}

TEST_CASE("MskIamAuth: tokens from a credentials source, failures without secrets") {
  auto source = std::make_shared<FixedCredentials>(
      creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  MskIamAuth auth(source, "us-east-1", "trailwarden/test", [] { return fixed_time(); });
  MskIamToken t;
  std::string error;
  REQUIRE(auth.make_token(t, error));
  CHECK(t.value ==
        make_msk_iam_token(creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                           "us-east-1", fixed_time(), "trailwarden/test")
            .value);
  CHECK_FALSE(auth.failing());

  auto none = std::make_shared<FixedCredentials>(std::nullopt, "no provider delivered");
  MskIamAuth failing(none, "us-east-1", "ua", [] { return fixed_time(); });
  CHECK_FALSE(failing.make_token(t, error));
  CHECK(error == "no AWS credentials for MSK IAM authentication: no provider delivered");

  aws::Credentials expired = creds("ASIAEXAMPLEKEYID", "secret-value", "session-token");
  expired.expiration = fixed_time() - std::chrono::seconds(1);
  MskIamAuth stale(std::make_shared<FixedCredentials>(expired), "us-east-1", "ua",
                   [] { return fixed_time(); });
  CHECK_FALSE(stale.make_token(t, error));
  CHECK(error.find("have expired") != std::string::npos);
  CHECK(error.find("secret-value") == std::string::npos);
  CHECK(error.find("session-token") == std::string::npos);
}

TEST_CASE("MskIamAuth: the token's lifetime for librdkafka is in system time, whatever the skew") {
  using namespace std::chrono;
  const auto to_epoch_ms = [](aws::TimePoint t) {
    return duration_cast<milliseconds>(t.time_since_epoch()).count();
  };
  for (const minutes offset : {minutes(-20), minutes(20)}) {  // system clock 20 min ahead / behind
    CAPTURE(offset.count());
    aws::Credentials c = creds("ASIAEXAMPLEKEYID", "secret-value", "session-token");
    // The credentials expire in 10 minutes of AWS's time.
    const auto aws_now = [offset] { return system_clock::now() + offset; };
    c.expiration = aws_now() + 10min;
    MskIamAuth auth(std::make_shared<FixedCredentials>(c), "us-east-1", "ua", aws_now);
    MskIamToken t;
    std::string error;
    const int64_t before = to_epoch_ms(system_clock::now());
    REQUIRE_MESSAGE(auth.make_token(t, error), error);
    const int64_t after = to_epoch_ms(system_clock::now());
    // Valid for the credentials' 10 minutes from now by the system clock, as librdkafka counts.
    CHECK(t.expiry_ms > before + 599'000);
    CHECK(t.expiry_ms <= after + 600'000);
    // Without credentials' expiry: the token's 900 s.
    c.expiration.reset();
    MskIamAuth plain(std::make_shared<FixedCredentials>(c), "us-east-1", "ua", aws_now);
    REQUIRE(plain.make_token(t, error));
    CHECK(t.expiry_ms > to_epoch_ms(system_clock::now()) + 898'000);
    CHECK(t.expiry_ms <= to_epoch_ms(system_clock::now()) + 900'000);
  }
}

TEST_CASE("MSK IAM: region names") {
  CHECK(valid_aws_region("us-east-1"));
  CHECK(valid_aws_region("cn-northwest-1"));
  CHECK(valid_aws_region("us-gov-west-1"));
  CHECK_FALSE(valid_aws_region(""));
  CHECK_FALSE(valid_aws_region("US-EAST-1"));
  CHECK_FALSE(valid_aws_region("1us"));
  CHECK_FALSE(valid_aws_region("us-east-1.evil.com"));
  CHECK_FALSE(valid_aws_region("us east"));
}
