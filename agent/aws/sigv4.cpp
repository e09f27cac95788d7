#include "agent/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace trailwarden::aws {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_unsigned_header(std::string_view lower_name) {
  return std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), lower_name) !=
         kUnsignedHeaders.end();
}

}  // namespace

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-256 with a valid output buffer short of memory exhaustion,
  // in which case continuing would sign garbage: abort.
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1 ||
      len != SHA256_DIGEST_LENGTH) {
    std::abort();
  }
  return to_hex(digest, sizeof digest);
}

std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

std::array<uint8_t, 32> derive_signing_key(std::string_view secret_access_key,
                                           std::string_view date, std::string_view region,
                                           std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret += secret_access_key;
  auto as_view = [](const std::array<uint8_t, 32>& a) {
    return std::string_view(reinterpret_cast<const char*>(a.data()), a.size());
  };
  const auto k_date = hmac_sha256(k_secret, date);
  // Wipe the copy of the secret; the compiler may not elide a call through OPENSSL_cleanse.
  OPENSSL_cleanse(k_secret.data(), k_secret.size());
  const auto k_region = hmac_sha256(as_view(k_date), region);
  const auto k_service = hmac_sha256(as_view(k_region), service);
  return hmac_sha256(as_view(k_service), "aws4_request");
}

std::string normalize_path(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view seg = path.substr(start, slash - start);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    start = slash + 1;
  }
  std::string result;
  if (path.front() == '/') result += '/';
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) result += '/';
    result += out[i];
  }
  if (path.back() == '/' && !out.empty()) result += '/';
  if (result.empty()) result = "/";
  return result;
}

std::string canonical_uri(std::string_view wire_path, bool s3) {
  if (wire_path.empty()) return "/";
  if (s3) return std::string(wire_path);
  return uri_encode(normalize_path(wire_path), /*keep_slash=*/true);
}

std::string canonical_query_string(const QueryList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(uri_encode(k), uri_encode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string canonical_header_value(std::string_view value) {
  value = trim(value);
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : value) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out += ' ';
    in_space = false;
    out += c;
  }
  return out;
}

void canonical_headers(const HeaderList& headers, std::string& block, std::string& signed_list) {
  std::vector<std::pair<std::string, std::string_view>> lowered;  // (name, raw value)
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    std::string lower = ascii_lower(trim(name));
    if (lower.empty() || is_unsigned_header(lower)) continue;
    lowered.emplace_back(std::move(lower), value);
  }
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  block.clear();
  signed_list.clear();
  for (size_t i = 0; i < lowered.size(); ++i) {
    const bool same_as_previous = i > 0 && lowered[i].first == lowered[i - 1].first;
    if (same_as_previous) {
      block += ',';
    } else {
      if (i > 0) block += '\n';
      if (!signed_list.empty()) signed_list += ';';
      signed_list += lowered[i].first;
      block += lowered[i].first;
      block += ':';
    }
    block += canonical_header_value(lowered[i].second);
  }
  if (!lowered.empty()) block += '\n';
}

std::string canonical_request(const HttpRequest& request, bool s3, std::string_view payload_hash,
                              std::string* signed_headers) {
  std::string block, signed_list;
  canonical_headers(request.headers, block, signed_list);
  std::string out;
  out.reserve(256 + block.size());
  out += request.method;
  out += '\n';
  out += canonical_uri(request.path, s3);
  out += '\n';
  out += canonical_query_string(request.query);
  out += '\n';
  out += block;
  out += '\n';
  out += signed_list;
  out += '\n';
  out += payload_hash;
  if (signed_headers) *signed_headers = std::move(signed_list);
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string out(kSigV4Algorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += sha256_hex(canonical_request);
  return out;
}

void sign_v4(HttpRequest& request, const Credentials& credentials, std::string_view region,
             std::string_view service, TimePoint now, const SigningOptions& options,
             SigningDetails* details) {
  const bool s3 = options.s3.value_or(service == "s3");
  const std::string amz_date = format_amz_date(now);
  const std::string_view date = std::string_view(amz_date).substr(0, 8);

  request.remove_header("authorization");
  request.set_header("host", request.host);
  request.set_header("x-amz-date", amz_date);
  const bool has_token = !credentials.session_token.empty();
  if (has_token) {
    if (options.sign_security_token) {
      request.set_header("x-amz-security-token", credentials.session_token);
    } else {
      request.remove_header("x-amz-security-token");
    }
  }
  std::string payload_hash;
  if (options.unsigned_payload) {
    payload_hash = kUnsignedPayload;
  } else if (options.payload_sha256) {
    payload_hash = *options.payload_sha256;
  } else {
    payload_hash = sha256_hex(request.body);
  }
  if (s3 || options.unsigned_payload || options.content_sha256_header) {
    request.set_header("x-amz-content-sha256", payload_hash);
  }

  SigningDetails local;
  SigningDetails& d = details ? *details : local;
  d.canonical_request = canonical_request(request, s3, payload_hash, &d.signed_headers);
  d.credential_scope = std::string(date);
  d.credential_scope += '/';
  d.credential_scope += region;
  d.credential_scope += '/';
  d.credential_scope += service;
  d.credential_scope += "/aws4_request";
  d.string_to_sign = string_to_sign(amz_date, d.credential_scope, d.canonical_request);
  auto key = derive_signing_key(credentials.secret_access_key, date, region, service);
  const auto sig = hmac_sha256(
      std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), d.string_to_sign);
  OPENSSL_cleanse(key.data(), key.size());
  d.signature = to_hex(sig.data(), sig.size());
  d.authorization = std::string(kSigV4Algorithm);
  d.authorization += " Credential=";
  d.authorization += credentials.access_key_id;
  d.authorization += '/';
  d.authorization += d.credential_scope;
  d.authorization += ", SignedHeaders=";
  d.authorization += d.signed_headers;
  d.authorization += ", Signature=";
  d.authorization += d.signature;
  request.set_header("authorization", d.authorization);
  if (has_token && !options.sign_security_token) {
    request.set_header("x-amz-security-token", credentials.session_token);
  }
}

}  // namespace trailwarden::aws
