#include "agent/aws/time_util.h"

#include <cstdio>

namespace trailwarden::aws {
namespace {

// system_clock counts nanoseconds in 64 bits: 1677-09-21 to 2262-04-11. A peer's date outside
// 1970-2199 (a Date header, a credential Expiration) is refused, never converted: converting it
// would overflow (undefined behaviour; tests/fuzz/aws_input_fuzz.cpp found it).
bool representable_year(int y) { return y >= 1970 && y < 2200; }

struct Civil {
  int year, month, day, hour, minute, second;
};

Civil to_civil(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto days = floor<std::chrono::days>(secs);
  const year_month_day ymd{sys_days{days}};
  const hh_mm_ss hms{secs - days};
  return {static_cast<int>(ymd.year()),
          static_cast<int>(unsigned(ymd.month())),
          static_cast<int>(unsigned(ymd.day())),
          static_cast<int>(hms.hours().count()),
          static_cast<int>(hms.minutes().count()),
          static_cast<int>(hms.seconds().count())};
}

// Reads exactly n digits at s[pos]; advances pos.
bool digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

}  // namespace

std::string format_amz_date(TimePoint t) {
  const Civil c = to_civil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", c.year, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

std::string format_http_date(TimePoint t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const Civil c = to_civil(t);
  const std::chrono::weekday wd{std::chrono::floor<std::chrono::days>(t)};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[wd.c_encoding()],
                c.day, kMonths[c.month - 1], c.year, c.hour, c.minute, c.second);
  return buf;
}

std::string format_iso8601(TimePoint t) {
  const Civil c = to_civil(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

bool parse_iso8601(std::string_view s, TimePoint& out) {
  using namespace std::chrono;
  size_t pos = 0;
  int y, mo, d, h, mi, sec;
  const bool extended = s.size() > 4 && s[4] == '-';
  if (!digits(s, pos, 4, y)) return false;
  if (extended && !expect(s, pos, '-')) return false;
  if (!digits(s, pos, 2, mo)) return false;
  if (extended && !expect(s, pos, '-')) return false;
  if (!digits(s, pos, 2, d)) return false;
  if (!expect(s, pos, 'T') && !expect(s, pos, 't')) return false;
  if (!digits(s, pos, 2, h)) return false;
  if (extended && !expect(s, pos, ':')) return false;
  if (!digits(s, pos, 2, mi)) return false;
  if (extended && !expect(s, pos, ':')) return false;
  if (!digits(s, pos, 2, sec)) return false;
  nanoseconds frac{0};
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    int64_t scale = 100000000;
    size_t n = 0;
    int64_t ns = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        ns += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
      ++n;
    }
    if (n == 0 || n > 18) return false;
    frac = nanoseconds{ns};
  }
  minutes offset{0};
  if (expect(s, pos, 'Z') || expect(s, pos, 'z')) {
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!digits(s, pos, 2, oh)) return false;
    expect(s, pos, ':');
    if (!digits(s, pos, 2, om)) return false;
    if (oh > 23 || om > 59) return false;
    offset = minutes{sign * (oh * 60 + om)};
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60) return false;
  if (!representable_year(y)) return false;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  const auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + frac - offset;
  out = time_point_cast<system_clock::duration>(tp);
  return true;
}

bool parse_http_date(std::string_view s, TimePoint& out) {
  using namespace std::chrono;
  // "Sun, 06 Nov 1994 08:49:37 GMT": exactly 29 bytes.
  static constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29) return false;
  bool day_name = false;
  for (auto d : kDays) day_name = day_name || s.substr(0, 3) == d;
  if (!day_name || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s.substr(25) != " GMT")
    return false;
  int d, y, h, mi, sec;
  size_t pos = 5;
  if (!digits(s, pos, 2, d)) return false;
  unsigned mo = 0;
  for (unsigned i = 0; i < 12; ++i)
    if (s.substr(8, 3) == kMonths[i]) mo = i + 1;
  if (mo == 0) return false;
  pos = 12;
  if (!digits(s, pos, 4, y)) return false;
  pos = 17;
  if (!digits(s, pos, 2, h) || !expect(s, pos, ':') || !digits(s, pos, 2, mi) ||
      !expect(s, pos, ':') || !digits(s, pos, 2, sec))
    return false;
  if (h > 23 || mi > 59 || sec > 60) return false;
  if (!representable_year(y)) return false;
  const year_month_day ymd{year{y}, month{mo}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  out = time_point_cast<system_clock::duration>(sys_days{ymd} + hours{h} + minutes{mi} +
                                                seconds{sec});
  return true;
}

}  // namespace trailwarden::aws
