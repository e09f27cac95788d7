#include "agent/aws/process_credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>

namespace trailwarden::aws {
namespace {

constexpr size_t kMaxStdout = 64 * 1024;
constexpr size_t kMaxStderrKept = 4096;
constexpr size_t kStderrExcerpt = 512;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return true;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

// What a run produced.
struct RunResult {
  bool started = false;
  std::string start_error;  // posix_spawn failed
  bool timed_out = false;
  bool stdout_too_large = false;
  bool cancelled = false;
  int status = 0;  // waitpid status
  std::string out;
  std::string err;  // the first kMaxStderrKept bytes
};

RunResult run_command(const std::vector<std::string>& argv, const Environment& env,
                      std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  RunResult r;
  Fd out_r, out_w, err_r, err_w;
  if (!make_pipe(out_r, out_w) || !make_pipe(err_r, err_w)) {
    r.start_error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  // Nothing else of the agent's reaches the helper: libcurl's pooled connections, state files
  // and whatever a library opened without O_CLOEXEC are closed in the child (glibc >= 2.34).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (killed as a whole on timeout), no signal mask inherited from the
  // agent (which blocks SIGTERM, SIGINT and SIGHUP for its signal thread), default handlers.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = -1;
  // posix_spawnp searches PATH in the agent's own environment (the child's is `env`).
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    r.start_error = std::strerror(rc);
    return r;
  }
  r.started = true;
  out_w.reset();
  err_w.reset();

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto kill_group = [&] { ::kill(-pid, SIGKILL); };
  bool out_open = true, err_open = true, killed = false;
  char buf[8192];
  while (out_open || err_open) {
    if (cancel != nullptr && cancel->load()) {
      r.cancelled = true;
      kill_group();
      killed = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill_group();
      killed = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err_r.get(), POLLIN, 0};
    const int ready = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < n && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      const bool is_out = fds[i].fd == out_r.get();
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        (is_out ? out_open : err_open) = false;
        continue;
      }
      if (is_out) {
        if (r.out.size() + static_cast<size_t>(got) > kMaxStdout) {
          r.stdout_too_large = true;
          kill_group();
          killed = true;
          out_open = err_open = false;
          break;
        }
        r.out.append(buf, static_cast<size_t>(got));
      } else if (r.err.size() < kMaxStderrKept) {
        r.err.append(buf, std::min(static_cast<size_t>(got), kMaxStderrKept - r.err.size()));
      }
    }
  }
  // Both pipes are closed (or it was killed): reap it, within what is left of the timeout.
  for (;;) {
    const pid_t w = ::waitpid(pid, &r.status, killed ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      if (std::chrono::steady_clock::now() >= deadline || (cancel != nullptr && cancel->load())) {
        r.timed_out = !(cancel != nullptr && cancel->load());
        r.cancelled = !r.timed_out;
        kill_group();
        killed = true;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return r;
}

// Removes from `text` every string value of the JSON the command printed (partial output of a
// failed run may still hold a secret).
void scrub_output_values(std::string& text, std::string_view out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object object;
  if (parser.parse(out.data(), out.size()).get(doc) || doc.get_object().get(object)) return;
  for (auto field : object) {
    std::string_view v;
    if (!field.value.get_string().get(v) && v.size() >= 4) scrub_secret(text, v);
  }
}

}  // namespace

bool split_command_line(std::string_view command, std::vector<std::string>& argv,
                        std::string& error) {
  argv.clear();
  std::string word;
  bool in_word = false;
  size_t i = 0;
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < command.size()) {
    const char c = command[i];
    if (ws(c)) {
      if (in_word) argv.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= command.size()) {
        error = "trailing backslash";
        return false;
      }
      word += command[i + 1];
      in_word = true;
      i += 2;
    } else if (c == '\'') {
      const size_t close = command.find('\'', i + 1);
      if (close == std::string_view::npos) {
        error = "no closing quotation";
        return false;
      }
      word.append(command.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < command.size()) {
        const char d = command[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        // Inside double quotes a backslash escapes only '"' and '\' (shlex's escapedquotes).
        if (d == '\\' && i + 1 < command.size() &&
            (command[i + 1] == '"' || command[i + 1] == '\\')) {
          word += command[i + 1];
          i += 2;
          continue;
        }
        word += d;
        ++i;
      }
      if (!closed) {
        error = "no closing quotation";
        return false;
      }
      in_word = true;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) argv.push_back(std::move(word));
  return true;
}

bool parse_process_credentials(std::string_view json, Credentials& out, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) || !doc.is_object()) {
    error = "its output is not a JSON object";
    return false;
  }
  int64_t version = 0;
  simdjson::dom::element v;
  if (doc["Version"].get(v)) {
    error = "its output lacks Version (only Version 1 is supported)";
    return false;
  }
  if (v.get_int64().get(version) || version != 1) {
    error = "its output has Version " + printable_excerpt(simdjson::to_string(v), 20) +
            " (only Version 1 is supported)";
    return false;
  }
  std::string_view id, secret, token, expiration;
  if (doc["AccessKeyId"].get_string().get(id) || doc["SecretAccessKey"].get_string().get(secret)) {
    error = "its output lacks AccessKeyId or SecretAccessKey";
    return false;
  }
  const bool has_token = !doc["SessionToken"].get_string().get(token) && !token.empty();
  const bool has_expiration =
      !doc["Expiration"].get_string().get(expiration) && !expiration.empty();
  return build_credentials("its output", id, secret, has_token ? token : "",
                           has_expiration ? expiration : "", out, error);
}

FetchStatus fetch_process_credentials(const ProviderContext& ctx, const std::string& command,
                                      std::chrono::milliseconds timeout, Credentials& out,
                                      std::string& message) {
  std::vector<std::string> argv;
  std::string error;
  if (!split_command_line(command, argv, error)) {
    message = "credential_process cannot be split into words: " + error;
    return FetchStatus::kInvalid;
  }
  if (argv.empty()) {
    message = "credential_process is empty";
    return FetchStatus::kInvalid;
  }
  const std::string program = "credential_process '" + printable_excerpt(argv[0], 200) + "'";
  const RunResult r = run_command(argv, ctx.env, timeout, ctx.cancel);
  if (!r.started) {
    message = program + " cannot be started: " + r.start_error;
    return FetchStatus::kFailed;
  }
  std::string_view err_text = r.err;
  while (!err_text.empty() && std::isspace(static_cast<unsigned char>(err_text.back()))) {
    err_text.remove_suffix(1);
  }
  std::string err = printable_excerpt(err_text, kStderrExcerpt);
  scrub_output_values(err, r.out);
  const std::string stderr_part = err.empty() ? std::string() : "; stderr: " + err;
  if (r.cancelled) {
    message = program + " was stopped (shutting down)";
    return FetchStatus::kFailed;
  }
  if (r.timed_out) {
    message = program + " did not finish within " + std::to_string(timeout.count() / 1000) +
              " s (its process group was killed)" + stderr_part;
    return FetchStatus::kFailed;
  }
  if (r.stdout_too_large) {
    message = program + " wrote more than " + std::to_string(kMaxStdout) +
              " bytes to stdout (killed)" + stderr_part;
    return FetchStatus::kFailed;
  }
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
    message = program + " " + describe_status(r.status) + stderr_part;
    return FetchStatus::kFailed;
  }
  if (!parse_process_credentials(r.out, out, error)) {
    message = program + ": " + error;
    return FetchStatus::kFailed;
  }
  return FetchStatus::kOk;
}

}  // namespace trailwarden::aws
