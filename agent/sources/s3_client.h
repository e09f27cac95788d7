// S3Client: the ObjectStore of S3, GetObject signed with SigV4 into a bounded buffer.
// Virtual-hosted addressing against AWS; path-style when an endpoint URL is configured
// (emulators, some VPC endpoints) or the bucket name has dots. A 301 that names the bucket's
// region is followed once with that region. Optional x-amz-expected-bucket-owner.
// Thread-safe if the HttpClient and CredentialsSource are.
#pragma once

#include <memory>
#include <string>

#include "agent/aws/credentials.h"
#include "agent/aws/http.h"
#include "agent/sources/queue.h"

namespace trailwarden {

struct S3ClientOptions {
  std::string region;                 // default region (a notification's own region wins)
  std::string endpoint_url;           // optional: path-style requests go there
  std::string expected_bucket_owner;  // optional account id: S3 refuses other owners (403)
  std::chrono::milliseconds timeout{60000};
};

class S3Client : public ObjectStore {
 public:
  S3Client(S3ClientOptions options, std::shared_ptr<aws::HttpClient> http,
           std::shared_ptr<aws::CredentialsSource> credentials);

  RemoteStatus get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                   const std::atomic<bool>* cancel = nullptr) override;

  // The request get() sends (unsigned), for tests.
  aws::HttpRequest build_request(const ObjectRef& object, const std::string& region) const;

 private:
  S3ClientOptions options_;
  std::shared_ptr<aws::HttpClient> http_;
  std::shared_ptr<aws::CredentialsSource> credentials_;
};

}  // namespace trailwarden
