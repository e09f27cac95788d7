// Linked into `trailwarden_failpoints` only (the agent's own main plus this file; a test tool,
// never installed): arms the failpoints of agent/common/failpoint.h from the environment.
//
//   TRAILWARDEN_FAILPOINT="NAME[:ACTION][,NAME[:ACTION]...]"
//     ACTION  exit        _exit(137) the first time NAME is reached (the default): as kill -9
//                         there, no destructor, no flush
//             sleep=MS    stall MS milliseconds each time NAME is reached, to hold a race
//                         window open (e.g. to let another thread act before NAME's thread goes on)
//
// A malformed value is reported on stderr and the process exits with status 2 before doing
// anything else, so a test can never silently run without the crash it asked for. Each crash is
// announced on stderr ("failpoint NAME: exiting"), so that a test can tell it from another
// death.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/common/failpoint.h"

namespace {

struct Armed {
  std::string name;
  bool exit = true;
  long sleep_ms = 0;
};

std::vector<Armed>& armed() {
  static std::vector<Armed> a;
  return a;
}

void on_hit(std::string_view name) {
  for (const Armed& a : armed()) {
    if (a.name != name) continue;
    if (a.exit) {
      std::string line = "failpoint " + a.name + ": exiting\n";
      (void)!::write(2, line.data(), line.size());
      ::_exit(137);
    }
    ::usleep(static_cast<useconds_t>(a.sleep_ms) * 1000);
  }
}

bool parse(std::string_view spec) {
  while (!spec.empty()) {
    std::string_view item = spec.substr(0, spec.find(','));
    spec.remove_prefix(std::min(spec.size(), item.size() + 1));
    Armed a;
    const size_t colon = item.find(':');
    a.name = std::string(item.substr(0, colon));
    if (a.name.empty()) return false;
    if (colon != std::string_view::npos) {
      std::string_view action = item.substr(colon + 1);
      if (action == "exit") {
        a.exit = true;
      } else if (action.starts_with("sleep=")) {
        const std::string ms(action.substr(6));
        char* end = nullptr;
        a.exit = false;
        a.sleep_ms = std::strtol(ms.c_str(), &end, 10);
        if (ms.empty() || *end != '\0' || a.sleep_ms < 0 || a.sleep_ms > 600000) return false;
      } else {
        return false;
      }
    }
    armed().push_back(std::move(a));
  }
  return true;
}

const bool installed = [] {
  const char* spec = std::getenv("TRAILWARDEN_FAILPOINT");
  if (!spec || !*spec) return false;
  if (!parse(spec)) {
    std::fprintf(stderr, "TRAILWARDEN_FAILPOINT: cannot parse \"%s\" (NAME[:exit|:sleep=MS],...)\n",
                 spec);
    std::_Exit(2);
  }
  trailwarden::failpoint::install(on_hit);
  return true;
}();

}  // namespace
