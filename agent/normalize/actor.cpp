#include "agent/normalize/actor.h"

#include <simdjson.h>

#include "agent/aws/names.h"
#include "agent/common/json_writer.h"
#include "agent/normalize/event_time.h"
#include "agent/normalize/formats.h"
#include "agent/normalize/record_access.h"

namespace trailwarden::normalize {

namespace dom = simdjson::dom;

namespace {

void opt(JsonWriter& w, std::string_view key, std::string_view value) {
  if (!value.empty()) w.field(key, value);
}

// The role session name of "arn:<p>:sts::<account>:assumed-role/<role>/<session>".
std::string_view session_name(std::string_view arn) {
  Arn a;
  if (!parse_arn(arn, a) || a.service != "sts" || !a.resource.starts_with("assumed-role/"))
    return {};
  const size_t slash = a.resource.rfind('/');
  if (slash == std::string_view::npos || slash < 13) return {};
  return a.resource.substr(slash + 1);
}

}  // namespace

UserType user_type(std::string_view t) {
  if (t.empty() || t == "Unknown") return {0, "Unknown"};
  if (t == "Root") return {2, "Admin"};
  if (t == "IAMUser" || t == "AssumedRole" || t == "FederatedUser" || t == "IdentityCenterUser" ||
      t == "SAMLUser" || t == "WebIdentityUser")
    return {1, "User"};
  // AWSAccount is a principal of another account, not the system: OCSF has no such type.
  if (t == "AWSService") return {3, "System"};
  return {99, t};
}

ActorFacts write_actor(JsonWriter& w, const dom::element* r) {
  ActorFacts f;
  dom::element identity;
  const bool has_identity = r && lookup(*r, {"userIdentity"}, identity) && identity.is_object();
  const dom::element* u = has_identity ? &identity : nullptr;
  const std::string_view type = str(u, {"type"});
  const std::string_view invoked_by = str(u, {"invokedBy"});
  f.arn = str(u, {"arn"});
  f.name = str(u, {"userName"});
  if (f.name.empty() && type == "AssumedRole") f.name = session_name(f.arn);
  if (f.name.empty() && type == "AWSService") f.name = invoked_by;
  if (f.name.empty() && has_identity) f.name = str(r, {"additionalEventData", "UserName"});
  f.account = str(u, {"accountId"});
  if (!aws::is_valid_account_id(f.account) && f.account != "ANONYMOUS_PRINCIPAL") f.account = {};
  f.access_key = str(u, {"accessKeyId"});
  const std::string_view principal = str(u, {"principalId"});
  const std::string_view mfa = str(u, {"sessionContext", "attributes", "mfaAuthenticated"});
  const std::string_view created = str(u, {"sessionContext", "attributes", "creationDate"});
  const std::string_view issuer = str(u, {"sessionContext", "sessionIssuer", "arn"});
  std::string_view idp = str(u, {"webIdFederationData", "federatedProvider"});
  if (idp.empty()) idp = str(u, {"identityProvider"});
  int64_t created_ms = 0;
  const bool has_created = parse_event_time(created, created_ms);
  const bool has_user = !f.arn.empty() || !f.name.empty() || !f.account.empty();
  const bool has_session = mfa == "true" || mfa == "false" || has_created || !issuer.empty();
  if (!has_user && !has_session && invoked_by.empty() && idp.empty()) return f;

  f.written = true;
  w.key("actor").begin_object();
  if (has_user) {
    w.key("user").begin_object();
    const UserType ut = user_type(type);
    w.field("type_id", ut.id).field("type", ut.caption);
    opt(w, "uid", f.arn);
    opt(w, "uid_alt", principal);
    opt(w, "name", f.name);
    opt(w, "credential_uid", f.access_key);
    if (!f.account.empty()) {
      w.key("account").begin_object();
      w.field("uid", f.account).field("type_id", 10).field("type", "AWS Account");
      w.end_object();
    }
    w.end_object();
  } else {
    f.access_key = {};
  }
  if (has_session) {
    w.key("session").begin_object();
    if (mfa == "true" || mfa == "false") w.field("is_mfa", mfa == "true");
    if (has_created)
      w.field("created_time", created_ms)
          .field("created_time_dt", std::string_view(format_datetime(created_ms)));
    opt(w, "issuer", issuer);
    w.end_object();
  }
  // actor.invoked_by is deprecated since OCSF 1.2: the service that made the call on the
  // principal's behalf is the application.
  opt(w, "app_name", invoked_by);
  if (!idp.empty()) w.key("idp").begin_object().field("name", idp).end_object();
  w.end_object();
  return f;
}

}  // namespace trailwarden::normalize
