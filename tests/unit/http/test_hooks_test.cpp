// The AWS test hooks (agent/http/test_hooks.h) are never installed by the agent: in the unit-test
// binary, which links the whole agent library but not tests/integration/failpoint_hook.cpp,
// the connect-to hook is null, so no request can be sent anywhere but to its own host.
#include "agent/http/test_hooks.h"

#include <doctest/doctest.h>

#include "agent/common/failpoint.h"

TEST_CASE("test hooks: nothing in the agent installs the connect-to hook") {
  CHECK(!trailwarden::http::test_hooks::connect_to.load());
  CHECK(!trailwarden::failpoint::hook.load());
}
