// credential_process in a shared-config profile: an external command prints credentials as
// JSON on stdout (IAM Roles Anywhere's aws_signing_helper, a vault plug-in), as the AWS SDKs
// define it:
//
//   {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
//    "SessionToken": "..." (optional), "Expiration": "RFC 3339" (optional: never expires)}
//
// The command is run as botocore runs it: split like a POSIX shell word list (shlex: quotes
// and backslashes, no variables, globs, pipes or redirections) and executed directly, without
// a shell, found on PATH. It gets the agent's environment, /dev/null as stdin, its own process
// group, default signal handling. Bounds: stdout at most 64 KiB (else killed), the whole run
// at most `timeout` (then its whole process group is killed; the Go SDK's default is one
// minute). A non-zero exit is an error naming the program (argv[0] only: arguments may name
// key files), the exit status and a printable excerpt of stderr with every secret the command
// printed on stdout removed; stdout itself never appears in a message (it holds the secrets).
//
// Thread-safety: free functions; a fetch blocks its caller for up to `timeout`.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "agent/aws/credentials.h"

namespace trailwarden::aws {

// Splits `command` into argv as Python's shlex.split (POSIX mode, botocore's
// compat_shell_split on Linux). false with `error` on an unterminated quote or a trailing
// backslash.
bool split_command_line(std::string_view command, std::vector<std::string>& argv,
                        std::string& error);

// Parses the command's stdout (the JSON contract above). false with `error` (never quoting a
// value) otherwise.
bool parse_process_credentials(std::string_view json, Credentials& out, std::string& error);

// Runs `command` and parses what it prints. kInvalid for a command line that cannot be split
// (a configuration error); kFailed for everything that happens when it runs. `message` does
// not start with the provider's or profile's name. Honours ctx.cancel (kills the command).
FetchStatus fetch_process_credentials(const ProviderContext& ctx, const std::string& command,
                                      std::chrono::milliseconds timeout, Credentials& out,
                                      std::string& message);

}  // namespace trailwarden::aws
