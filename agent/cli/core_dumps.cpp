#include "agent/cli/core_dumps.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace trailwarden::cli {

bool set_core_dumps_allowed(bool allowed, std::string& error) {
  if (::prctl(PR_SET_DUMPABLE, allowed ? 1UL : 0UL, 0UL, 0UL, 0UL) != 0) {
    error = std::string("prctl(PR_SET_DUMPABLE): ") + std::strerror(errno);
    return false;
  }
  if (!allowed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_CORE, &limit) == 0 && limit.rlim_cur != 0) {
      limit.rlim_cur = 0;
      if (::setrlimit(RLIMIT_CORE, &limit) != 0) {
        error = std::string("setrlimit(RLIMIT_CORE): ") + std::strerror(errno);
        return false;
      }
    }
  }
  return true;
}

bool core_dumps_allowed() { return ::prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) > 0; }

}  // namespace trailwarden::cli
