// libFuzzer target: what the integrity checks read from S3 and CloudTrail (agent/integrity/).
// The first byte picks the part; the rest is its input. None may crash or hang, and:
//   0  parse_digest_key: an accepted key has a 12-digit account, region names, and its end
//      time formats back to the timestamp in its name.
//   1  parse_digest: an accepted digest's hashes are 64 lowercase hex digits, its fields within
//      the bounds, a starting digest has no previous signature to chain.
//   2  PublicKey::from_der: an accepted key is RSA >= 2048 bits; verify() of anything is false
//      (no one holds the private half of a fuzzed key... except by chance: only no crash).
//   3  TrailVerifier over a bucket holding the input as a digest (gzip'd, with and without a
//      signature in its metadata): it is never valid — no input is signed by the published key
//      (its private half is not in this process) — and every log file it names is either not
//      verified or, for an invalid digest, never read.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "agent/aws/base64.h"
#include "agent/aws/names.h"
#include "agent/integrity/digest_file.h"
#include "agent/integrity/digest_key.h"
#include "agent/integrity/digest_signature.h"
#include "agent/integrity/public_key_cache.h"
#include "agent/integrity/trail_verifier.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

namespace {

std::string gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A real 2048-bit RSA public key (PKCS#1 DER, MD5 538105282df74b41d251509f300f82fe) whose
// private half was thrown away: no input can carry a signature it verifies.
const char kKeyB64[] =
    "MIIBCgKCAQEAlzDb2fy1OahkBYr3/gXtW8G6pgMpiWRATwf236askwZXTiO17nBWK6Kg4SFOjaenMhTsJBUHZKA0"
    "z8cx3tTb/PupNCaYffsS9Yh/dX4kuGrqAc5t4Ac442R1rthpNdHVPSkBPpdYKo6floPBJSDqi8j2TxPffcrF2CTs"
    "lVuTiu0Ufx1C1z3M7+3F3823OmDw+BOXXCszid6uFe9tgiFCdxGT1ImKI2qH0ix9Octxxhc0la9KMBnNwEr5/eN2"
    "YVygUEGCav+lveiqryLvhmq7/Vx1yFOI22m3QEw7ZLv9gC2F0Ejd49A5DG7l0NyWCPX0Qt/uSAJZSH6nugnmaGn6"
    "oQIDAQAB";

class Bucket : public ObjectStore, public ObjectLister, public PublicKeyDirectory {
 public:
  std::map<std::string, std::string> objects;
  std::map<std::string, ObjectMetadata> meta;
  size_t log_reads = 0;
  std::string digest_key;
  RemoteStatus get(const ObjectRef& o, size_t max, Buffer& out, const std::atomic<bool>*) override {
    if (o.key != digest_key) ++log_reads;
    auto it = objects.find(o.key);
    if (it == objects.end()) return {RemoteStatus::Code::kNotFound, "404"};
    if (it->second.size() > max) return {RemoteStatus::Code::kTooLarge, "large"};
    out.assign(it->second);
    return {};
  }
  RemoteStatus get_with_metadata(const ObjectRef& o, size_t max, Buffer& out, ObjectMetadata& m,
                                 const std::atomic<bool>* c) override {
    m = meta[o.key];
    return get(o, max, out, c);
  }
  RemoteStatus list(const std::string&, const std::string& prefix, const std::string& after,
                    const std::string&, size_t, ObjectPage& out, const std::atomic<bool>*) override {
    out = {};
    for (const auto& [k, v] : objects)
      if (k.compare(0, prefix.size(), prefix) == 0 && k > after) out.objects.push_back({k, v.size(), ""});
    return {};
  }
  RemoteStatus list_public_keys(const std::string&, int64_t, int64_t, std::vector<TrailPublicKey>& out,
                                const std::atomic<bool>*) override {
    out.clear();
    TrailPublicKey k;
    aws::base64_decode(kKeyB64, k.der);
    k.valid_from = 0;
    k.valid_until = int64_t{1} << 40;
    k.fingerprint = "538105282df74b41d251509f300f82fe";
    out.push_back(std::move(k));
    return {};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string error;
  switch (data[0] % 4) {
    case 0: {
      DigestKey k;
      if (parse_digest_key(in, k, error)) {
        if (k.account.size() != 12 || !aws::is_valid_region(k.source_region) ||
            !aws::is_valid_region(k.home_region) || k.trail.empty())
          std::abort();
        const std::string t = format_utc(k.end);
        const std::string stamp = t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + "T" +
                                  t.substr(11, 2) + t.substr(14, 2) + t.substr(17, 2) + "Z";
        if (in.find(stamp) == std::string_view::npos) std::abort();
      }
      break;
    }
    case 1: {
      DigestFile d;
      DigestLimits limits;
      limits.max_log_files = 64;
      if (parse_digest(in, d, error, limits)) {
        auto lower_hex = [](const std::string& s, size_t n) {
          if (s.size() != n) return false;
          for (char c : s)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
          return true;
        };
        if (d.log_files.size() > 64) std::abort();
        for (const DigestLogFile& f : d.log_files)
          if (!lower_hex(f.hash, 64) || f.key.size() > limits.max_field_bytes) std::abort();
        if (!d.previous_hash.empty() && !lower_hex(d.previous_hash, 64)) std::abort();
        if (d.starting() && !d.previous_key.empty() && !d.previous_signature.empty()) std::abort();
      }
      break;
    }
    case 2: {
      auto key = PublicKey::from_der(in, error);
      if (key) {
        if (key->fingerprint() != md5_hex(in)) std::abort();
        (void)key->verify(in, "00");
      }
      break;
    }
    case 3: {
      Bucket b;
      const std::string dk =
          "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/"
          "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261120T010031Z.json.gz";
      b.digest_key = dk;
      b.objects[dk] = gzip(in);
      if (in.size() > 1) b.meta[dk].user.push_back({"signature", std::string(in.substr(0, 512))});
      PublicKeyCache keys(b);
      TrailVerifier v(b, b, keys);
      VerifyOptions o;
      o.bucket = "trail-bucket";
      o.signatures_from_successor = (in.size() & 1) != 0;  // a local copy's rules too
      o.account = "111122223333";
      o.regions = {"us-east-1"};
      o.start = 1795132800;  // 2026-11-20T00:00:00Z
      o.end = o.start + 7200;
      o.now = o.end;
      VerifyReport r = v.verify(o);
      if (r.digests_valid != 0 || r.logs_valid != 0 || b.log_reads != 0) std::abort();
      break;
    }
  }
  return 0;
}
