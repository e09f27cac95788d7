// IAM Identity Center (SSO) profiles, as botocore's SSOProvider reads them:
//
//   [profile p]                       [sso-session corp]
//   sso_session    = corp             sso_start_url = https://corp.awsapps.com/start
//   sso_account_id = 123456789012     sso_region    = eu-west-1
//   sso_role_name  = SecurityAudit
//
// or the legacy form with sso_start_url and sso_region in the profile itself. A profile is an
// SSO profile when it has sso_account_id or sso_role_name (botocore's trigger); all four values
// are then required, and a value set both in the profile and in its sso-session must agree.
//
// The bearer token is the one `aws sso login` cached in ~/.aws/sso/cache/<sha1>.json, where
// <sha1> is the lowercase hex SHA-1 of the sso-session's name (sso_session form) or of the start
// URL (legacy form), with "accessToken" and "expiresAt". It is sent to the portal's
// GetRoleCredentials (GET <portal>/federation/credentials?account_id=..&role_name=.., header
// x-amz-sso_bearer_token; unsigned), whose role credentials expire (then fetched again with the
// cached token). The portal is https://portal.sso.<sso_region>.<partition suffix> (the FIPS /
// dual-stack host with AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT; agent/aws/endpoints.h),
// or AWS_ENDPOINT_URL_SSO, then AWS_ENDPOINT_URL (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true),
// as the SDKs' endpoint variables.
//
// Not done: refreshing an expired token through SSO OIDC with its refresh token (the SDKs do
// that for sso_session profiles). An expired or refused token is an error that says to run
// `aws sso login --profile NAME`; for an unattended daemon, a role (web identity, instance or
// container credentials, or IAM Roles Anywhere through credential_process) is the better fit.
#pragma once

#include <chrono>
#include <string>

#include "agent/aws/credentials.h"
#include "agent/aws/profile.h"

namespace trailwarden::aws {

// True when `profile` asks for SSO credentials (sso_account_id or sso_role_name set).
bool is_sso_profile(const Profile& profile);

// Credentials of SSO profile `name`. kInvalid for configuration errors (missing or
// inconsistent keys, an unknown sso-session); kFailed for a missing, unreadable or expired
// cached token and for portal errors. Messages never contain the token or the credentials.
// The portal request uses options.sts_timeout and the endpoint options (use_fips_endpoint,
// use_dualstack_endpoint, ignore_configured_endpoint_urls: the [aws] keys) with the
// environment's variables, as STS does.
FetchStatus fetch_sso_credentials(const ProviderContext& ctx, const std::string& name,
                                  const Profile& profile, const Profiles& sso_sessions,
                                  const CredentialsOptions& options, Credentials& out,
                                  std::string& message);

}  // namespace trailwarden::aws
