#include "agent/integrity/digest_key.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "agent/aws/names.h"

namespace trailwarden::integrity {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, p - start));
    start = p + 1;
  }
}

bool all_digits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

bool is_org_id(std::string_view s) {
  if (s.size() < 12 || s.size() > 34 || s.substr(0, 2) != "o-") return false;
  for (char c : s.substr(2))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

// Days from 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return int64_t{era} * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool valid_date(int y, int m, int d) {
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

// "YYYYMMDDTHHMMSSZ" -> epoch seconds.
bool parse_stamp(std::string_view s, int64_t& out, int& y, int& mo, int& d) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s.substr(0, 8), 8) ||
      !all_digits(s.substr(9, 6), 6))
    return false;
  y = to_int(s.substr(0, 4));
  mo = to_int(s.substr(4, 2));
  d = to_int(s.substr(6, 2));
  const int h = to_int(s.substr(9, 2)), mi = to_int(s.substr(11, 2)), se = to_int(s.substr(13, 2));
  if (!valid_date(y, mo, d) || h > 23 || mi > 59 || se > 59) return false;
  out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  return true;
}

std::string join_prefix(std::string_view prefix, std::string_view org_id, std::string_view account) {
  std::string out;
  if (!prefix.empty()) {
    out.append(prefix);
    out.push_back('/');
  }
  out.append("AWSLogs/");
  if (!org_id.empty()) {
    out.append(org_id);
    out.push_back('/');
  }
  out.append(account);
  out.push_back('/');
  return out;
}

}  // namespace

std::string DigestKey::chain() const {
  std::string c = prefix + "|" + org_id + "|" + account + "|" + source_region + "|" + trail + "|" +
                  home_region;
  if (backfill) c += "|backfill";
  return c;
}

bool parse_digest_key(std::string_view key, DigestKey& out, std::string& error) {
  out = {};
  auto fail = [&](const char* why) {
    error = std::string("not a CloudTrail digest key (") + why + ")";
    return false;
  };
  const size_t at = key.rfind("AWSLogs/");
  if (at == std::string_view::npos || (at != 0 && key[at - 1] != '/')) return fail("no AWSLogs/");
  const std::string_view prefix = at == 0 ? std::string_view{} : key.substr(0, at - 1);
  std::vector<std::string_view> parts = split(key.substr(at + 8), '/');
  // [o-id/]acct/CloudTrail-Digest/src/YYYY/MM/DD/name
  std::string_view org;
  if (parts.size() == 8 && is_org_id(parts[0])) {
    org = parts[0];
    parts.erase(parts.begin());
  }
  if (parts.size() != 7) return fail("wrong number of folders");
  const std::string_view account = parts[0], src = parts[2], name = parts[6];
  if (!all_digits(account, 12)) return fail("account is not 12 digits");
  if (parts[1] != "CloudTrail-Digest") return fail("no CloudTrail-Digest/ folder");
  if (!aws::is_valid_region(src)) return fail("source region is not a region name");
  if (!all_digits(parts[3], 4) || !all_digits(parts[4], 2) || !all_digits(parts[5], 2))
    return fail("date folders are not YYYY/MM/DD");
  // <acct>_CloudTrail-Digest_<src>_<trail>_<home>_<stamp>[_backfill].json.gz
  std::string_view rest = name;
  constexpr std::string_view kGz = ".json.gz";
  if (rest.size() <= kGz.size() || rest.substr(rest.size() - kGz.size()) != kGz)
    return fail("not .json.gz");
  rest.remove_suffix(kGz.size());
  bool backfill = false;
  constexpr std::string_view kBackfill = "_backfill";
  if (rest.size() > kBackfill.size() && rest.substr(rest.size() - kBackfill.size()) == kBackfill) {
    backfill = true;
    rest.remove_suffix(kBackfill.size());
  }
  const std::string lead = std::string(account) + "_CloudTrail-Digest_" + std::string(src) + "_";
  if (rest.substr(0, lead.size()) != lead) return fail("name does not start with <acct>_CloudTrail-Digest_<region>_");
  rest.remove_prefix(lead.size());
  // <trail>_<home>_<stamp>: the stamp and the home region are the last two fields; the trail
  // name may itself hold '_'.
  const size_t s2 = rest.rfind('_');
  if (s2 == std::string_view::npos) return fail("no timestamp");
  const std::string_view stamp = rest.substr(s2 + 1);
  rest = rest.substr(0, s2);
  const size_t s1 = rest.rfind('_');
  if (s1 == std::string_view::npos || s1 == 0) return fail("no trail name or home region");
  const std::string_view home = rest.substr(s1 + 1), trail = rest.substr(0, s1);
  if (!aws::is_valid_region(home)) return fail("home region is not a region name");
  int y = 0, mo = 0, d = 0;
  int64_t end = 0;
  if (!parse_stamp(stamp, end, y, mo, d)) return fail("bad timestamp");
  if (to_int(parts[3]) != y || to_int(parts[4]) != mo || to_int(parts[5]) != d)
    return fail("date folders differ from the timestamp");
  out.prefix = std::string(prefix);
  out.org_id = std::string(org);
  out.account = std::string(account);
  out.source_region = std::string(src);
  out.trail = std::string(trail);
  out.home_region = std::string(home);
  out.end = end;
  out.backfill = backfill;
  return true;
}

std::string digest_region_folder(std::string_view prefix, std::string_view org_id,
                                 std::string_view account, std::string_view source_region) {
  std::string out = join_prefix(prefix, org_id, account);
  out.append("CloudTrail-Digest/");
  out.append(source_region);
  out.push_back('/');
  return out;
}

std::string digest_day_folder(std::string_view prefix, std::string_view org_id,
                              std::string_view account, std::string_view source_region,
                              int64_t day_time) {
  std::string out = digest_region_folder(prefix, org_id, account, source_region);
  const std::string t = format_utc(day_time);  // YYYY-MM-DDT...
  out.append(t.substr(0, 4)).append("/").append(t.substr(5, 2)).append("/").append(t.substr(8, 2));
  out.push_back('/');
  return out;
}

std::string format_utc(int64_t t) {
  using namespace std::chrono;
  const sys_seconds tp{seconds{t}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace trailwarden::integrity
