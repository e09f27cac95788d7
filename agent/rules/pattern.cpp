// Parser for CloudWatch Logs filter patterns. A hand-written recursive-descent parser: the
// language is small, and this way every error can say exactly which column is wrong and why.
#include "agent/rules/pattern.h"

#include "agent/rules/regex.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace trailwarden::rules {

std::string ParseError::to_string() const { return fmt::format("column {}: {}", column, message); }

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_selector_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '-' || c == ':' || c == '@' || u >= 0x80;
}

// Strict numeric literal: [+-] digits [. digits] [e [+-] digits], or [+-] . digits ...
bool parse_number(std::string_view s, Value& v) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++int_digits;
  bool fraction = false, exponent = false;
  if (i < s.size() && s[i] == '.') {
    fraction = true;
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != s.size()) return false;
  std::string copy(s[0] == '+' ? s.substr(1) : s);
  char* end = nullptr;
  double d = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(d)) return false;
  v.kind = Value::Kind::kNumber;
  v.text = std::string(s);
  v.number = d;
  v.is_integer = false;
  if (!fraction && !exponent) {
    int64_t n = 0;
    auto r = std::from_chars(copy.data(), copy.data() + copy.size(), n);
    if (r.ec == std::errc() && r.ptr == copy.data() + copy.size()) {
      v.is_integer = true;
      v.integer = n;
    }
  }
  return true;
}

// Splits `*` wildcards off a string value. A lone `*` (or "*") means any value.
Value make_string_value(std::string text) {
  Value v;
  if (text == "*") {
    v.kind = Value::Kind::kAny;
    return v;
  }
  v.kind = Value::Kind::kString;
  if (!text.empty() && text.front() == '*') {
    v.leading_wildcard = true;
    text.erase(0, 1);
  }
  if (!text.empty() && text.back() == '*') {
    v.trailing_wildcard = true;
    text.pop_back();
  }
  v.text = std::move(text);
  return v;
}

}  // namespace

class PatternParser {
 public:
  explicit PatternParser(std::string_view src) : src_(src) {}

  // A selector alone ("$.a.b[0]", surrounding spaces allowed), as JSON patterns parse it.
  std::optional<std::vector<PathStep>> run_selector(ParseError* error) {
    Term t;
    bool ok = parse_selector(t);
    if (ok) {
      skip_space();
      if (!at_end()) ok = fail(pos_, fmt::format("unexpected {} after the selector", describe_here()));
    }
    if (!ok) {
      if (error) *error = error_;
      return std::nullopt;
    }
    return std::move(t.path);
  }

  std::optional<Pattern> run(ParseError* error) {
    Pattern p;
    p.source_ = std::string(src_);
    skip_space();
    bool ok;
    if (peek() == '{') {
      p.kind_ = Pattern::Kind::kJson;
      ok = parse_json(p);
    } else if (peek() == '[') {
      p.kind_ = Pattern::Kind::kSpaceDelimited;
      ok = parse_space_delimited(p);
    } else {
      p.kind_ = Pattern::Kind::kText;
      ok = parse_text(p);
    }
    if (!ok) {
      if (error) *error = error_;
      return std::nullopt;
    }
    return p;
  }

 private:
  // ---- helpers ----
  char peek(size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }
  bool at_end() const { return pos_ >= src_.size(); }
  void skip_space() {
    while (!at_end() && is_space(src_[pos_])) ++pos_;
  }
  bool starts_with(std::string_view s) const { return src_.substr(pos_).starts_with(s); }
  bool fail(size_t at, std::string message) {
    if (!failed_) {
      error_.column = at + 1;
      error_.message = std::move(message);
      failed_ = true;
    }
    return false;
  }
  std::string describe_here() const {
    if (at_end()) return "the end of the pattern";
    size_t n = std::min<size_t>(12, src_.size() - pos_);
    return fmt::format("'{}'", src_.substr(pos_, n));
  }

  // Reads a double-quoted string starting at the opening quote. Backslash escapes the next
  // character (\" and \\); other characters are taken literally.
  bool read_quoted(std::string& out) {
    size_t open = pos_;
    ++pos_;
    out.clear();
    while (!at_end()) {
      char c = src_[pos_];
      if (c == '\\' && pos_ + 1 < src_.size()) {
        out.push_back(src_[pos_ + 1]);
        pos_ += 2;
        continue;
      }
      if (c == '"') {
        ++pos_;
        return true;
      }
      out.push_back(c);
      ++pos_;
    }
    return fail(open, "unterminated quoted string (missing closing '\"')");
  }

  // Reads %regex% starting at the opening '%'.
  bool read_regex(Value& v) {
    size_t open = pos_;
    ++pos_;
    std::string body;
    while (!at_end() && src_[pos_] != '%') {
      if (src_[pos_] == '\\' && pos_ + 1 < src_.size()) body.push_back(src_[pos_++]);
      body.push_back(src_[pos_++]);
    }
    if (at_end()) return fail(open, "unterminated regular expression (missing closing '%')");
    ++pos_;
    if (body.empty()) return fail(open, "empty regular expression");
    for (char c : body) {
      if (c == '(' || c == ')')
        return fail(open, "regular expressions may not use groups '(' ')' (CloudWatch Logs "
                          "does not support them)");
    }
    std::string regex_error;
    v.kind = Value::Kind::kRegex;
    v.text = body;
    v.regex = Regex::compile(body, regex_error);
    if (!v.regex)
      return fail(open, fmt::format("invalid regular expression %{}%: {}", body, regex_error));
    ++regex_count_;
    if (regex_count_ > 2)
      return fail(open, "at most 2 regular expressions are allowed in one pattern");
    return true;
  }

  // ---- JSON patterns ----
  bool parse_json(Pattern& p) {
    size_t open = pos_;
    ++pos_;  // '{'
    skip_space();
    if (peek() == '}') return fail(pos_, "empty JSON pattern: expected a condition such as $.eventName = X");
    if (!parse_or(p.expr_, /*space_mode=*/false)) return false;
    skip_space();
    if (at_end()) return fail(open, "missing closing '}' for the '{' here");
    if (peek() != '}')
      return fail(pos_, fmt::format("expected '&&', '||', ')' or '}}', found {}", describe_here()));
    ++pos_;
    skip_space();
    if (!at_end()) return fail(pos_, fmt::format("unexpected text after the closing '}}': {}", describe_here()));
    return true;
  }

  // or := and ('||' and)*
  bool parse_or(Expr& out, bool space_mode) {
    Expr first;
    if (!parse_and(first, space_mode)) return false;
    skip_space();
    if (!starts_with("||")) {
      out = std::move(first);
      return true;
    }
    out = Expr{};
    out.type = Expr::Type::kOr;
    out.children.push_back(std::move(first));
    while (true) {
      skip_space();
      if (!starts_with("||")) break;
      pos_ += 2;
      Expr next;
      if (!parse_and(next, space_mode)) return false;
      out.children.push_back(std::move(next));
    }
    return true;
  }

  // and := primary ('&&' primary)*
  bool parse_and(Expr& out, bool space_mode) {
    Expr first;
    if (!parse_primary(first, space_mode)) return false;
    skip_space();
    if (!starts_with("&&")) {
      out = std::move(first);
      return true;
    }
    out = Expr{};
    out.type = Expr::Type::kAnd;
    out.children.push_back(std::move(first));
    while (true) {
      skip_space();
      if (!starts_with("&&")) break;
      pos_ += 2;
      Expr next;
      if (!parse_primary(next, space_mode)) return false;
      out.children.push_back(std::move(next));
    }
    return true;
  }

  bool parse_primary(Expr& out, bool space_mode) {
    skip_space();
    if (peek() == '(') {
      size_t open = pos_;
      ++pos_;
      if (!parse_or(out, space_mode)) return false;
      skip_space();
      if (peek() != ')') {
        if (at_end() || peek() == '}' || peek() == ']' || peek() == ',')
          return fail(open, "missing closing ')' for the '(' here");
        return fail(pos_, fmt::format("expected '&&', '||' or ')', found {}", describe_here()));
      }
      ++pos_;
      return true;
    }
    out.type = Expr::Type::kTerm;
    return space_mode ? parse_space_term(out.term) : parse_json_term(out.term);
  }

  bool parse_json_term(Term& t) {
    if (!parse_selector(t)) return false;
    return parse_condition_tail(t);
  }

  // `$` and its steps, into t.path and t.selector_text.
  bool parse_selector(Term& t) {
    skip_space();
    size_t start = pos_;
    if (peek() != '$') {
      return fail(pos_, fmt::format("expected a selector starting with '$.' or '(', found {}",
                                    describe_here()));
    }
    ++pos_;
    if (peek() != '.' && peek() != '[')
      return fail(pos_, "expected '.' or '[' after '$' (a selector looks like $.a.b[0])");
    while (peek() == '.' || peek() == '[') {
      PathStep step;
      if (peek() == '.') {
        ++pos_;
        size_t name_start = pos_;
        while (!at_end() && is_selector_char(src_[pos_])) ++pos_;
        if (pos_ == name_start)
          return fail(pos_, fmt::format("expected a property name after '.', found {}", describe_here()));
        step.key = std::string(src_.substr(name_start, pos_ - name_start));
      } else {
        if (pos_ == start + 1)
          return fail(pos_, "an array index must follow a property name, as in $.items[0]");
        ++pos_;
        size_t num_start = pos_;
        while (!at_end() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
        if (pos_ == num_start || peek() != ']')
          return fail(num_start, "expected a non-negative integer index and ']'");
        std::from_chars(src_.data() + num_start, src_.data() + pos_, step.index);
        step.is_index = true;
        ++pos_;
      }
      t.path.push_back(std::move(step));
    }
    t.selector_text = std::string(src_.substr(start, pos_ - start));
    return true;
  }

  // After a selector: an operator and value, or IS NULL|TRUE|FALSE, or NOT EXISTS.
  bool parse_condition_tail(Term& t) {
    skip_space();
    auto word_is = [&](std::string_view w) {
      if (src_.size() - pos_ < w.size()) return false;
      for (size_t i = 0; i < w.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(src_[pos_ + i])) != w[i]) return false;
      char after = peek(w.size());
      return !(std::isalnum(static_cast<unsigned char>(after)) || after == '_');
    };
    if (word_is("IS")) {
      size_t is_pos = pos_;
      pos_ += 2;
      skip_space();
      if (word_is("NULL")) t.kind = Term::Kind::kIsNull, pos_ += 4;
      else if (word_is("TRUE")) t.kind = Term::Kind::kIsTrue, pos_ += 4;
      else if (word_is("FALSE")) t.kind = Term::Kind::kIsFalse, pos_ += 5;
      else if (word_is("NOT"))
        return fail(is_pos, "'IS NOT' is not supported by CloudWatch Logs; use '!=' or 'NOT EXISTS'");
      else
        return fail(pos_, fmt::format("expected NULL, TRUE or FALSE after IS, found {}", describe_here()));
      return true;
    }
    if (word_is("NOT")) {
      size_t not_pos = pos_;
      pos_ += 3;
      skip_space();
      if (!word_is("EXISTS"))
        return fail(not_pos, "expected 'NOT EXISTS'");
      pos_ += 6;
      t.kind = Term::Kind::kNotExists;
      return true;
    }
    if (word_is("EXISTS"))
      return fail(pos_, "'EXISTS' is not supported by CloudWatch Logs; use '= *' to test that a "
                        "property has a value");
    return parse_operator_and_value(t, /*space_mode=*/false);
  }

  bool parse_operator_and_value(Term& t, bool space_mode) {
    size_t op_pos = pos_;
    if (starts_with("!=")) t.op = CompareOp::kNe, pos_ += 2;
    else if (starts_with("<=")) t.op = CompareOp::kLe, pos_ += 2;
    else if (starts_with(">=")) t.op = CompareOp::kGe, pos_ += 2;
    else if (starts_with("=")) t.op = CompareOp::kEq, pos_ += 1;
    else if (starts_with("<")) t.op = CompareOp::kLt, pos_ += 1;
    else if (starts_with(">")) t.op = CompareOp::kGt, pos_ += 1;
    else {
      return fail(pos_, fmt::format("expected an operator (=, !=, <, <=, >, >=){} after {}, found {}",
                                    space_mode ? "" : ", IS or NOT EXISTS", t.selector_text,
                                    describe_here()));
    }
    std::string_view op_text = src_.substr(op_pos, pos_ - op_pos);
    skip_space();
    size_t value_pos = pos_;
    if (!parse_value(t.value, space_mode, op_text)) return false;
    bool relational = t.op != CompareOp::kEq && t.op != CompareOp::kNe;
    if (relational && t.value.kind != Value::Kind::kNumber)
      return fail(value_pos, fmt::format("operator '{}' compares numbers, but the value is not a "
                                         "number",
                                         op_text));
    return true;
  }

  // A value: "quoted", %regex%, or a bare word running to the next ')', '}', '&&' or '||'
  // (and ',' or ']' in space-delimited patterns), trimmed.
  bool parse_value(Value& v, bool space_mode, std::string_view op_text) {
    if (peek() == '"') {
      std::string s;
      if (!read_quoted(s)) return false;
      v = make_string_value(std::move(s));
      return true;
    }
    if (peek() == '%') return read_regex(v);
    size_t start = pos_;
    while (!at_end()) {
      char c = src_[pos_];
      if (c == ')' || c == '}' || starts_with("&&") || starts_with("||")) break;
      if (space_mode && (c == ',' || c == ']')) break;
      if (c == '"' || c == '(' || c == '{' || c == '=' || c == '<' || c == '>' ||
          (c == '!' && peek(1) == '='))
        return fail(pos_, fmt::format("unexpected '{}' in a value; put values with special "
                                      "characters in double quotes",
                                      c));
      ++pos_;
    }
    std::string_view word = src_.substr(start, pos_ - start);
    while (!word.empty() && is_space(word.back())) word.remove_suffix(1);
    if (word.empty())
      return fail(start, fmt::format("expected a value after '{}', found {}", op_text, describe_here()));
    if (parse_number(word, v)) return true;
    v = make_string_value(std::string(word));
    return true;
  }

  // ---- space-delimited patterns ----
  bool parse_space_delimited(Pattern& p) {
    size_t open = pos_;
    ++pos_;  // '['
    while (true) {
      skip_space();
      if (at_end()) return fail(open, "missing closing ']' for the '[' here");
      SpaceField field;
      if (starts_with("...")) {
        field.ellipsis = true;
        pos_ += 3;
      } else {
        size_t name_start = pos_;
        while (!at_end() && is_selector_char(src_[pos_])) ++pos_;
        if (pos_ == name_start)
          return fail(pos_, fmt::format("expected a field name or '...', found {}", describe_here()));
        field.name = std::string(src_.substr(name_start, pos_ - name_start));
        skip_space();
        if (at_end()) return fail(open, "missing closing ']' for the '[' here");
        if (peek() != ',' && peek() != ']') {
          // The column's condition: the first term's selector is the field name just read.
          Expr cond;
          Term first;
          first.selector_text = field.name;
          first.path.push_back(PathStep{false, field.name, 0});
          if (!parse_operator_and_value(first, /*space_mode=*/true)) return false;
          cond.type = Expr::Type::kTerm;
          cond.term = std::move(first);
          if (!continue_space_condition(cond)) return false;
          field.condition = std::move(cond);
        }
      }
      p.fields_.push_back(std::move(field));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        break;
      }
      return fail(pos_, fmt::format("expected ',' or ']', found {}", describe_here()));
    }
    skip_space();
    if (!at_end()) return fail(pos_, fmt::format("unexpected text after the closing ']': {}", describe_here()));
    return true;
  }

  // Continues a column condition whose first term is already parsed: `&& t` / `|| t` chains.
  bool continue_space_condition(Expr& first) {
    // Build an and/or tree with the usual precedence from a flat sequence.
    std::vector<Expr> or_parts;
    Expr current_and = std::move(first);
    while (true) {
      skip_space();
      bool is_and = starts_with("&&"), is_or = starts_with("||");
      if (!is_and && !is_or) break;
      pos_ += 2;
      Expr next;
      if (!parse_primary(next, /*space_mode=*/true)) return false;
      if (is_and) {
        if (current_and.type != Expr::Type::kAnd) {
          Expr wrap;
          wrap.type = Expr::Type::kAnd;
          wrap.children.push_back(std::move(current_and));
          current_and = std::move(wrap);
        }
        current_and.children.push_back(std::move(next));
      } else {
        or_parts.push_back(std::move(current_and));
        current_and = std::move(next);
      }
    }
    if (or_parts.empty()) {
      first = std::move(current_and);
    } else {
      or_parts.push_back(std::move(current_and));
      Expr e;
      e.type = Expr::Type::kOr;
      e.children = std::move(or_parts);
      first = std::move(e);
    }
    return true;
  }

  bool parse_space_term(Term& t) {
    skip_space();
    size_t start = pos_;
    while (!at_end() && is_selector_char(src_[pos_])) ++pos_;
    if (pos_ == start)
      return fail(pos_, fmt::format("expected a field name, found {}", describe_here()));
    t.selector_text = std::string(src_.substr(start, pos_ - start));
    t.path.push_back(PathStep{false, t.selector_text, 0});
    skip_space();
    return parse_operator_and_value(t, /*space_mode=*/true);
  }

  // ---- text patterns ----
  bool parse_text(Pattern& p) {
    while (true) {
      skip_space();
      if (at_end()) break;
      TextTerm term;
      size_t term_pos = pos_;
      if (peek() == '?') {
        term.mode = TextTerm::Mode::kOptional;
        ++pos_;
      } else if (peek() == '-') {
        term.mode = TextTerm::Mode::kExcluded;
        ++pos_;
        skip_space();  // `- "Exiting"` excludes the phrase that follows
      }
      if (at_end() || is_space(peek()))
        return fail(term_pos, "expected a term after '?' or '-'");
      if (peek() == '"') {
        if (!read_quoted(term.text)) return false;
        if (term.text.find_first_not_of(" \t") == std::string::npos) {
          // "" and " " match every event.
          if (term.mode == TextTerm::Mode::kExcluded)
            return fail(term_pos, "an excluded term may not be empty");
          continue;
        }
      } else if (peek() == '%') {
        Value v;
        if (!read_regex(v)) return false;
        term.text = v.text;
        term.regex = v.regex;
      } else {
        size_t start = pos_;
        while (!at_end() && !is_space(src_[pos_])) {
          if (src_[pos_] == '"')
            return fail(pos_, "unexpected '\"' inside a term; quote the whole phrase");
          ++pos_;
        }
        term.text = std::string(src_.substr(start, pos_ - start));
      }
      p.text_terms_.push_back(std::move(term));
    }
    return true;
  }

  std::string_view src_;
  size_t pos_ = 0;
  int regex_count_ = 0;
  bool failed_ = false;
  ParseError error_;
};

std::optional<Pattern> Pattern::parse(std::string_view source, ParseError* error) {
  return PatternParser(source).run(error);
}

std::optional<std::vector<PathStep>> parse_json_selector(std::string_view text, ParseError* error) {
  return PatternParser(text).run_selector(error);
}

}  // namespace trailwarden::rules
