#include "agent/common/logging.h"

#include <spdlog/details/os.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <vector>

#include "agent/common/json_writer.h"
#include "agent/common/log_rate_limiter.h"

namespace trailwarden {

namespace {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

enum class Format { kText, kJson, kJournal, kAuto };

std::optional<Format> parse_format(std::string_view s) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  if (s == "journal") return Format::kJournal;
  if (s == "auto") return Format::kAuto;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view s) {
  auto lvl = spdlog::level::from_str(std::string(s));
  if (lvl == spdlog::level::off && s != "off") return std::nullopt;
  return lvl;
}

// The registered secrets, longest first (so a secret containing another is masked whole).
// Copy-on-write: a log line takes a reference under the mutex and masks without it.
class SecretRegistry {
 public:
  void add(std::string value) {
    if (value.size() < 4) return;
    std::lock_guard lock(mu_);
    if (list_ && std::find(list_->begin(), list_->end(), value) != list_->end()) return;
    auto next = list_ ? std::make_shared<std::vector<std::string>>(*list_)
                      : std::make_shared<std::vector<std::string>>();
    next->push_back(std::move(value));
    std::stable_sort(next->begin(), next->end(), [](const std::string& a, const std::string& b) {
      return a.size() > b.size();
    });
    list_ = std::move(next);
  }

  void mask(std::string& text) const {
    std::shared_ptr<const std::vector<std::string>> list;
    {
      std::lock_guard lock(mu_);
      list = list_;
    }
    if (!list) return;
    for (const std::string& secret : *list) {
      for (size_t pos = text.find(secret); pos != std::string::npos;
           pos = text.find(secret, pos + 3)) {
        text.replace(pos, secret.size(), "***");
      }
    }
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<std::string>> list_;
};

// Never destroyed: threads may still log while static destructors run at exit.
SecretRegistry& secrets() {
  static auto* registry = new SecretRegistry;
  return *registry;
}

void append_timestamp(std::string& out, std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis);
}

// Appends `s` so that it stays on one line and is valid UTF-8: \n and \r as "\n" and "\r",
// other control characters (tab excepted) as "\xNN", invalid UTF-8 as U+FFFD.
void append_one_line(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c >= 0x20 && c < 0x7f) || c == '\t') {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c >= 0x80) {
      const size_t len = utf8_sequence_length(s, i);
      if (len) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out.append("\xEF\xBF\xBD");
        ++i;
      }
    } else {
      if (c == '\n') {
        out.append("\\n");
      } else if (c == '\r') {
        out.append("\\r");
      } else {
        out.append("\\x");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      }
      ++i;
    }
  }
}

std::string_view level_name(spdlog::level::level_enum level) {
  auto name = spdlog::level::to_string_view(level);
  return {name.data(), name.size()};
}

// sd-daemon(3) priority prefixes.
std::string_view journal_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return "<2>";
    case spdlog::level::err:
      return "<3>";
    case spdlog::level::warn:
      return "<4>";
    case spdlog::level::info:
      return "<6>";
    default:
      return "<7>";
  }
}

// The same colours spdlog's colour sinks use.
std::string_view level_color(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "\033[37m";
    case spdlog::level::debug:
      return "\033[36m";
    case spdlog::level::info:
      return "\033[32m";
    case spdlog::level::warn:
      return "\033[33m\033[1m";
    case spdlog::level::err:
      return "\033[31m\033[1m";
    case spdlog::level::critical:
      return "\033[1m\033[41m";
    default:
      return "";
  }
}

// Where lines go and how they look; replaced as a whole by OperatorSink::configure.
struct SinkSettings {
  Format format = Format::kText;  // never kAuto
  bool color = false;             // text only
  std::FILE* file = nullptr;      // exactly one of file and stream
  std::ostream* stream = nullptr;
  WallClock now;  // empty: spdlog's stamp and the steady clock
  size_t burst = 10;
  std::chrono::seconds interval{60};
};

// The one sink of the process logger: masks secrets, rate-limits, formats, writes. Owned by the
// logger (and by the set-up state below, to reconfigure it); base_sink's mutex serializes log
// calls and reconfiguration.
class OperatorSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  OperatorSink() : limiter_(10, std::chrono::seconds(60)) {}

  void configure(SinkSettings settings, bool reset_limiter) {
    std::lock_guard lock(mutex_);
    if (reset_limiter) {
      limiter_ = LogRateLimiter(settings.burst, settings.interval);
    } else {
      limiter_.reconfigure(settings.burst, settings.interval);
    }
    settings_ = std::move(settings);
  }

  bool in_test_mode() {
    std::lock_guard lock(mutex_);
    return settings_.stream != nullptr || settings_.now;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.assign(msg.payload.data(), msg.payload.size());
    secrets().mask(text_);

    std::chrono::system_clock::time_point wall;
    LogRateLimiter::Time mono;
    if (settings_.now) {
      wall = settings_.now();
      mono = wall.time_since_epoch();
    } else {
      wall = msg.time;
      mono = std::chrono::steady_clock::now().time_since_epoch();
    }

    due_.clear();
    const auto verdict = limiter_.admit(msg.level, text_, mono, due_);
    line_.clear();
    for (const auto& s : due_) {
      append_line(static_cast<spdlog::level::level_enum>(s.level), wall, msg.thread_id, s.example,
                  s.suppressed);
    }
    if (verdict) append_line(msg.level, wall, msg.thread_id, text_, *verdict);
    if (line_.empty()) return;
    if (settings_.file) {
      std::fwrite(line_.data(), 1, line_.size(), settings_.file);
      std::fflush(settings_.file);
    } else if (settings_.stream) {
      settings_.stream->write(line_.data(), static_cast<std::streamsize>(line_.size()));
      settings_.stream->flush();
    }
  }

  void flush_() override {
    if (settings_.file) std::fflush(settings_.file);
    if (settings_.stream) settings_.stream->flush();
  }

 private:
  void append_line(spdlog::level::level_enum level, std::chrono::system_clock::time_point wall,
                   size_t thread_id, std::string_view text, uint64_t suppressed) {
    std::string suffix;
    if (suppressed > 0) {
      suffix = fmt::format(" ({} similar message{} suppressed in the last {} s)", suppressed,
                           suppressed == 1 ? "" : "s", settings_.interval.count());
    }
    switch (settings_.format) {
      case Format::kJson: {
        JsonWriter w(line_);
        w.begin_object().key("time");
        std::string time;
        append_timestamp(time, wall);
        w.value(time).field("level", level_name(level)).key("message");
        if (suffix.empty()) {
          w.value(text);
        } else {
          w.value(std::string(text) + suffix);
        }
        w.field("thread", static_cast<uint64_t>(thread_id));
        if (suppressed > 0) w.field("suppressed", suppressed);
        w.end_object();
        break;
      }
      case Format::kJournal:
        line_.append(journal_prefix(level));
        append_one_line(line_, text);
        line_.append(suffix);
        break;
      case Format::kText:
      case Format::kAuto:
        append_timestamp(line_, wall);
        line_.push_back(' ');
        if (settings_.color) line_.append(level_color(level));
        line_.append(level_name(level));
        if (settings_.color) line_.append("\033[m");
        line_.push_back(' ');
        append_one_line(line_, text);
        line_.append(suffix);
        break;
    }
    line_.push_back('\n');
  }

  SinkSettings settings_;
  LogRateLimiter limiter_;
  // Scratch buffers, kept to reuse their capacity.
  std::string text_;
  std::string line_;
  std::vector<LogRateLimiter::Summary> due_;
};

// The process logger and its sink, created by the first set-up call. Never destroyed (see
// secrets()).
struct LoggingState {
  std::mutex mu;
  std::shared_ptr<OperatorSink> sink;
  std::shared_ptr<spdlog::logger> logger;
};

LoggingState& logging_state() {
  static auto* state = new LoggingState;
  return *state;
}

// Creates the logger if needed and makes it the default one. Caller holds state.mu.
void install_logger(LoggingState& state) {
  if (!state.sink) {
    state.sink = std::make_shared<OperatorSink>();
    state.logger = std::make_shared<spdlog::logger>("trailwarden", state.sink);
  }
  if (spdlog::default_logger_raw() != state.logger.get()) spdlog::set_default_logger(state.logger);
}

// Validates `options`; on success fills `level` and `format`.
bool validate(const LogOptions& options, spdlog::level::level_enum& level, Format& format,
              std::string& error) {
  auto lvl = parse_level(options.level);
  if (!lvl) {
    error = fmt::format("unknown log level '{}' (trace, debug, info, warn, error or off)",
                        options.level);
    return false;
  }
  auto fmt_kind = parse_format(options.format);
  if (!fmt_kind) {
    error = fmt::format("unknown log format '{}' (text, json, journal or auto)", options.format);
    return false;
  }
  if (options.rate_limit_burst > 0 && options.rate_limit_interval.count() <= 0) {
    error = "the log rate-limit interval must be positive";
    return false;
  }
  level = *lvl;
  format = *fmt_kind;
  return true;
}

SinkSettings stderr_settings(const LogOptions& options, Format format) {
  SinkSettings s;
  if (format == Format::kAuto) {
    format = is_journal_stream(STDERR_FILENO, std::getenv("JOURNAL_STREAM")) ? Format::kJournal
                                                                             : Format::kText;
  }
  s.format = format;
  s.color = format == Format::kText && std::getenv("NO_COLOR") == nullptr &&
            spdlog::details::os::in_terminal(stderr) && spdlog::details::os::is_color_terminal();
  s.file = stderr;
  s.burst = options.rate_limit_burst;
  s.interval = options.rate_limit_interval;
  return s;
}

}  // namespace

bool is_journal_stream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  std::string_view v(journal_stream);
  const size_t colon = v.find(':');
  if (colon == std::string_view::npos) return false;
  uintmax_t dev = 0;
  uintmax_t ino = 0;
  const char* end = v.data() + v.size();
  auto r1 = std::from_chars(v.data(), v.data() + colon, dev);
  auto r2 = std::from_chars(v.data() + colon + 1, end, ino);
  if (r1.ec != std::errc() || r1.ptr != v.data() + colon || r2.ec != std::errc() || r2.ptr != end ||
      colon == 0 || colon + 1 == v.size()) {
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == dev && static_cast<uintmax_t>(st.st_ino) == ino;
}

bool setup_logging(const LogOptions& options, std::string& error) {
  spdlog::level::level_enum level;
  Format format;
  if (!validate(options, level, format, error)) return false;
  auto& state = logging_state();
  std::lock_guard lock(state.mu);
  const bool was_test = state.sink && state.sink->in_test_mode();
  install_logger(state);
  state.sink->configure(stderr_settings(options, format), was_test);
  state.logger->set_level(level);
  return true;
}

bool setup_logging(std::string_view level) {
  auto lvl = parse_level(level);
  if (!lvl) return false;
  auto& state = logging_state();
  std::lock_guard lock(state.mu);
  if (!state.sink) {
    LogOptions defaults;
    install_logger(state);
    state.sink->configure(stderr_settings(defaults, Format::kAuto), false);
  }
  install_logger(state);
  state.logger->set_level(*lvl);
  return true;
}

void register_secret(std::string value) { secrets().add(std::move(value)); }

void mask_secrets(std::string& text) { secrets().mask(text); }

bool setup_logging_for_test(const LogOptions& options, std::ostream& out,
                            std::function<std::chrono::system_clock::time_point()> now,
                            std::string& error) {
  spdlog::level::level_enum level;
  Format format;
  if (!validate(options, level, format, error)) return false;
  SinkSettings s;
  s.format = format == Format::kAuto ? Format::kText : format;
  s.stream = &out;
  s.now = std::move(now);
  s.burst = options.rate_limit_burst;
  s.interval = options.rate_limit_interval;
  auto& state = logging_state();
  std::lock_guard lock(state.mu);
  install_logger(state);
  state.sink->configure(std::move(s), true);
  state.logger->set_level(level);
  return true;
}

}  // namespace trailwarden
