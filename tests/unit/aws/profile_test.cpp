// Parsing the shared config and credentials files.
#include "agent/aws/profile.h"

#include <doctest/doctest.h>

using namespace trailwarden::aws;

namespace {

Profiles parse(const std::string& text, ProfileFileKind kind) {
  Profiles p;
  std::string error;
  REQUIRE_MESSAGE(parse_profile_file(text, kind, "f", p, error), error);
  return p;
}

std::string parse_error(const std::string& text, ProfileFileKind kind) {
  Profiles p;
  std::string error;
  CHECK_FALSE(parse_profile_file(text, kind, "/home/u/.aws/credentials", p, error));
  return error;
}

}  // namespace

TEST_CASE("credentials file: sections, keys, values, comments, whitespace") {
  const Profiles p = parse(
      "\xEF\xBB\xBF# comment\r\n"
      "; another comment\r\n"
      "[default]\r\n"
      "aws_access_key_id = AKIDDEFAULT\r\n"
      "AWS_Secret_Access_Key=secret/with+chars   # trailing comment\r\n"
      "aws_session_token = tok==;notcomment\r\n"
      "\r\n"
      "[  dev  ]   ; comment after header\n"
      "aws_access_key_id\t=\tAKIDDEV\n"
      "aws_secret_access_key = s#1 ;c\n"
      "empty =\n"
      "[profile prod]\n"
      "aws_access_key_id = IGNORED\n",
      ProfileFileKind::kCredentials);
  REQUIRE(p.contains("default"));
  CHECK(p.at("default").at("aws_access_key_id") == "AKIDDEFAULT");
  CHECK(p.at("default").at("aws_secret_access_key") == "secret/with+chars");
  CHECK(p.at("default").at("aws_session_token") == "tok==;notcomment");
  REQUIRE(p.contains("dev"));
  CHECK(p.at("dev").at("aws_access_key_id") == "AKIDDEV");
  CHECK(p.at("dev").at("aws_secret_access_key") == "s#1");
  CHECK(p.at("dev").at("empty") == "");
  // "[profile x]" is not a profile name in the credentials file.
  CHECK_FALSE(p.contains("prod"));
  CHECK_FALSE(p.contains("profile prod"));
  CHECK(p.size() == 2);
}

TEST_CASE("config file: [profile x], [default], [profile default] wins, other sections ignored") {
  const Profiles p = parse(
      "[default]\n"
      "region = us-west-2\n"
      "role_arn = from-plain-default\n"
      "[profile default]\n"
      "role_arn = from-prefixed-default\n"
      "[profile  ops ]\n"
      "role_arn = arn:aws:iam::123456789012:role/ops\n"
      "source_profile = dev\n"
      "s3 =\n"
      "  addressing_style = path\n"
      "  max_concurrent_requests = 4\n"
      "external_id = ext\n"
      "[dev]\n"
      "region = ignored-no-prefix\n"
      "[sso-session corp]\n"
      "sso_region = us-east-1\n"
      "  indented = inside an ignored section\n"
      "[services s]\n"
      "sqs =\n"
      "  endpoint_url = http://localhost\n",
      ProfileFileKind::kConfig);
  REQUIRE(p.contains("default"));
  CHECK(p.at("default").at("role_arn") == "from-prefixed-default");
  CHECK_FALSE(p.at("default").contains("region"));  // [default] dropped entirely
  REQUIRE(p.contains("ops"));
  CHECK(p.at("ops").at("source_profile") == "dev");
  CHECK(p.at("ops").at("s3") == "\naddressing_style = path\nmax_concurrent_requests = 4");
  CHECK(p.at("ops").at("external_id") == "ext");
  CHECK_FALSE(p.contains("dev"));
  CHECK_FALSE(p.contains("corp"));
  CHECK(p.size() == 2);

  const Profiles only_plain = parse("[default]\nregion = eu-west-1\n", ProfileFileKind::kConfig);
  CHECK(only_plain.at("default").at("region") == "eu-west-1");
  const Profiles empty_default = parse("[default]\n", ProfileFileKind::kConfig);
  CHECK(empty_default.contains("default"));
}

TEST_CASE("repeated sections and keys merge, later wins; files merge in order") {
  Profiles p;
  std::string error;
  REQUIRE(parse_profile_file("[profile a]\nk = config\nonly_config = 1\n", ProfileFileKind::kConfig,
                             "config", p, error));
  REQUIRE(parse_profile_file("[a]\nk = first\n[b]\nx = 1\n[a]\nk = second\n",
                             ProfileFileKind::kCredentials, "credentials", p, error));
  CHECK(p.at("a").at("k") == "second");
  CHECK(p.at("a").at("only_config") == "1");
  CHECK(p.at("b").at("x") == "1");
}

TEST_CASE("properties before any section are ignored; malformed lines are errors with file:line") {
  const Profiles p = parse("orphan = 1\n[a]\nk = v\n", ProfileFileKind::kCredentials);
  CHECK(p.size() == 1);
  CHECK(parse_error("[a]\nk = v\njust text\n", ProfileFileKind::kCredentials) ==
        "/home/u/.aws/credentials:3: expected 'name = value'");
  CHECK(parse_error("[a\nk = v\n", ProfileFileKind::kCredentials) ==
        "/home/u/.aws/credentials:1: section header without ']'");
  CHECK(parse_error("[a] junk\n", ProfileFileKind::kCredentials).find("after section header") !=
        std::string::npos);
  CHECK(parse_error("[ ]\n", ProfileFileKind::kCredentials).find("empty section name") !=
        std::string::npos);
  CHECK(parse_error("[a]\n= v\n", ProfileFileKind::kCredentials).find("without a name") !=
        std::string::npos);
  CHECK(
      parse_error("[a]\n  continued\n", ProfileFileKind::kCredentials).find("without a property") !=
      std::string::npos);
  CHECK(parse_error("[profile ]\n", ProfileFileKind::kConfig).find("empty") != std::string::npos);
  // No newline at the end, blank lines only, empty file.
  CHECK(parse("[a]\nk = v", ProfileFileKind::kCredentials).at("a").at("k") == "v");
  CHECK(parse("\n\n  \n", ProfileFileKind::kCredentials).empty());
  CHECK(parse("", ProfileFileKind::kConfig).empty());
}

TEST_CASE("config file: [sso-session NAME] sections when asked for") {
  const std::string text =
      "[profile audit]\nsso_session = corp\nsso_account_id = 123456789012\n"
      "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
      "sso_region = eu-west-1\n"
      "[sso-session  other ]\nsso_region = us-east-1\n"
      "[sso-session corp]\nsso_registration_scopes = sso:account:access\n";
  Profiles profiles, sessions;
  std::string error;
  REQUIRE(parse_profile_file(text, ProfileFileKind::kConfig, "f", profiles, error, &sessions));
  CHECK(profiles.size() == 1);
  REQUIRE(sessions.size() == 2);
  CHECK(sessions.at("corp").at("sso_start_url") == "https://corp.awsapps.com/start");
  CHECK(sessions.at("corp").at("sso_registration_scopes") == "sso:account:access");
  CHECK(sessions.at("other").at("sso_region") == "us-east-1");
  // Not in the credentials file; "[sso-session]" without a name is just another section.
  sessions.clear();
  REQUIRE(parse_profile_file(text, ProfileFileKind::kCredentials, "f", profiles, error, &sessions));
  CHECK(sessions.empty());
  REQUIRE(parse_profile_file("[sso-session]\nsso_region = x\n", ProfileFileKind::kConfig, "f",
                             profiles, error, &sessions));
  CHECK(sessions.empty());
}
