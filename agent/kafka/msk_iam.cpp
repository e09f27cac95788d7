#include "agent/kafka/msk_iam.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>

#include "agent/http/http.h"
#include "agent/aws/sigv4.h"

namespace trailwarden {

namespace {

constexpr std::string_view kAction = "kafka-cluster:Connect";
constexpr std::string_view kPrincipal = "trailwarden";  // librdkafka wants one; never sent

int64_t to_epoch_ms(aws::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string base64url_encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(data[i])) << 16 |
                       static_cast<uint32_t>(static_cast<uint8_t>(data[i + 1])) << 8 |
                       static_cast<uint32_t>(static_cast<uint8_t>(data[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(data[i])) << 16;
    if (rest == 2) v |= static_cast<uint32_t>(static_cast<uint8_t>(data[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool valid_aws_region(std::string_view region) {
  if (region.empty() || region.size() > 64 || region[0] < 'a' || region[0] > 'z') return false;
  return std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string msk_iam_presigned_url(const aws::Credentials& credentials, std::string_view region,
                                  aws::TimePoint now, std::string_view user_agent) {
  const std::string amz_date = aws::format_amz_date(now);
  const std::string_view date = std::string_view(amz_date).substr(0, 8);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, kMskIamService);

  http::HttpRequest request;
  request.method = "GET";
  request.scheme = "https";
  request.host = fmt::format("kafka.{}.amazonaws.com", region);
  request.path = "/";
  request.headers = {{"host", request.host}};
  request.query = {
      {"Action", std::string(kAction)},
      {"X-Amz-Algorithm", std::string(aws::kSigV4Algorithm)},
      {"X-Amz-Credential", credentials.access_key_id + "/" + scope},
      {"X-Amz-Date", amz_date},
      {"X-Amz-Expires", std::to_string(kMskIamTokenLifetimeSeconds)},
      {"X-Amz-SignedHeaders", "host"},
  };
  if (!credentials.session_token.empty())
    request.query.emplace_back("X-Amz-Security-Token", credentials.session_token);

  // Query-string signing: the canonical query holds every parameter but the signature; the
  // payload is the empty body's hash (https: botocore signs the payload).
  const std::string canonical =
      aws::canonical_request(request, /*s3=*/false, aws::kEmptyPayloadSha256);
  const std::string to_sign = aws::string_to_sign(amz_date, scope, canonical);
  auto key = aws::derive_signing_key(credentials.secret_access_key, date, region, kMskIamService);
  const auto sig = aws::hmac_sha256(
      std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), to_sign);
  OPENSSL_cleanse(key.data(), key.size());

  request.query.emplace_back("X-Amz-Signature", aws::to_hex(sig.data(), sig.size()));
  request.query.emplace_back("User-Agent", std::string(user_agent));
  return request.url();
}

MskIamToken make_msk_iam_token(const aws::Credentials& credentials, std::string_view region,
                               aws::TimePoint now, std::string_view user_agent) {
  MskIamToken t;
  std::string url = msk_iam_presigned_url(credentials, region, now, user_agent);
  t.value = base64url_encode(url);
  OPENSSL_cleanse(url.data(), url.size());
  const auto signed_at = std::chrono::time_point_cast<std::chrono::seconds>(now);
  t.expiry_ms = to_epoch_ms(signed_at) + kMskIamTokenLifetimeSeconds * 1000;
  if (credentials.expiration)
    t.expiry_ms = std::min(t.expiry_ms, to_epoch_ms(*credentials.expiration));
  return t;
}

MskIamAuth::MskIamAuth(std::shared_ptr<aws::CredentialsSource> credentials, std::string region,
                       std::string user_agent, aws::Clock now)
    : credentials_(std::move(credentials)),
      region_(std::move(region)),
      user_agent_(std::move(user_agent)),
      now_(std::move(now)) {}

bool MskIamAuth::make_token(MskIamToken& out, std::string& error) {
  aws::Credentials c;
  std::string why;
  if (!credentials_->get(c, why)) {
    error = fmt::format("no AWS credentials for MSK IAM authentication: {}", why);
    return false;
  }
  // Signed with AWS's time (the signing clock), but librdkafka compares the lifetime with the
  // system clock: it gets the token's remaining validity counted from the system time.
  const aws::TimePoint now = now_();
  const aws::TimePoint system_now = std::chrono::system_clock::now();
  out = make_msk_iam_token(c, region_, now, user_agent_);
  const int64_t remaining_ms = out.expiry_ms - to_epoch_ms(now);
  out.expiry_ms = to_epoch_ms(system_now) + remaining_ms;
  if (remaining_ms <= 0) {
    error = fmt::format("the AWS credentials for MSK IAM authentication have expired ({})",
                        aws::describe(c));
    return false;
  }
  return true;
}

void MskIamAuth::refresh(rd_kafka_t* rk) {
  MskIamToken token;
  std::string error;
  bool ok = make_token(token, error);
  if (ok) {
    char errstr[512];
    const rd_kafka_resp_err_t err = rd_kafka_oauthbearer_set_token(
        rk, token.value.c_str(), token.expiry_ms, std::string(kPrincipal).c_str(), nullptr, 0,
        errstr, sizeof errstr);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ok = false;
      error = fmt::format("the MSK IAM token was refused by librdkafka: {}", errstr);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    failing_ = !ok;
    if (ok) {
      token_.swap(token.value);
      last_error_.clear();
    } else {
      last_error_ = error;
    }
  }
  OPENSSL_cleanse(token.value.data(), token.value.size());
  if (ok) {
    spdlog::debug("MSK IAM token refreshed for {} (valid until {})", region_,
                  aws::format_iso8601(aws::TimePoint(std::chrono::milliseconds(token.expiry_ms))));
  } else {
    spdlog::warn("{}", error);
    rd_kafka_oauthbearer_set_token_failure(rk, error.c_str());
  }
}

bool MskIamAuth::failing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failing_;
}

std::string MskIamAuth::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void MskIamAuth::scrub(std::string& text) const {
  std::lock_guard<std::mutex> lock(mu_);
  http::scrub_secret(text, token_);
}

}  // namespace trailwarden
