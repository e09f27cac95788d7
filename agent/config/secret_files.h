// Files that hold secrets, found in a configuration file: the file itself when it holds a secret
// inline (token = "...", a Kafka "sasl.password" written out), and the files that secrets are
// read from (a Splunk HEC token_file, a syslog TLS key_file, Kafka "@file:PATH" values and
// ssl.key.location). `check-config` warns when any of them is readable by others than the agent
// (docs/configuration.md, "Secrets"). Stateless.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trailwarden {

struct SecretFile {
  std::string path;
  std::string why;  // "inline secret at outputs[0].token", "outputs[1].token_file", ...
};

// The files of `content` (the configuration file `origin`, not yet interpolated) that hold
// secrets, in document order, each path once. Relative "@file:" paths are taken from the
// configuration file's directory, as the Kafka output reads them. Throws on a TOML syntax error.
std::vector<SecretFile> files_holding_secrets(std::string_view content, const std::string& origin);

// The warning for one such file, or "" when only its owner (and, when `gid` is the group of
// the process asking, that group) can read it. `mode` and `gid` as stat() gives them;
// `group_name` names `gid` in the message.
std::string secret_file_warning(const SecretFile& file, unsigned mode, bool group_is_ours,
                                const std::string& group_name);

}  // namespace trailwarden
