// S3Client: the ObjectStore of S3, GetObject signed with SigV4 into a bounded buffer.
//
// Where requests go is decided by configuration, never by a message: the host is the S3 host of
// the region, partition and variant (agent/aws/endpoints.h: s3.<region>.<partition suffix>,
// s3-fips.<region>..., s3.dualstack.<region>..., s3-fips.dualstack.<region>...), virtual-hosted
// (<bucket>.<host>) or path-style (<host>/<bucket>, for bucket names that cannot be a DNS label:
// dots, capitals, underscores), or the configured endpoint URL (path-style; emulators, VPC
// endpoints). <region> is the configured region until
// S3 itself answers that a bucket lives elsewhere (301 PermanentRedirect, 400
// AuthorizationHeaderMalformed, or 400 IllegalLocationConstraintException from a bucket in an
// opt-in region, with x-amz-bucket-region): that region, if it is a valid region
// name of the same partition, is used and remembered for the bucket (bounded cache), so later
// objects cost no redirect. Bucket names are validated (S3 naming rules) before they reach a
// host name or path. Optional x-amz-expected-bucket-owner.
//
// Versioned buckets: a notification's versionId is asked for (GetObject with versionId, which
// IAM checks as s3:GetObjectVersion). If S3 refuses that with 403 AccessDenied, the object is
// read once more without versionId (s3:GetObject): a WARN once per bucket says to grant
// s3:GetObjectVersion. That re-read sends If-Match with the notified ETag (if notified); a 412
// PreconditionFailed, or a version S3 returns (x-amz-version-id) that is not the notified one,
// or none, means the key was overwritten since: ERROR naming both versions, counted
// (version_mismatches), and the object fails (kFatal; never processed). Any read with
// ObjectRef::verify_identity (the daemon's alternate reading of an EventBridge key) is checked
// the same way: If-Match the notified ETag, else the notified size (docs/aws.md, "IAM
// permissions").
//
// Clock skew: requests are signed with aws::SigningClock::global(); a clock-skew error
// corrects it from the response and the request is signed again and sent at once.
// Thread-safe if the HttpClient and CredentialsSource are.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "agent/aws/credentials.h"
#include "agent/aws/endpoints.h"
#include "agent/http/http.h"
#include "agent/sources/queue.h"

namespace trailwarden {

struct S3ClientOptions {
  std::string region;                 // the agent's region: the partition, and every bucket's
                                      // region until S3 redirects
  std::string endpoint_url;           // optional: path-style requests go there
  aws::EndpointVariant variant;       // FIPS / dual-stack S3 hosts (not with endpoint_url)
  std::string expected_bucket_owner;  // optional account id: S3 refuses other owners (403)
  std::chrono::milliseconds timeout{60000};
  size_t region_cache_size = 4096;    // buckets whose region S3 named, remembered at most
};

// What get() did beyond plain reads, for the metrics. Monotonic counters.
struct S3ClientStats {
  // Objects read without their notified versionId because S3 denied the versioned GET.
  std::atomic<uint64_t> version_fallbacks{0};
  // ... of which S3 returned another version than notified (the key was overwritten): refused.
  std::atomic<uint64_t> version_mismatches{0};
};

class S3Client : public ObjectStore {
 public:
  // Throws std::runtime_error if endpoint_url is malformed or combined with a variant, or if
  // there is none and `region` is not a valid AWS region name or S3 does not offer the variant
  // in its partition (FIPS in aws-cn).
  S3Client(S3ClientOptions options, std::shared_ptr<http::HttpClient> http,
           std::shared_ptr<aws::CredentialsSource> credentials);

  RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                   const std::atomic<bool>* cancel = nullptr) override;

  // The request get() sends (unsigned) for `object` in `region`. False with `error` if the
  // bucket name is not a valid S3 bucket name (nothing is built).
  bool build_request(const ObjectRef& object, const std::string& region, http::HttpRequest& out,
                     std::string& error) const;

  // The region get() addresses `bucket` in: the one S3 named for it, else the configured one.
  std::string region_for(const std::string& bucket) const;

  const S3ClientStats& stats() const { return stats_; }

 private:
  void remember_region(const std::string& bucket, const std::string& region);
  // True the first time `bucket` is seen denying a versioned GET (bounded memory).
  bool first_version_denial(const std::string& bucket);
  // The unversioned re-read of `o` found another version than notified (`got`): ERROR, counted,
  // a failure (the message stays queued, then goes to the DLQ).
  RemoteStatus overwritten(const ObjectRef& o, const std::string& got);
  // A read of `o` with verify_identity found another object there (`detail`): ERROR, a failure.
  RemoteStatus not_notified(const ObjectRef& o, const std::string& detail);

  S3ClientOptions options_;
  std::shared_ptr<http::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
  mutable std::mutex regions_mu_;
  std::unordered_map<std::string, std::string> bucket_regions_;  // learned from redirects
  std::deque<std::string> region_order_;                         // oldest first, for eviction
  std::unordered_set<std::string> version_denied_;               // buckets warned about
  S3ClientStats stats_;
};

}  // namespace trailwarden
