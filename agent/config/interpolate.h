// Environment interpolation and secret detection for configuration documents. Stateless
// functions; the environment is read through a callback so tests can inject one.
//
// Syntax, in every string value (also inside arrays and nested tables):
//   ${NAME}          the variable's value; an error if NAME is not set
//   ${NAME:-default} the value, or `default` when NAME is unset or empty
//   $$               a literal '$' (so "$${NAME}" is the text "${NAME}")
// A '$' followed by anything else is kept as it is. NAME is [A-Za-z_][A-Za-z0-9_]*.
// Exception: the [outputs.properties] tables of Kafka outputs are left alone; the Kafka output
// resolves their "${NAME}" and "@file:PATH" values itself (docs/outputs.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace trailwarden {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
EnvLookup process_env();

// Replaces ${...} references in every string of `doc`, in place. Throws std::runtime_error
// ("origin:line:column: key: ...") for an unset variable or a malformed reference; the message
// names the key and the position, never the value (it may hold a secret). Values that came
// from a variable whose name looks secret (see is_secret_name) are appended to `secrets`.
void interpolate_env(toml::table& doc, const std::string& origin, const EnvLookup& env,
                     std::vector<std::string>& secrets);

// Interpolates one string; `error` is set (and nullopt returned) on a bad reference. `error`
// never quotes the text (only a variable's name and a character position).
// `secret` is set when a variable with a secret-looking name was used.
std::optional<std::string> interpolate_string(std::string_view text, const EnvLookup& env,
                                              bool& secret, std::string& error);

// True for key or variable names that hold secrets: they contain password, passphrase, secret,
// token, credential, private or apikey/api_key (case-insensitive), except names that only point
// to a secret (ending in _env, _file or _path, such as token_file).
bool is_secret_name(std::string_view name);

}  // namespace trailwarden
