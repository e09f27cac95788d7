// The actor of a CloudTrail record (userIdentity) as an OCSF actor object (docs/alerts.md,
// "Actor"). Stateless; thread-safe.
//
// actor.user satisfies OCSF's at_least_one(account, name, uid) or is left out: the ARN is the
// uid; the name is userName, the role session name of an assumed role, the service principal of
// an AWS service (invokedBy), or additionalEventData.UserName; the account is accountId when it
// is a 12-digit id or ANONYMOUS_PRINCIPAL (anything else is left out). A
// record without userIdentity, or whose userIdentity names nobody, has no actor.user; the actor
// itself is left out when nothing is left (evidences do not require it).
#pragma once

#include <string_view>

namespace simdjson::dom {
class element;
}

namespace trailwarden {
class JsonWriter;
}

namespace trailwarden::normalize {

// OCSF user.type_id for a userIdentity.type: Root → 2 Admin; IAMUser, AssumedRole,
// FederatedUser, IdentityCenterUser, SAMLUser, WebIdentityUser → 1 User; AWSService → 3 System;
// empty or CloudTrail's "Unknown" → 0 Unknown; any other (AWSAccount: another account's
// principal) → 99 Other (user.type carries the CloudTrail text).
struct UserType {
  int id;
  std::string_view caption;  // the enum's caption, or the CloudTrail text for 99
};
UserType user_type(std::string_view cloudtrail_type);

// What the actor says about the record, for observables and the message.
struct ActorFacts {
  std::string_view arn;         // actor.user.uid
  std::string_view name;        // actor.user.name
  std::string_view access_key;  // actor.user.credential_uid
  std::string_view account;     // actor.user.account.uid
  bool written = false;         // an actor object was written
};

// Writes "actor": {...} into the current object of `w` when there is anything to say, and
// returns what it wrote.
ActorFacts write_actor(JsonWriter& w, const simdjson::dom::element* record);

}  // namespace trailwarden::normalize
