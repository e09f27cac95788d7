#include "agent/aws/xml.h"

#include <cstdint>

namespace trailwarden::aws {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool all_ws(std::string_view s) {
  for (char c : s) {
    if (!is_ws(c)) return false;
  }
  return true;
}

bool is_name_char(char c) {
  return !is_ws(c) && c != '<' && c != '>' && c != '/' && c != '=' && c != '"' && c != '\'' &&
         c != '&' && c != '!' && c != '?';
}

bool valid_xml_char(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Appends `text` to `out` with entity and character references decoded.
bool decode_text(std::string_view text, std::string& out, std::string& error) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t amp = text.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, amp - i));
    const size_t semi = text.find(';', amp);
    if (semi == std::string_view::npos || semi - amp > 12) {
      error = "'&' that does not start a reference";
      return false;
    }
    const std::string_view ref = text.substr(amp + 1, semi - amp - 1);
    if (ref == "lt") {
      out += '<';
    } else if (ref == "gt") {
      out += '>';
    } else if (ref == "amp") {
      out += '&';
    } else if (ref == "quot") {
      out += '"';
    } else if (ref == "apos") {
      out += '\'';
    } else if (ref.size() >= 2 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) {
        error = "empty character reference";
        return false;
      }
      uint32_t cp = 0;
      for (char c : digits) {
        int v;
        if (c >= '0' && c <= '9') {
          v = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
          v = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
          v = c - 'A' + 10;
        } else {
          error = "malformed character reference";
          return false;
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        if (cp > 0x10FFFF) break;
      }
      if (!valid_xml_char(cp)) {
        error = "character reference to an invalid character";
        return false;
      }
      append_utf8(out, cp);
    } else {
      error = "unknown entity reference (only the five predefined ones are allowed)";
      return false;
    }
    i = semi + 1;
  }
  return true;
}

}  // namespace

bool parse_xml_leaves(std::string_view xml, std::vector<XmlLeaf>& out, std::string& error,
                      size_t max_depth) {
  struct Open {
    std::string_view name;  // as written, prefix included (end tags must repeat it)
    size_t path_len;        // length of `path` before this element was appended
    bool has_child = false;
    std::string text;
  };
  out.clear();
  std::vector<Open> stack;
  std::string path;
  bool seen_root = false;
  size_t i = 0;
  if (xml.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  auto fail = [&](std::string why) {
    error = "malformed XML at byte " + std::to_string(i) + ": " + std::move(why);
    return false;
  };
  while (i < xml.size()) {
    if (xml[i] != '<') {
      size_t next = xml.find('<', i);
      if (next == std::string_view::npos) next = xml.size();
      const std::string_view text = xml.substr(i, next - i);
      if (stack.empty()) {
        if (!all_ws(text)) return fail("text outside the root element");
      } else {
        std::string why;
        if (!decode_text(text, stack.back().text, why)) return fail(why);
      }
      i = next;
      continue;
    }
    const std::string_view rest = xml.substr(i);
    if (rest.starts_with("<?")) {
      const size_t end = xml.find("?>", i + 2);
      if (end == std::string_view::npos) return fail("unterminated processing instruction");
      i = end + 2;
      continue;
    }
    if (rest.starts_with("<!--")) {
      const size_t end = xml.find("-->", i + 4);
      if (end == std::string_view::npos) return fail("unterminated comment");
      i = end + 3;
      continue;
    }
    if (rest.starts_with("<![CDATA[")) {
      if (stack.empty()) return fail("CDATA outside the root element");
      const size_t end = xml.find("]]>", i + 9);
      if (end == std::string_view::npos) return fail("unterminated CDATA section");
      stack.back().text.append(xml.substr(i + 9, end - (i + 9)));
      i = end + 3;
      continue;
    }
    if (rest.starts_with("<!")) return fail("DOCTYPE and other declarations are not allowed");
    if (rest.starts_with("</")) {
      size_t j = i + 2;
      while (j < xml.size() && is_name_char(xml[j])) ++j;
      const std::string_view name = xml.substr(i + 2, j - (i + 2));
      while (j < xml.size() && is_ws(xml[j])) ++j;
      if (j >= xml.size() || xml[j] != '>') return fail("malformed end tag");
      if (stack.empty() || stack.back().name != name) {
        return fail("end tag </" + std::string(name.substr(0, 64)) + "> does not match");
      }
      Open& top = stack.back();
      if (!top.has_child) out.push_back({path, std::move(top.text)});
      path.resize(top.path_len);
      stack.pop_back();
      i = j + 1;
      continue;
    }
    // Start tag.
    size_t j = i + 1;
    while (j < xml.size() && is_name_char(xml[j])) ++j;
    const std::string_view name = xml.substr(i + 1, j - (i + 1));
    if (name.empty()) return fail("malformed start tag");
    if (stack.empty() && seen_root) return fail("more than one root element");
    bool self_closing = false;
    for (;;) {
      const size_t before_ws = j;
      while (j < xml.size() && is_ws(xml[j])) ++j;
      if (j >= xml.size()) return fail("truncated start tag");
      if (xml[j] == '>') {
        ++j;
        break;
      }
      if (xml.substr(j, 2) == "/>") {
        self_closing = true;
        j += 2;
        break;
      }
      if (j == before_ws) return fail("attributes must be separated by whitespace");
      const size_t attr_start = j;
      while (j < xml.size() && is_name_char(xml[j])) ++j;
      if (j == attr_start) return fail("malformed attribute");
      while (j < xml.size() && is_ws(xml[j])) ++j;
      if (j >= xml.size() || xml[j] != '=') return fail("attribute without a value");
      ++j;
      while (j < xml.size() && is_ws(xml[j])) ++j;
      if (j >= xml.size() || (xml[j] != '"' && xml[j] != '\'')) {
        return fail("unquoted attribute value");
      }
      const size_t close = xml.find(xml[j], j + 1);
      if (close == std::string_view::npos) return fail("unterminated attribute value");
      if (xml.substr(j + 1, close - j - 1).find('<') != std::string_view::npos) {
        return fail("'<' in an attribute value");
      }
      j = close + 1;
    }
    if (stack.size() >= max_depth) return fail("elements nested too deeply");
    if (!stack.empty()) stack.back().has_child = true;
    const size_t colon = name.rfind(':');
    const std::string_view local = colon == std::string_view::npos ? name : name.substr(colon + 1);
    if (local.empty()) return fail("empty element name");
    const size_t path_len = path.size();
    if (!path.empty()) path += '/';
    path += local;
    seen_root = true;
    if (self_closing) {
      out.push_back({path, std::string()});
      path.resize(path_len);
    } else {
      stack.push_back({name, path_len, false, std::string()});
    }
    i = j;
  }
  if (!stack.empty()) {
    return fail("document ends inside <" + std::string(stack.back().name.substr(0, 64)) + ">");
  }
  if (!seen_root) return fail("no root element");
  return true;
}

bool xml_leaf_text(const std::vector<XmlLeaf>& leaves, std::string_view path, std::string& out) {
  const XmlLeaf* found = nullptr;
  for (const XmlLeaf& leaf : leaves) {
    if (leaf.path != path) continue;
    if (found) return false;  // ambiguous
    found = &leaf;
  }
  if (!found) return false;
  out = found->text;
  return true;
}

}  // namespace trailwarden::aws
