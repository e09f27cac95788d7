// The syslog output's [[outputs]] keys (docs/outputs.md, conf/trailwarden.toml): parsed and
// checked at start-up into SyslogOptions (syslog_output.h), with file:line:column. Stateless.
#pragma once

#include <string>
#include <string_view>

#include "outputs/settings.h"
#include "outputs/syslog/syslog_output.h"

namespace trailwarden {

// Reads the syslog keys of settings.table (the common keys are marked known first) into
// options; throws std::runtime_error with file:line:column on a bad or unknown key. Keys and
// defaults: docs/outputs.md and conf/trailwarden.toml.
SyslogOptions parse_syslog_options(const OutputSettings& settings);

// Splits "host:port", "[v6]:port", "host" or "[v6]" (then `default_port`); false if malformed
// (empty host, port not 1-65535).
bool split_host_port(std::string_view address, std::string_view default_port, std::string& host,
                     std::string& port);

}  // namespace trailwarden
