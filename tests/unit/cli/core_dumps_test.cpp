#include "agent/cli/core_dumps.h"

#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <sys/resource.h>

using namespace trailwarden::cli;

TEST_CASE("core dumps: off makes the process non-dumpable with a zero core limit; on restores") {
  const int was_dumpable = ::prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  rlimit was_limit{};
  REQUIRE(::getrlimit(RLIMIT_CORE, &was_limit) == 0);
  std::string error;

  REQUIRE_MESSAGE(set_core_dumps_allowed(false, error), error);
  CHECK(::prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) == 0);
  CHECK_FALSE(core_dumps_allowed());
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_CORE, &limit) == 0);
  CHECK(limit.rlim_cur == 0);

  REQUIRE_MESSAGE(set_core_dumps_allowed(true, error), error);
  CHECK(::prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) == 1);
  CHECK(core_dumps_allowed());

  // Leave the test process as it was.
  ::prctl(PR_SET_DUMPABLE, static_cast<unsigned long>(was_dumpable), 0UL, 0UL, 0UL);
  ::setrlimit(RLIMIT_CORE, &was_limit);
}
