#include "agent/aws/profile.h"

#include "agent/http/http.h"

namespace trailwarden::aws {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Cuts a comment that starts with whitespace followed by '#' or ';'.
std::string_view strip_inline_comment(std::string_view s) {
  for (size_t i = 1; i < s.size(); ++i) {
    if ((s[i] == '#' || s[i] == ';') && is_ws(s[i - 1])) return s.substr(0, i);
  }
  return s;
}

}  // namespace

bool parse_profile_file(std::string_view text, ProfileFileKind kind, std::string_view origin,
                        Profiles& out, std::string& error, Profiles* sso_sessions) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // Config file: "[profile default]" wins over "[default]" whichever comes first, so the two
  // are collected apart and merged at the end.
  Profiles prefixed;
  Profile plain_default;
  bool saw_prefixed_default = false;
  bool saw_plain_default = false;
  Profile* current = nullptr;         // nullptr: before any section, or in an ignored section
  bool in_section = false;            // a section header was seen (ignored or not)
  std::string* last_value = nullptr;  // the property an indented line continues
  size_t line_no = 0;
  size_t pos = 0;
  auto fail = [&](const std::string& what) {
    error = std::string(origin) + ":" + std::to_string(line_no) + ": " + what;
    return false;
  };
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view t = trim(line);
    if (t.empty() || t.front() == '#' || t.front() == ';') continue;
    if (is_ws(line.front())) {
      // Continuation of the previous property.
      if (!in_section) continue;
      if (last_value == nullptr) {
        if (current == nullptr) continue;  // inside an ignored section
        return fail("indented line without a property to continue");
      }
      *last_value += '\n';
      *last_value += trim(strip_inline_comment(t));
      continue;
    }
    if (t.front() == '[') {
      const size_t close = t.find(']');
      if (close == std::string_view::npos) return fail("section header without ']'");
      const std::string_view after = trim(t.substr(close + 1));
      if (!after.empty() && after.front() != '#' && after.front() != ';') {
        return fail("unexpected text after section header");
      }
      const std::string_view name = trim(t.substr(1, close - 1));
      if (name.empty()) return fail("empty section name");
      in_section = true;
      last_value = nullptr;
      current = nullptr;
      if (kind == ProfileFileKind::kCredentials) {
        const bool prefixed_name = name.starts_with("profile") && name.size() > 7 && is_ws(name[7]);
        if (!prefixed_name) current = &prefixed[std::string(name)];
      } else if (name == "profile") {
        return fail("empty profile name");
      } else if (name == "default") {
        saw_plain_default = true;
        current = &plain_default;
      } else if (name.starts_with("profile") && name.size() > 7 && is_ws(name[7])) {
        const std::string_view profile = trim(name.substr(7));
        if (profile.empty()) return fail("empty profile name");
        if (profile == "default") saw_prefixed_default = true;
        current = &prefixed[std::string(profile)];
      } else if (sso_sessions != nullptr && name.starts_with("sso-session") && name.size() > 11 &&
                 is_ws(name[11])) {
        const std::string_view session = trim(name.substr(11));
        if (session.empty()) return fail("empty sso-session name");
        current = &(*sso_sessions)[std::string(session)];
      }
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string_view::npos) return fail("expected 'name = value'");
    const std::string key = ascii_lower(trim(t.substr(0, eq)));
    if (key.empty()) return fail("property without a name");
    if (!in_section || current == nullptr) {
      last_value = nullptr;
      continue;
    }
    std::string& value = (*current)[key];
    value = std::string(trim(strip_inline_comment(trim(t.substr(eq + 1)))));
    last_value = &value;
  }
  if (kind == ProfileFileKind::kConfig && saw_plain_default && !saw_prefixed_default) {
    prefixed["default"] = std::move(plain_default);
  }
  for (auto& [name, props] : prefixed) {
    Profile& dst = out[name];
    for (auto& [k, v] : props) dst[k] = std::move(v);
  }
  return true;
}

}  // namespace trailwarden::aws
