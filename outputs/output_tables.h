// The [[outputs]] tables of a loaded Config, read by the outputs: config/ keeps them as written
// and knows none of their keys, so whoever loads a configuration (agent/cli) calls
// parse_outputs() right after parse_config() to check the whole configuration at load time.
// Stateless; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "agent/config/config.h"
#include "outputs/settings.h"

namespace trailwarden {

// The common keys of every output (parse_output_settings), in the configuration's order. Throws
// std::runtime_error("file:line:column: ...") at the first bad table; a secret of the
// configuration quoted by the message is replaced with "[redacted]". The output's own keys
// are checked by make_output() (check-config: OutputEnv::validate_only).
std::vector<OutputSettings> parse_outputs(const Config& config);

// The effective configuration (`check-config`): the agent's sections, then each output with
// its common keys resolved and its own keys as written (render_output_settings).
std::string render_effective_config(const Config& config);

}  // namespace trailwarden
