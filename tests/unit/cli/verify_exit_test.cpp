#include <doctest/doctest.h>

#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"

using namespace trailwarden;
using trailwarden::integrity::VerifyReport;

TEST_CASE("verify's exit status: a problem found wins over a check not made") {
  VerifyReport r;
  r.digests_found = 3;
  r.digests_valid = 3;
  CHECK(cli::verify_exit_status(r) == cli::kExitOk);
  r.errors.push_back("reading s3://b/k: 503 SlowDown");
  r.logs_unchecked = 1;
  CHECK(cli::verify_exit_status(r) == cli::kExitCannotCheck);
  // An attacker who can add an error (a throttled read) cannot turn "invalid" into "not checked".
  r.logs_invalid = 1;
  CHECK(cli::verify_exit_status(r) == cli::kExitInputFailed);
  VerifyReport gap;
  gap.digests_found = 1;
  gap.digests_valid = 1;
  gap.errors.push_back("ListPublicKeys in eu-west-1: throttled");
  gap.gaps.push_back({"c", 1, 2, "no digest"});
  CHECK(cli::verify_exit_status(gap) == cli::kExitInputFailed);
  VerifyReport none;  // nothing found: not whole
  CHECK(cli::verify_exit_status(none) == cli::kExitInputFailed);
  none.errors.push_back("listing s3://b/AWSLogs/: AccessDenied (s3:ListBucket)");
  CHECK(cli::verify_exit_status(none) == cli::kExitCannotCheck);  // the listing was refused
}
