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
// Metadata (get_with_metadata, for digest files: their signature is x-amz-meta-signature): the
// same read as get(), plus every x-amz-meta-* header (name lower-cased, prefix removed), the
// ETag without quotes and x-amz-version-id. Bounded: more than 64 user entries or 8 KiB of
// names and values together (S3 itself allows 2 KiB), an empty or repeated name, is refused
// (kFatal, naming the object), never truncated.
//
// Listing (ObjectLister, ListObjectsV2: s3:ListBucket in IAM): GET ?list-type=2 with prefix,
// start-after, continuation-token, max-keys (1..1000) and encoding-type=url, addressed, signed
// and redirected exactly as GetObject (one builder, one request loop; a region learned from a
// listing serves the reads too). Keys come back URL-encoded (+ is a space) and are decoded. The
// page is checked, not trusted: at most 8 MiB, at most max_keys keys, each with Key, Size and
// ETag, keys under the prefix, after start_after and ascending (S3's UTF-8 binary order), a
// truncated page with a new continuation token. 403 AccessDenied is kAccessDenied naming
// s3:ListBucket on the bucket; NoSuchBucket kNotFound.
//
// Clock skew: requests are signed with aws::SigningClock::global(); a clock-skew error
// corrects it from the response and the request is signed again and sent at once.
// Thread-safe if the HttpClient and CredentialsSource are.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
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

// Bounds of what S3 may send beside an object and in a listing page.
inline constexpr size_t kMaxUserMetadataEntries = 64;
inline constexpr size_t kMaxUserMetadataBytes = 8 << 10;  // names and values together
inline constexpr size_t kMaxListPageBytes = 8 << 20;
inline constexpr size_t kMaxListKeys = 1000;

// ObjectMetadata from GetObject response headers (lower-case names, as HttpResponse has them).
// false with `error` when the user metadata is over the bounds above or has an empty or
// repeated name.
bool parse_object_metadata(const http::HeaderList& headers, ObjectMetadata& out,
                           std::string& error);

// One ListObjectsV2 page (the XML body): keys URL-decoded when the page says
// EncodingType url. false with `error` when it is not a ListBucketResult, a Contents lacks or
// repeats Key, Size or ETag, a size is not a number, a key is malformed or empty, IsTruncated
// is not true/false, or a truncated page has no NextContinuationToken.
bool parse_list_objects_v2(std::string_view xml, ObjectPage& out, std::string& error);

class S3Client : public ObjectStore, public ObjectLister {
 public:
  // Throws std::runtime_error if endpoint_url is malformed or combined with a variant, or if
  // there is none and `region` is not a valid AWS region name or S3 does not offer the variant
  // in its partition (FIPS in aws-cn).
  S3Client(S3ClientOptions options, std::shared_ptr<http::HttpClient> http,
           std::shared_ptr<aws::CredentialsSource> credentials);

  RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                   const std::atomic<bool>* cancel = nullptr) override;
  RemoteStatus get_with_metadata(const ObjectRef& object, size_t max_bytes, Buffer& out,
                                 ObjectMetadata& metadata,
                                 const std::atomic<bool>* cancel = nullptr) override;
  RemoteStatus list(const std::string& bucket, const std::string& prefix,
                    const std::string& start_after, const std::string& token, size_t max_keys,
                    ObjectPage& out, const std::atomic<bool>* cancel = nullptr) override;

  // The request get() sends (unsigned) for `object` in `region`. False with `error` if the
  // bucket name is not a valid S3 bucket name (nothing is built).
  bool build_request(const ObjectRef& object, const std::string& region, http::HttpRequest& out,
                     std::string& error) const;
  // The ListObjectsV2 request list() sends (unsigned), addressed as build_request() addresses
  // the bucket.
  bool build_list_request(const std::string& bucket, const std::string& prefix,
                          const std::string& start_after, const std::string& token,
                          size_t max_keys, const std::string& region, http::HttpRequest& out,
                          std::string& error) const;

  // The region get() addresses `bucket` in: the one S3 named for it, else the configured one.
  std::string region_for(const std::string& bucket) const;

  const S3ClientStats& stats() const { return stats_; }

 private:
  // Where requests for `bucket` go in `region`: scheme, host and the path up to the bucket
  // ("" virtual-hosted, "/<bucket>" path-style; with the endpoint URL's base path), method GET,
  // x-amz-expected-bucket-owner. False with `error` for an invalid bucket or region.
  bool address(const std::string& bucket, const std::string& region, http::HttpRequest& req,
               std::string& error) const;
  // The request loop every S3 call shares: builds the request for the region in use
  // (`build`), signs and sends it; follows the region redirects (remembered for `bucket`),
  // refreshes an expired token once, corrects the signing clock once. An error answer none
  // of those takes is offered to `again` (may be empty), which may change what `build` builds
  // and return true to send once more. Returns not-ok for what the loop decides itself
  // (nothing built, no credentials, no answer, a redirect not followed, still skewed);
  // otherwise ok, with the last answer in `r` and its error code in `code` for the caller.
  using BuildFn =
      std::function<bool(const std::string& region, http::HttpRequest& req, std::string& error)>;
  using AgainFn = std::function<bool(const http::HttpResponse& r, const std::string& code)>;
  RemoteStatus exchange(const std::string& bucket, const BuildFn& build, const AgainFn& again,
                        const std::atomic<bool>* cancel, http::HttpResponse& r,
                        std::string& code);
  RemoteStatus fetch(const ObjectRef& object, size_t max_bytes, Buffer& out,
                     ObjectMetadata* metadata, const std::atomic<bool>* cancel);
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
