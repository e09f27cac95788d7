// Linked into `trailwarden_failpoints` only (the agent's own main plus this file; a test tool,
// never installed): arms the failpoints of agent/common/failpoint.h and the connect-to hook of
// agent/http/test_hooks.h from the environment.
//
//   TRAILWARDEN_FAILPOINT="NAME[:ACTION][,NAME[:ACTION]...]"
//     ACTION  exit        _exit(137) the first time NAME is reached (the default): as kill -9
//                         there, no destructor, no flush
//             sleep=MS    stall MS milliseconds each time NAME is reached, to hold a race
//                         window open (e.g. to let another thread act before NAME's thread goes on)
//
//   TRAILWARDEN_TEST_CONNECT_TO="HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT[,...]"
//     curl's CONNECT_TO entries (an empty field: any host or port, or the request's own), e.g.
//     "::127.0.0.1:8443" sends every AWS request to 127.0.0.1:8443 while the URL, Host header,
//     SNI and certificate check keep the real host name (tests/integration/peers/strict_aws.py).
//     A host may be an IPv6 address in brackets; a port is empty or 1..65535.
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

#include "agent/http/test_hooks.h"
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

// Whether one CONNECT_TO entry has curl's four fields (brackets keep an IPv6 host whole), ports
// empty or 1..65535, hosts without spaces or URL delimiters, and changes something.
bool valid_connect_to(std::string_view entry) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  bool bracket = false;
  for (size_t i = 0; i <= entry.size(); ++i) {
    if (i < entry.size() && entry[i] == '[') bracket = true;
    if (i < entry.size() && entry[i] == ']') bracket = false;
    if (i == entry.size() || (entry[i] == ':' && !bracket)) {
      fields.push_back(entry.substr(start, i - start));
      start = i + 1;
    }
  }
  if (fields.size() != 4 || bracket) return false;
  for (size_t i : {size_t{1}, size_t{3}}) {
    std::string_view port = fields[i];
    if (port.empty()) continue;
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    const long n = std::strtol(std::string(port).c_str(), nullptr, 10);
    if (n < 1 || n > 65535) return false;
  }
  for (size_t i : {size_t{0}, size_t{2}}) {
    if (std::any_of(fields[i].begin(), fields[i].end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u <= 0x20 || u >= 0x7f || c == '/' || c == '@';
        }))
      return false;
  }
  return !fields[2].empty() || !fields[3].empty();  // it must change something
}

std::vector<std::string>& connect_to_entries() {
  static std::vector<std::string> entries;
  return entries;
}

const std::vector<std::string>* connect_to() { return &connect_to_entries(); }

const bool connect_to_installed = [] {
  const char* spec = std::getenv("TRAILWARDEN_TEST_CONNECT_TO");
  if (!spec || !*spec) return false;
  std::string_view rest(spec);
  while (true) {
    const std::string_view entry = rest.substr(0, rest.find(','));
    if (!valid_connect_to(entry)) {
      std::fprintf(stderr,
                   "TRAILWARDEN_TEST_CONNECT_TO: cannot parse \"%s\" "
                   "(HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT,...)\n",
                   spec);
      std::_Exit(2);
    }
    connect_to_entries().emplace_back(entry);
    if (entry.size() == rest.size()) break;
    rest.remove_prefix(entry.size() + 1);
  }
  trailwarden::http::test_hooks::install_connect_to(connect_to);
  return true;
}();

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
