// Process-wide logging on top of spdlog, for operators. One logger, "trailwarden", is the spdlog
// default logger, so plain spdlog::info(...) calls from any thread go through it; it writes to
// stderr through one sink that
//   - replaces every registered secret (register_secret) by "***", before anything else;
//   - rate-limits repeats (the exact rule is in log_rate_limiter.h) and later reports how many
//     similar lines it suppressed, "<message> (N similar messages suppressed in the last 60 s)":
//     appended to the next line of the same kind or, if a line of another kind comes first, as
//     a line of its own that repeats the last suppressed message (counted among the N);
//   - formats each line as text, JSON or for the systemd journal (see LogOptions::format);
//   - writes under its lock, so lines of concurrent threads never interleave.
// spdlog checks the level before formatting, so a filtered-out call costs a comparison.
//
// Ownership: the logger, its sink and the secret list live until the process exits (never
// destroyed, so threads may log during exit).
// Thread-safety: logging is thread-safe. The first setup_logging call must happen before other
// threads log (it installs the default logger); later calls reconfigure the same logger in place
// and are safe while other threads log. register_secret is thread-safe at any time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace trailwarden {

struct LogOptions {
  // trace|debug|info|warn|error|off (spdlog's names "warning", "err", "critical" work too).
  std::string level = "info";
  // text:    "2026-11-26T20:00:00.123Z info message" (UTC; the level is coloured on a terminal).
  // json:    {"time":"2026-11-26T20:00:00.123Z","level":"info","message":"...","thread":1234}
  //          one object per line; a line carrying a repeat report adds "suppressed":N.
  // journal: "<6>message": no timestamp, the sd-daemon priority prefix (<7> debug and trace,
  //          <6> info, <4> warning, <3> error, <2> critical) so journald records the level.
  // auto:    journal when stderr is the journal stream systemd set up (JOURNAL_STREAM), else
  //          text.
  // Level names (text, json): trace, debug, info, warning, error, critical.
  // text and journal lines are single lines: control characters are escaped (\n, \r, \xNN) and
  // invalid UTF-8 is replaced by U+FFFD; JSON strings are escaped per RFC 8259 likewise.
  std::string format = "auto";
  // Identical messages (digits ignored) allowed per interval, per level; 0: no limit.
  size_t rate_limit_burst = 10;
  // Length of a rate-limit interval; must be positive when rate_limit_burst > 0.
  std::chrono::seconds rate_limit_interval{60};
};

// Sets up or reconfigures the process logger; may be called again later (e.g. after the config
// is read or reloaded). Returns false and sets `error` on a bad option, changing nothing. Counts
// of the rate limiter survive a reconfiguration.
bool setup_logging(const LogOptions& options, std::string& error);

// Start-up form, before the config is read: sets only the level (the first call also installs
// the logger with the other LogOptions defaults). Returns false (and changes nothing) on a bad
// level.
bool setup_logging(std::string_view level);

// Registers a secret value (token, password): it is replaced by "***" in every log line from now
// on, in every format. Values shorter than 4 bytes are ignored. Thread-safe.
void register_secret(std::string value);

// Replaces every registered secret in `text` by "***", as log lines are: for messages printed
// without the logger (the command line's final error message).
void mask_secrets(std::string& text);

// True when `fd` is the stream systemd connected to the journal, i.e. `journal_stream` (the value
// of the JOURNAL_STREAM environment variable, "<device>:<inode>" in decimal; may be null) names
// fd's device and inode.
bool is_journal_stream(int fd, const char* journal_stream);

// Testing hook: like setup_logging(options, error), but lines go to `out` (never coloured; "auto"
// means text), timestamps and rate-limit intervals are taken from `now`, and the rate limiter
// starts empty. `out` must outlive its use: call setup_logging (or this again) before it dies.
bool setup_logging_for_test(const LogOptions& options, std::ostream& out,
                            std::function<std::chrono::system_clock::time_point()> now,
                            std::string& error);

}  // namespace trailwarden
