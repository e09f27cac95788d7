// FilePublicKeys: CloudTrail public keys from a JSON file instead of ListPublicKeys, for
// `trailwarden verify --public-keys FILE` on a host without CloudTrail access. The file is what
// `aws cloudtrail list-public-keys --region R --start-time ... --end-time ...` prints
// ({"PublicKeyList": [...]}: every key for every region asked), or an object of those lists by
// region ({"us-east-1": [...], ...}: each key only for its region). Values are base64 DER;
// times epoch seconds or ISO 8601. Read once at start-up; thread-safe afterwards.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/sources/queue.h"

namespace trailwarden::integrity {

class FilePublicKeys : public PublicKeyDirectory {
 public:
  // false with `error` naming the entry if the file cannot be read or an entry is malformed.
  bool load(const std::string& path, std::string& error);

  RemoteStatus list_public_keys(const std::string& region, int64_t start, int64_t end,
                                std::vector<TrailPublicKey>& out,
                                const std::atomic<bool>* cancel = nullptr) override;

 private:
  std::vector<TrailPublicKey> any_region_;
  std::map<std::string, std::vector<TrailPublicKey>> by_region_;
};

}  // namespace trailwarden::integrity
