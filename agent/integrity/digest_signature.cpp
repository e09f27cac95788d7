#include "agent/integrity/digest_signature.h"

#include <new>
#include <vector>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "agent/aws/sigv4.h"

namespace trailwarden::integrity {
namespace {

std::string digest_hex(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return {};
  return aws::to_hex(out, len);
}

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unhex(std::string_view s, std::vector<unsigned char>& out) {
  if (s.empty() || s.size() % 2 != 0) return false;
  out.resize(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

std::string digest_signing_string(const DigestFile& digest, std::string_view bucket,
                                  std::string_view key, std::string_view inflated) {
  std::string s = digest.end_text;
  s.push_back('\n');
  s.append(bucket).push_back('/');
  s.append(key).push_back('\n');
  s.append(aws::sha256_hex(inflated)).push_back('\n');
  s.append(digest.previous_signature.empty() ? std::string_view("null")
                                              : std::string_view(digest.previous_signature));
  return s;
}

std::string md5_hex(std::string_view data) { return digest_hex(EVP_md5(), data); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
std::string Sha256::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, out, &len);
  return aws::to_hex(out, len);
}

std::shared_ptr<const PublicKey> PublicKey::from_der(std::string_view der, std::string& error) {
  if (der.empty() || der.size() > 16384) {
    error = "public key: empty or too large";
    return nullptr;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  // SPKI first, then PKCS#1 RSAPublicKey (CloudTrail documents PKCS#1; its own samples hold both).
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (pkey && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    EVP_PKEY_free(pkey);
    pkey = nullptr;
  }
  if (!pkey) {
    p = reinterpret_cast<const unsigned char*>(der.data());
    pkey = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size()));
    if (pkey && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
      EVP_PKEY_free(pkey);
      pkey = nullptr;
    }
  }
  if (!pkey) {
    error = "public key: not an RSA public key in PKCS#1 or SubjectPublicKeyInfo DER";
    return nullptr;
  }
  if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
    EVP_PKEY_free(pkey);
    error = "public key: not an RSA key";
    return nullptr;
  }
  if (EVP_PKEY_bits(pkey) < 2048) {
    EVP_PKEY_free(pkey);
    error = "public key: RSA key shorter than 2048 bits";
    return nullptr;
  }
  std::shared_ptr<PublicKey> key(new PublicKey());
  key->key_ = pkey;
  key->fingerprint_ = md5_hex(der);
  return key;
}

PublicKey::~PublicKey() { EVP_PKEY_free(key_); }

bool PublicKey::verify(std::string_view message, std::string_view signature_hex) const {
  std::vector<unsigned char> sig;
  if (!unhex(signature_hex, sig)) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key_) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_DigestVerify(ctx, sig.data(), sig.size(),
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace trailwarden::integrity
