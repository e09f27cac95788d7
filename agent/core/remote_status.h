// RemoteStatus: the outcome of a call to a remote service (SQS, S3, STS ...), classified for the
// caller's retry decision. A plain value shared by every layer that talks to a remote peer.
#pragma once

#include <string>

namespace trailwarden {

// The outcome of a remote call, classified for the caller's retry decision.
struct RemoteStatus {
  enum class Code {
    kOk,
    kRetry,         // throttling, 5xx, timeouts, connection errors: try again later
    kNotFound,      // the object or queue does not exist
    kAccessDenied,  // credentials lack permission (or the bucket owner check failed)
    kTooLarge,      // the object is larger than allowed
    kFatal,         // anything else that retrying cannot fix (bad request, bad credentials)
  };
  Code code = Code::kOk;
  std::string message;  // what failed and why; never contains secrets
  bool ok() const { return code == Code::kOk; }
  static RemoteStatus Ok() { return {}; }
};

}  // namespace trailwarden
