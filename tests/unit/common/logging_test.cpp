#include "agent/common/logging.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/details/os.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace std::chrono_literals;

namespace {

// 2026-11-26T20:00:00.123Z
std::chrono::system_clock::time_point test_epoch() {
  using namespace std::chrono;
  return sys_days{year{2026} / 11 / 26} + 20h + 123ms;
}

// A string literal's bytes, embedded NULs included.
template <size_t N>
std::string bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Points the process logger at a string stream with a fake clock for one test; afterwards
// sends it back to stderr at "warn" and restores whichever default logger was there before.
class CapturedLog {
 public:
  explicit CapturedLog(const LogOptions& options) : previous_(spdlog::default_logger()) {
    std::string error;
    REQUIRE(setup_logging_for_test(
        options, out_, [this] { return now_; }, error));
  }
  ~CapturedLog() {
    std::string error;
    setup_logging(LogOptions{.level = "warn", .format = "text"}, error);
    spdlog::set_default_logger(previous_);
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  void advance(std::chrono::milliseconds d) { now_ += d; }
  std::string text() const { return out_.str(); }
  std::vector<std::string> lines() const { return split_lines(out_.str()); }
  std::ostream& stream() { return out_; }
  std::function<std::chrono::system_clock::time_point()> clock() {
    return [this] { return now_; };
  }

 private:
  std::ostringstream out_;
  std::chrono::system_clock::time_point now_ = test_epoch();
  std::shared_ptr<spdlog::logger> previous_;
};

// Restores the default logger it found.
class DefaultLoggerGuard {
 public:
  DefaultLoggerGuard() : previous_(spdlog::default_logger()) {}
  ~DefaultLoggerGuard() { spdlog::set_default_logger(previous_); }
  DefaultLoggerGuard(const DefaultLoggerGuard&) = delete;
  DefaultLoggerGuard& operator=(const DefaultLoggerGuard&) = delete;

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

// A temporary file dup'ed onto stderr while it lives.
class StderrToFile {
 public:
  StderrToFile() {
    char name[] = "/tmp/tw-logging-test-XXXXXX";
    fd_ = mkstemp(name);
    REQUIRE(fd_ >= 0);
    path_ = name;
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    REQUIRE(dup2(fd_, STDERR_FILENO) == STDERR_FILENO);
  }
  ~StderrToFile() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    unlink(path_.c_str());
  }
  StderrToFile(const StderrToFile&) = delete;
  StderrToFile& operator=(const StderrToFile&) = delete;

  int fd() const { return fd_; }
  std::string text() const { return test::read_file(path_); }
  // The JOURNAL_STREAM value systemd would set for this file.
  std::string journal_stream() const {
    struct stat st {};
    REQUIRE(fstat(fd_, &st) == 0);
    return fmt::format("{}:{}", st.st_dev, st.st_ino);
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
  std::string path_;
};

// Sets or unsets an environment variable while it lives.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvVar() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const std::regex kTextLine(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\w+) (.*))");

std::atomic<int> g_probe_formatted{0};
struct Probe {};

}  // namespace

template <>
struct fmt::formatter<Probe> : fmt::formatter<std::string_view> {
  auto format(Probe, fmt::format_context& ctx) const {
    ++g_probe_formatted;
    return fmt::format_to(ctx.out(), "probe");
  }
};

TEST_CASE("logging: text format") {
  CapturedLog log(LogOptions{.format = "text"});
  spdlog::info("fetch {} done", 3);
  spdlog::warn("slow");
  spdlog::debug("not shown at info");
  spdlog::error("two\nlines\r\x1b[31m\ttab");
  CHECK(log.text() ==
        "2026-11-26T20:00:00.123Z info fetch 3 done\n"
        "2026-11-26T20:00:00.123Z warning slow\n"
        "2026-11-26T20:00:00.123Z error two\\nlines\\r\\x1b[31m\ttab\n");
}

TEST_CASE("logging: auto format is text for a stream that is not the journal") {
  CapturedLog log(LogOptions{});
  spdlog::info("hello");
  CHECK(log.text() == "2026-11-26T20:00:00.123Z info hello\n");
}

TEST_CASE("logging: json format") {
  CapturedLog log(LogOptions{.level = "debug", .format = "json"});
  spdlog::info("hello {}", "world");
  log.advance(1877ms);
  spdlog::debug("second");
  const auto tid = spdlog::details::os::thread_id();
  CHECK(log.text() == fmt::format("{{\"time\":\"2026-11-26T20:00:00.123Z\",\"level\":\"info\","
                                  "\"message\":\"hello world\",\"thread\":{0}}}\n"
                                  "{{\"time\":\"2026-11-26T20:00:02.000Z\",\"level\":\"debug\","
                                  "\"message\":\"second\",\"thread\":{0}}}\n",
                                  tid));
}

TEST_CASE("logging: json escaping of hostile input") {
  CapturedLog log(LogOptions{.format = "json"});
  const std::string hostile = bytes("q\"uote\\back\nnew\rret\0nul\x01\x1b\xff\xc3(end");
  spdlog::info("{}", hostile);
  spdlog::warn("{}", "\"}{\"level\":\"error\",\"message\":\"forged");
  const auto lines = log.lines();
  REQUIRE(lines.size() == 2);  // the newline did not split the object
  CHECK(lines[0].find(R"("message":"q\"uote\\back\nnew\rret\u0000nul\u0001\u001b)"
                      "\xEF\xBF\xBD\xEF\xBF\xBD(end\"") != std::string::npos);

  simdjson::dom::parser parser;
  std::string_view message;
  std::string_view level;
  simdjson::dom::element first = parser.parse(lines[0]);
  REQUIRE(first["message"].get(message) == simdjson::SUCCESS);
  CHECK(message == bytes("q\"uote\\back\nnew\rret\0nul\x01\x1b\xEF\xBF\xBD\xEF\xBF\xBD(end"));
  simdjson::dom::element second = parser.parse(lines[1]);
  REQUIRE(second["level"].get(level) == simdjson::SUCCESS);
  CHECK(level == "warning");
  REQUIRE(second["message"].get(message) == simdjson::SUCCESS);
  CHECK(message == "\"}{\"level\":\"error\",\"message\":\"forged");
}

TEST_CASE("logging: journal priority prefixes") {
  CapturedLog log(LogOptions{.level = "trace", .format = "journal"});
  spdlog::trace("t");
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
  spdlog::info("one\nline \xff");
  CHECK(log.text() ==
        "<7>t\n<7>d\n<6>i\n<4>w\n<3>e\n<2>c\n"
        "<6>one\\nline \xEF\xBF\xBD\n");
}

TEST_CASE("logging: journal stream detection") {
  StderrToFile err;
  const std::string match = err.journal_stream();
  CHECK(is_journal_stream(err.fd(), match.c_str()));
  CHECK(is_journal_stream(STDERR_FILENO, match.c_str()));

  struct stat st {};
  REQUIRE(fstat(err.fd(), &st) == 0);
  const std::string other_inode = fmt::format("{}:{}", st.st_dev, st.st_ino + 1);
  const std::string other_device = fmt::format("{}:{}", st.st_dev + 1, st.st_ino);
  CHECK_FALSE(is_journal_stream(err.fd(), other_inode.c_str()));
  CHECK_FALSE(is_journal_stream(err.fd(), other_device.c_str()));
  CHECK_FALSE(is_journal_stream(err.fd(), nullptr));
  for (const char* bad : {"", ":", "12", "12:", ":34", "12:34x", "x12:34", "-1:-1", "1:2:3"}) {
    CHECK_FALSE(is_journal_stream(err.fd(), bad));
  }
  CHECK_FALSE(is_journal_stream(-1, match.c_str()));
}

TEST_CASE("logging: auto format picks the journal when stderr is the journal stream") {
  DefaultLoggerGuard guard;
  std::string error;
  {
    StderrToFile err;
    {
      EnvVar journal("JOURNAL_STREAM", err.journal_stream().c_str());
      REQUIRE(setup_logging(LogOptions{.format = "auto"}, error));
      spdlog::warn("to the journal {}", 1);
      spdlog::info("info");
      CHECK(err.text() == "<4>to the journal 1\n<6>info\n");
    }
    {
      EnvVar journal("JOURNAL_STREAM", "1:2");
      REQUIRE(setup_logging(LogOptions{.format = "auto"}, error));
      spdlog::info("plain");
      const auto lines = split_lines(err.text());
      REQUIRE(lines.size() == 3);
      std::smatch m;
      REQUIRE(std::regex_match(lines[2], m, kTextLine));
      CHECK(m[1] == "info");  // a file is no terminal: no colour codes
      CHECK(m[2] == "plain");
    }
    REQUIRE(setup_logging(LogOptions{.level = "warn", .format = "text"}, error));
  }
}

TEST_CASE("logging: repeats are rate limited with a summary after the interval") {
  CapturedLog log(LogOptions{
      .format = "text", .rate_limit_burst = 3, .rate_limit_interval = std::chrono::seconds(60)});
  for (int i = 1; i <= 10; ++i) {
    spdlog::warn("fetch failed: attempt {}", i);  // one key: digits are collapsed
    log.advance(1s);
  }
  spdlog::warn("other message");
  log.advance(50s);  // 60 s after the first line
  spdlog::warn("fetch failed: attempt {}", 11);
  spdlog::warn("fetch failed: attempt {}", 12);
  CHECK(log.lines() == std::vector<std::string>{
                           "2026-11-26T20:00:00.123Z warning fetch failed: attempt 1",
                           "2026-11-26T20:00:01.123Z warning fetch failed: attempt 2",
                           "2026-11-26T20:00:02.123Z warning fetch failed: attempt 3",
                           "2026-11-26T20:00:10.123Z warning other message",
                           "2026-11-26T20:01:00.123Z warning fetch failed: attempt 11 "
                           "(7 similar messages suppressed in the last 60 s)",
                           "2026-11-26T20:01:00.123Z warning fetch failed: attempt 12",
                       });
}

TEST_CASE("logging: a suppressed count is reported by the next line of any key") {
  CapturedLog log(LogOptions{
      .format = "json", .rate_limit_burst = 1, .rate_limit_interval = std::chrono::seconds(30)});
  const auto tid = spdlog::details::os::thread_id();
  spdlog::error("disk full on /var/lib/{}", 1);
  spdlog::error("disk full on /var/lib/{}", 2);  // suppressed
  log.advance(29s);
  spdlog::info("unrelated");  // the error's interval is not over yet: nothing to report
  log.advance(1s);
  spdlog::info("another");  // it is now: its summary comes first
  spdlog::info("another");  // suppressed
  auto lines = log.lines();
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == fmt::format("{{\"time\":\"2026-11-26T20:00:00.123Z\",\"level\":\"error\","
                                "\"message\":\"disk full on /var/lib/1\",\"thread\":{}}}",
                                tid));
  CHECK(lines[1] == fmt::format("{{\"time\":\"2026-11-26T20:00:29.123Z\",\"level\":\"info\","
                                "\"message\":\"unrelated\",\"thread\":{}}}",
                                tid));
  // At the suppressed lines' level, with the last suppressed text.
  CHECK(lines[2] ==
        fmt::format("{{\"time\":\"2026-11-26T20:00:30.123Z\",\"level\":\"error\","
                    "\"message\":\"disk full on /var/lib/2 (1 similar message suppressed in the "
                    "last 30 s)\",\"thread\":{},\"suppressed\":1}}",
                    tid));
  CHECK(lines[3] == fmt::format("{{\"time\":\"2026-11-26T20:00:30.123Z\",\"level\":\"info\","
                                "\"message\":\"another\",\"thread\":{}}}",
                                tid));
  log.advance(30s);
  spdlog::info("another");  // its own interval is over: reports its suppressed line itself
  log.advance(1s);
  spdlog::error("disk full on /var/lib/{}", 3);  // count already reported: a plain line
  spdlog::error("disk full on /var/lib/{}", 4);  // suppressed
  log.advance(30s);
  spdlog::info("unrelated");  // reports it, then itself
  lines = log.lines();
  REQUIRE(lines.size() == 8);
  CHECK(lines[4].find("\"message\":\"another (1 similar message suppressed in the last 30 s)\","
                      "\"thread\":") != std::string::npos);
  CHECK(lines[5].find("\"message\":\"disk full on /var/lib/3\",") != std::string::npos);
  CHECK(lines[6].find("\"level\":\"error\",\"message\":\"disk full on /var/lib/4 (1 similar "
                      "message suppressed in the last 30 s)\",") != std::string::npos);
  CHECK(lines[7].find("\"message\":\"unrelated\",") != std::string::npos);
}

TEST_CASE("logging: each level has its own allowance, errors included") {
  CapturedLog log(LogOptions{.format = "journal", .rate_limit_burst = 2});
  for (int i = 0; i < 5; ++i) spdlog::warn("upstream down");
  for (int i = 0; i < 5; ++i) spdlog::error("upstream down");
  CHECK(log.text() == "<4>upstream down\n<4>upstream down\n<3>upstream down\n<3>upstream down\n");
}

TEST_CASE("logging: burst 0 disables rate limiting") {
  CapturedLog log(LogOptions{.format = "journal", .rate_limit_burst = 0});
  for (int i = 0; i < 100; ++i) spdlog::info("same {}", i);
  CHECK(log.lines().size() == 100);
}

TEST_CASE("logging: registered secrets never appear, in any format") {
  const std::string token = "tw-test-token-Zq81\"x\\y";  // with characters JSON escapes
  const std::string password = "tw-test-password-4417";
  register_secret(token);
  register_secret(password);
  register_secret("tw-test-password");  // a prefix of another secret: the longer one wins
  register_secret("abc");               // too short: ignored
  for (const char* format : {"text", "json", "journal"}) {
    CAPTURE(format);
    CapturedLog log(LogOptions{.format = format});
    spdlog::info("Authorization: Splunk {}", token);
    spdlog::warn("sasl {}:{} failed", password, password);
    spdlog::error("{}{}", token, "tw-test-password x");
    spdlog::info("abc stays");
    const std::string out = log.text();
    CHECK(out.find("tw-test-token") == std::string::npos);
    CHECK(out.find("tw-test-password") == std::string::npos);
    CHECK(out.find("Zq81") == std::string::npos);
    CHECK(out.find("Authorization: Splunk ***") != std::string::npos);
    CHECK(out.find("sasl ***:*** failed") != std::string::npos);
    CHECK(out.find("****** x") != std::string::npos);
    CHECK(out.find("abc stays") != std::string::npos);
  }
}

TEST_CASE("logging: secrets are masked before rate limiting") {
  register_secret("tw-test-secret-one");
  register_secret("tw-test-secret-two");
  CapturedLog log(LogOptions{.format = "journal", .rate_limit_burst = 1});
  spdlog::info("token tw-test-secret-one rejected");
  spdlog::info("token tw-test-secret-two rejected");  // same line once masked
  log.advance(60s);
  spdlog::info("done");
  CHECK(log.text() ==
        "<6>token *** rejected\n"
        "<6>token *** rejected (1 similar message suppressed in the last 60 s)\n"
        "<6>done\n");
}

TEST_CASE("logging: setup can be called again to reconfigure") {
  CapturedLog log(LogOptions{.format = "text"});
  spdlog::logger* const logger = spdlog::default_logger_raw();
  spdlog::info("one");
  std::string error;
  REQUIRE(setup_logging_for_test(LogOptions{.level = "debug", .format = "journal"}, log.stream(),
                                 log.clock(), error));
  CHECK(spdlog::default_logger_raw() == logger);  // same logger, reconfigured in place
  spdlog::debug("two");

  CHECK_FALSE(
      setup_logging_for_test(LogOptions{.level = "loud"}, log.stream(), log.clock(), error));
  CHECK(error == "unknown log level 'loud' (trace, debug, info, warn, error or off)");
  CHECK_FALSE(
      setup_logging_for_test(LogOptions{.format = "xml"}, log.stream(), log.clock(), error));
  CHECK(error == "unknown log format 'xml' (text, json, journal or auto)");
  CHECK_FALSE(setup_logging_for_test(LogOptions{.rate_limit_interval = std::chrono::seconds(0)},
                                     log.stream(), log.clock(), error));
  CHECK(error == "the log rate-limit interval must be positive");
  spdlog::debug("three");  // nothing changed

  // The start-up form changes only the level.
  CHECK_FALSE(setup_logging("loud"));
  spdlog::debug("four");
  CHECK(setup_logging("warn"));
  spdlog::info("five");
  spdlog::warn("six");
  CHECK(spdlog::default_logger_raw() == logger);
  CHECK(log.text() == "2026-11-26T20:00:00.123Z info one\n<7>two\n<7>three\n<7>four\n<4>six\n");
}

TEST_CASE("logging: filtered-out calls are not formatted") {
  CapturedLog log(LogOptions{.level = "warn", .format = "text"});
  g_probe_formatted = 0;
  spdlog::info("{}", Probe{});
  spdlog::debug("{}", Probe{});
  CHECK(g_probe_formatted == 0);
  spdlog::warn("{}", Probe{});
  CHECK(g_probe_formatted == 1);
  CHECK(log.text() == "2026-11-26T20:00:00.123Z warning probe\n");
}

TEST_CASE("logging: concurrent threads write whole lines and share the rate limit") {
  CapturedLog log(LogOptions{.format = "text", .rate_limit_burst = 5});
  constexpr int kThreads = 4;
  constexpr int kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) {
        spdlog::info("worker {} line {}", t, i);  // one shared key
        spdlog::info("worker-{} {}", std::string(1, static_cast<char>('a' + t)), i);  // per thread
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = log.lines();
  CHECK(lines.size() == 5 + kThreads * 5);
  for (const auto& line : lines) {
    std::smatch m;
    CHECK(std::regex_match(line, m, kTextLine));
  }
}
