// `trailwarden healthcheck [--ready]`: asks a running agent's /healthz (or /readyz) on the
// address of [metrics] listen. For container HEALTHCHECKs and exec probes: no curl needed, and
// the check follows the configured port.
#include <httplib.h>

#include <cstdio>

#include "agent/cli/cli_util.h"
#include "agent/cli/commands.h"

namespace trailwarden::cli {

int cmd_healthcheck(Args& a, const Global& g) {
  bool ready = false;
  while (!a.done()) {
    if (a.flag({"--ready"})) ready = true;
    else usage_error(fmt::format("unexpected argument {}", a.peek()));
  }
  Config c = load_config(g);
  if (c.metrics.listen.empty())
    usage_error("metrics.listen is \"\": the agent serves no health endpoint to ask");
  std::string host;
  int port = 0;
  if (!split_host_port(c.metrics.listen, host, port) || port == 0)
    usage_error(fmt::format("metrics.listen \"{}\" names no fixed port to ask", c.metrics.listen));
  if (host == "0.0.0.0") host = "127.0.0.1";  // listening everywhere: ask over loopback
  if (host == "::") host = "::1";
  const char* path = ready ? "/readyz" : "/healthz";
  httplib::Client client(host, port);
  client.set_connection_timeout(3, 0);
  client.set_read_timeout(3, 0);
  auto res = client.Get(path);
  if (!res) {
    fmt::print(stderr, "trailwarden: {}:{}{}: {}\n", host, port, path,
               httplib::to_string(res.error()));
    return kExitInputFailed;
  }
  fmt::print("{}", res->body);
  return res->status == 200 ? kExitOk : kExitInputFailed;
}

}  // namespace trailwarden::cli
