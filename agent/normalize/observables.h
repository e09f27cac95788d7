// The finding's observables[]: the values analysts pivot on, each with the OCSF 1.4 observable
// type of the attribute it was copied from and `name` = that attribute's path in the finding
// ("evidences[0].src_endpoint.ip", "resources[1].uid"). Bounded: at most kMaxObservables;
// empty values are not added, nor a second observable with the same name. Not thread-safe
// (one per finding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {
class JsonWriter;
}

namespace trailwarden::normalize {

// Observable type ids of OCSF 1.4.0 (dictionary types, attributes and objects marked
// "observable"), with the captions the schema's type_id enum gives them.
enum class ObservableType {
  kIpAddress = 2,       // "IP Address" (ip_t)
  kUserName = 4,        // "User Name" (username_t)
  kResourceUid = 10,    // "Resource UID" (resource_uid_t)
  kUserAgent = 16,      // "HTTP User-Agent" (user_agent)
  kCredentialUid = 19,  // "User Credential ID" (credential_uid)
  kUserUid = 31,        // "User Object: uid"
  kAccountUid = 35,     // "Account Object: uid"
  kResourceName = 38,   // "Resource Details Object: name"
  kOther = 99,          // "Other"
};

std::string_view observable_caption(ObservableType type);

inline constexpr size_t kMaxObservables = 40;

class Observables {
 public:
  void add(std::string name, ObservableType type, std::string_view value);
  bool empty() const { return items_.empty(); }
  // Writes "observables": [...] into the current object of `w` (nothing when empty).
  void write(JsonWriter& w) const;

 private:
  struct Item {
    std::string name;
    ObservableType type;
    std::string value;
  };
  std::vector<Item> items_;
};

}  // namespace trailwarden::normalize
