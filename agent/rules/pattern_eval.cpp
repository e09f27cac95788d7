// Evaluation of compiled filter patterns against events.
#include <simdjson.h>

#include <charconv>
#include <cstring>

#include "agent/rules/pattern.h"
#include "agent/rules/regex.h"

namespace trailwarden::rules {

bool select_json(const simdjson::dom::element& root, const std::vector<PathStep>& path,
                 simdjson::dom::element& out) {
  simdjson::dom::element cur = root;
  for (const auto& step : path) {
    if (step.is_index) {
      simdjson::dom::array arr;
      if (cur.get_array().get(arr) != simdjson::SUCCESS) return false;
      if (arr.at(step.index).get(cur) != simdjson::SUCCESS) return false;
    } else {
      simdjson::dom::object obj;
      if (cur.get_object().get(obj) != simdjson::SUCCESS) return false;
      if (obj.at_key(step.key).get(cur) != simdjson::SUCCESS) return false;
    }
  }
  out = cur;
  return true;
}

namespace {

// What a selector resolved to, reduced to what comparisons need.
struct Scalar {
  enum class Type { kMissing, kContainer, kString, kNumber, kBool, kNull };
  Type type = Type::kMissing;
  std::string_view text;  // string content, or the textual form of a number / bool / null
  double number = 0;
  bool is_integer = false;
  int64_t integer = 0;
  bool boolean = false;
  char storage[32];  // backing store for `text` of numbers
};

Scalar resolve_json(const simdjson::dom::element& root, const std::vector<PathStep>& path) {
  Scalar s;
  simdjson::dom::element cur;
  if (!select_json(root, path, cur)) return s;  // missing
  switch (cur.type()) {
    case simdjson::dom::element_type::OBJECT:
    case simdjson::dom::element_type::ARRAY:
      s.type = Scalar::Type::kContainer;
      break;
    case simdjson::dom::element_type::STRING:
      s.type = Scalar::Type::kString;
      s.text = cur.get_string().value_unsafe();
      break;
    case simdjson::dom::element_type::INT64: {
      s.type = Scalar::Type::kNumber;
      s.integer = cur.get_int64().value_unsafe();
      s.is_integer = true;
      s.number = static_cast<double>(s.integer);
      auto r = std::to_chars(s.storage, s.storage + sizeof s.storage, s.integer);
      s.text = std::string_view(s.storage, r.ptr - s.storage);
      break;
    }
    case simdjson::dom::element_type::UINT64: {
      s.type = Scalar::Type::kNumber;
      uint64_t u = cur.get_uint64().value_unsafe();
      s.number = static_cast<double>(u);
      auto r = std::to_chars(s.storage, s.storage + sizeof s.storage, u);
      s.text = std::string_view(s.storage, r.ptr - s.storage);
      break;
    }
    case simdjson::dom::element_type::DOUBLE: {
      s.type = Scalar::Type::kNumber;
      s.number = cur.get_double().value_unsafe();
      auto r = std::to_chars(s.storage, s.storage + sizeof s.storage, s.number);
      s.text = std::string_view(s.storage, r.ptr - s.storage);
      break;
    }
    case simdjson::dom::element_type::BOOL:
      s.type = Scalar::Type::kBool;
      s.boolean = cur.get_bool().value_unsafe();
      s.text = s.boolean ? "true" : "false";
      break;
    case simdjson::dom::element_type::NULL_VALUE:
      s.type = Scalar::Type::kNull;
      s.text = "null";
      break;
  }
  return s;
}

// A string is taken as a number when it is a plain decimal (sign, digits, optional fraction):
// CloudWatch does not treat strings in scientific notation as numbers.
bool string_as_number(std::string_view text, double& d, bool& is_integer, int64_t& integer) {
  if (text.empty() || text.size() > 64) return false;
  size_t i = 0;
  if (text[0] == '-' || text[0] == '+') ++i;
  size_t digits = 0;
  bool fraction = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (c == '.' && !fraction) {
      fraction = true;
    } else {
      return false;
    }
  }
  if (digits == 0) return false;
  std::string copy(text[0] == '+' ? text.substr(1) : text);
  char* end = nullptr;
  d = std::strtod(copy.c_str(), &end);
  is_integer = false;
  if (!fraction) {
    auto r = std::from_chars(copy.data(), copy.data() + copy.size(), integer);
    is_integer = r.ec == std::errc() && r.ptr == copy.data() + copy.size();
  }
  return true;
}

bool compare_numbers(CompareOp op, double a, bool a_int, int64_t ai, const Value& v) {
  int cmp;
  if (a_int && v.is_integer) {
    cmp = ai < v.integer ? -1 : (ai > v.integer ? 1 : 0);
  } else {
    cmp = a < v.number ? -1 : (a > v.number ? 1 : 0);
  }
  switch (op) {
    case CompareOp::kEq: return cmp == 0;
    case CompareOp::kNe: return cmp != 0;
    case CompareOp::kLt: return cmp < 0;
    case CompareOp::kLe: return cmp <= 0;
    case CompareOp::kGt: return cmp > 0;
    case CompareOp::kGe: return cmp >= 0;
  }
  return false;
}

bool glob_match(std::string_view text, const Value& v) {
  std::string_view needle = v.text;
  if (v.leading_wildcard && v.trailing_wildcard) return text.find(needle) != std::string_view::npos;
  if (v.leading_wildcard) return text.ends_with(needle);
  if (v.trailing_wildcard) return text.starts_with(needle);
  return text == needle;
}

bool evaluate_term(const Term& t, const Scalar& s) {
  switch (t.kind) {
    case Term::Kind::kNotExists: return s.type == Scalar::Type::kMissing;
    case Term::Kind::kIsNull: return s.type == Scalar::Type::kNull;
    case Term::Kind::kIsTrue: return s.type == Scalar::Type::kBool && s.boolean;
    case Term::Kind::kIsFalse: return s.type == Scalar::Type::kBool && !s.boolean;
    case Term::Kind::kCompare: break;
  }
  // A comparison applies only to a value node: missing properties, objects and arrays never
  // match, whatever the operator.
  if (s.type == Scalar::Type::kMissing || s.type == Scalar::Type::kContainer) return false;
  const Value& v = t.value;
  const bool negate = t.op == CompareOp::kNe;
  switch (v.kind) {
    case Value::Kind::kAny:
      return !negate;
    case Value::Kind::kRegex: {
      bool found = v.regex->search(s.text);
      return negate ? !found : found;
    }
    case Value::Kind::kNumber: {
      if (s.type == Scalar::Type::kNumber)
        return compare_numbers(t.op, s.number, s.is_integer, s.integer, v);
      double d = 0;
      bool is_int = false;
      int64_t i = 0;
      if (s.type == Scalar::Type::kString && string_as_number(s.text, d, is_int, i))
        return compare_numbers(t.op, d, is_int, i, v);
      return negate;  // not a number: never equal, never ordered
    }
    case Value::Kind::kString: {
      bool found = glob_match(s.text, v);
      return negate ? !found : found;
    }
  }
  return false;
}

template <typename Resolve>
bool evaluate(const Expr& e, const Resolve& resolve) {
  switch (e.type) {
    case Expr::Type::kAnd:
      for (const auto& c : e.children)
        if (!evaluate(c, resolve)) return false;
      return true;
    case Expr::Type::kOr:
      for (const auto& c : e.children)
        if (evaluate(c, resolve)) return true;
      return false;
    case Expr::Type::kTerm:
      return evaluate_term(e.term, resolve(e.term));
  }
  return false;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Splits a space-delimited log line: runs of spaces separate fields; text inside [] or ""
// is one field (without its brackets or quotes).
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i >= line.size()) break;
    char c = line[i];
    if (c == '[' || c == '"') {
      char close = c == '[' ? ']' : '"';
      size_t end = line.find(close, i + 1);
      if (end != std::string_view::npos) {
        out.push_back(line.substr(i + 1, end - i - 1));
        i = end + 1;
        continue;
      }
    }
    size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

struct SpaceMatcher {
  const std::vector<SpaceField>& fields;
  const std::vector<std::string_view>& words;
  std::vector<std::pair<std::string_view, std::string_view>> bound;  // name -> value

  Scalar lookup(const Term& t) const {
    Scalar s;
    for (const auto& [name, value] : bound) {
      if (iequals(name, t.path[0].key)) {
        s.type = Scalar::Type::kString;
        s.text = value;
        return s;
      }
    }
    return s;
  }

  bool conditions_hold() const {
    auto resolve = [this](const Term& t) { return lookup(t); };
    for (const auto& f : fields)
      if (f.condition && !evaluate(*f.condition, resolve)) return false;
    return true;
  }

  // Binds fields[fi..] to words[wi..]; ellipses absorb any number of words.
  bool align(size_t fi, size_t wi) {
    if (fi == fields.size()) return wi == words.size() && conditions_hold();
    const SpaceField& f = fields[fi];
    if (f.ellipsis) {
      for (size_t k = wi; k <= words.size(); ++k)
        if (align(fi + 1, k)) return true;
      return false;
    }
    if (wi >= words.size()) return false;
    bound.emplace_back(f.name, words[wi]);
    bool ok = align(fi + 1, wi + 1);
    bound.pop_back();
    return ok;
  }
};

}  // namespace

bool decimal_string_to_number(std::string_view text, double& out) {
  bool is_integer = false;
  int64_t integer = 0;
  return string_as_number(text, out, is_integer, integer);
}

bool Pattern::matches(std::string_view raw, const simdjson::dom::element* json) const {
  switch (kind_) {
    case Kind::kJson: {
      if (json == nullptr || !json->is_object()) return false;
      auto resolve = [json](const Term& t) { return resolve_json(*json, t.path); };
      return evaluate(expr_, resolve);
    }
    case Kind::kText: {
      bool any_optional = false, optional_found = false;
      for (const auto& t : text_terms_) {
        bool found = t.regex ? t.regex->search(raw)
                             : raw.find(t.text) != std::string_view::npos;
        switch (t.mode) {
          case TextTerm::Mode::kRequired:
            if (!found) return false;
            break;
          case TextTerm::Mode::kExcluded:
            if (found) return false;
            break;
          case TextTerm::Mode::kOptional:
            any_optional = true;
            optional_found = optional_found || found;
            break;
        }
      }
      return !any_optional || optional_found;
    }
    case Kind::kSpaceDelimited: {
      // Events are single lines in CloudWatch; here a newline inside an event acts as a space.
      std::vector<std::string_view> words = split_fields(raw);
      SpaceMatcher m{fields_, words, {}};
      return m.align(0, 0);
    }
  }
  return false;
}

}  // namespace trailwarden::rules
