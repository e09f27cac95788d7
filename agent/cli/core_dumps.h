// Core dumps of the agent's process. Its memory holds credentials (AWS keys and session
// tokens, the HEC token, Kafka passwords), so `run` makes itself non-dumpable at start-up unless
// the operator opts in ([general] allow_core_dumps): no core file is written on a crash (the
// RLIMIT_CORE soft limit is set to 0 as well, for core_pattern handlers that dump non-dumpable
// processes for root), and other processes of the same user can neither ptrace it nor read
// /proc/<pid>/mem or /proc/<pid>/environ (the kernel makes those files root's).
#pragma once

#include <string>

namespace trailwarden::cli {

// allowed = false: PR_SET_DUMPABLE 0 and RLIMIT_CORE soft 0. allowed = true: PR_SET_DUMPABLE 1
// (the core size limit stays whatever it is). false with `error` when the kernel refuses.
bool set_core_dumps_allowed(bool allowed, std::string& error);

// The process's dumpable flag (PR_GET_DUMPABLE != 0).
bool core_dumps_allowed();

}  // namespace trailwarden::cli
