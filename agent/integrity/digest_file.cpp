#include "agent/integrity/digest_file.h"

#include <chrono>

#include <simdjson.h>

#include "agent/aws/time_util.h"
#include "agent/http/http.h"

namespace trailwarden::integrity {
namespace {

using simdjson::dom::element;

struct Reader {
  const DigestLimits& limits;
  std::string& error;

  bool fail(std::string_view field, std::string_view why) {
    error = std::string(field) + ": " + std::string(why);
    return false;
  }
  // A string field that must be present; `null_ok`: null reads as "".
  bool text(element obj, std::string_view field, std::string& out, bool null_ok = false) {
    element e;
    if (obj[field].get(e) != simdjson::SUCCESS) return fail(field, "missing");
    if (e.is_null() && null_ok) {
      out.clear();
      return true;
    }
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) return fail(field, "not a string");
    if (s.size() > limits.max_field_bytes) return fail(field, "too long");
    out.assign(s);
    return true;
  }
  bool time(element obj, std::string_view field, int64_t& out, std::string* as_written = nullptr) {
    std::string s;
    if (!text(obj, field, s)) return false;
    aws::TimePoint t;
    if (!aws::parse_iso8601(s, t)) return fail(field, "not an ISO 8601 time");
    out = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    if (as_written) *as_written = std::move(s);
    return true;
  }
  // `lower`: lowercased (hashes compared with ours); else kept as written (a previous signature
  // is signed as CloudTrail wrote it).
  bool hex(element obj, std::string_view field, std::string& out, size_t size, bool null_ok,
           bool lower = true) {
    if (!text(obj, field, out, null_ok)) return false;
    if (out.empty() && null_ok) return true;
    if (!is_hex(out, size)) return fail(field, "not hex");
    if (lower) out = http::ascii_lower(out);
    return true;
  }
};

}  // namespace

bool is_hex(std::string_view s, size_t size) {
  if (size == 0 ? (s.empty() || s.size() % 2 != 0) : s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

bool parse_digest(std::string_view json, DigestFile& out, std::string& error,
                  const DigestLimits& limits) {
  out = {};
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    error = "not JSON";
    return false;
  }
  if (!root.is_object()) {
    error = "not a JSON object";
    return false;
  }
  Reader r{limits, error};
  if (!r.text(root, "awsAccountId", out.account) || !r.time(root, "digestStartTime", out.start) ||
      !r.time(root, "digestEndTime", out.end, &out.end_text) ||
      !r.text(root, "digestS3Bucket", out.bucket) || !r.text(root, "digestS3Object", out.key) ||
      !r.hex(root, "digestPublicKeyFingerprint", out.fingerprint, 0, false) ||
      !r.text(root, "digestSignatureAlgorithm", out.signature_algorithm) ||
      !r.text(root, "previousDigestS3Bucket", out.previous_bucket, true) ||
      !r.text(root, "previousDigestS3Object", out.previous_key, true) ||
      !r.hex(root, "previousDigestHashValue", out.previous_hash, 64, true) ||
      !r.text(root, "previousDigestHashAlgorithm", out.previous_hash_algorithm, true) ||
      !r.hex(root, "previousDigestSignature", out.previous_signature, 0, true, false))
    return false;
  simdjson::dom::array files;
  if (root["logFiles"].get_array().get(files) != simdjson::SUCCESS)
    return r.fail("logFiles", "missing or not an array");
  if (files.size() > limits.max_log_files) return r.fail("logFiles", "too many entries");
  out.log_files.reserve(files.size());
  size_t i = 0;
  for (element f : files) {
    const std::string where = "logFiles[" + std::to_string(i++) + "].";
    if (!f.is_object()) return r.fail(where.substr(0, where.size() - 1), "not an object");
    DigestLogFile lf;
    std::string e2;
    Reader fr{limits, e2};
    if (!fr.text(f, "s3Bucket", lf.bucket) || !fr.text(f, "s3Object", lf.key) ||
        !fr.hex(f, "hashValue", lf.hash, 64, false) ||
        !fr.text(f, "hashAlgorithm", lf.hash_algorithm)) {
      error = where + e2;
      return false;
    }
    out.log_files.push_back(std::move(lf));
  }
  return true;
}

}  // namespace trailwarden::integrity
