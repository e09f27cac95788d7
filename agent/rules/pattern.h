// Pattern: one compiled CloudWatch Logs filter pattern (the language of metric and
// subscription filters), in any of its three forms:
//   JSON             { ($.eventSource = "config.amazonaws.com") && ($.errorCode NOT EXISTS) }
//   text             ERROR -ARGUMENTS ?"quoted phrase"
//   space-delimited  [ip, user, ..., status_code = 4*, bytes > 1000]
// See docs/filter-patterns.md for the grammar and for every choice made where AWS's
// documentation is silent. A Pattern is immutable after parse() and safe to use from many
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace simdjson::dom {
class element;
}

namespace trailwarden::rules {

class Regex;

// Where and why a pattern failed to parse. column is 1-based, counted in bytes.
struct ParseError {
  size_t column = 0;
  std::string message;
  std::string to_string() const;  // "column 12: expected ..."
};

// One step of a JSON selector: `.name` or `[index]`.
struct PathStep {
  bool is_index = false;
  std::string key;
  size_t index = 0;
};

// A literal value on the right of a comparison.
struct Value {
  enum class Kind {
    kString,  // text, with optional leading/trailing `*` wildcards
    kNumber,  // bare numeric literal: compared numerically
    kAny,     // a lone `*` or "*": any value
    kRegex,   // %regex%
  };
  Kind kind = Kind::kString;
  std::string text;  // string without wildcard stars; number or regex source text
  bool leading_wildcard = false;
  bool trailing_wildcard = false;
  double number = 0;
  bool is_integer = false;  // number fits int64 exactly and had no fraction or exponent
  int64_t integer = 0;
  std::shared_ptr<const Regex> regex;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

// A leaf of a JSON or space-delimited condition.
struct Term {
  enum class Kind { kCompare, kIsNull, kIsTrue, kIsFalse, kNotExists };
  Kind kind = Kind::kCompare;
  std::string selector_text;   // as written, for messages
  std::vector<PathStep> path;  // JSON: the steps after `$`; space-delimited: one key step
  CompareOp op = CompareOp::kEq;
  Value value;
};

// A boolean tree of terms.
struct Expr {
  enum class Type { kAnd, kOr, kTerm };
  Type type = Type::kTerm;
  std::vector<Expr> children;  // kAnd / kOr
  Term term;                   // kTerm
};

// One word of a text pattern.
struct TextTerm {
  enum class Mode { kRequired, kOptional, kExcluded };  // plain, ?term, -term
  Mode mode = Mode::kRequired;
  std::string text;  // the term or phrase, matched as a substring (case-sensitive)
  std::shared_ptr<const Regex> regex;  // set for %regex% terms
};

// One column of a space-delimited pattern.
struct SpaceField {
  bool ellipsis = false;          // `...`: any number of fields
  std::string name;               // field name (w1, ip, ...)
  std::optional<Expr> condition;  // conditions written in this column
};

// A necessary condition for a pattern to match an event, on the event's raw text: every
// clause must have at least one of its literals occurring in the text. An empty list of
// clauses means "no condition" (the pattern must always be evaluated).
struct Requirement {
  std::vector<std::vector<std::string>> clauses;
  // True for JSON patterns: the literals describe JSON-encoded text, so an event whose raw text
  // contains escape sequences that could spell them differently (\uXXXX, \/) must be evaluated
  // regardless.
  bool json_encoded = false;
  bool unconstrained() const { return clauses.empty(); }
};

class Pattern {
 public:
  enum class Kind { kJson, kText, kSpaceDelimited };

  // Parses a filter pattern. Returns nullopt and fills *error on a syntax error.
  static std::optional<Pattern> parse(std::string_view source, ParseError* error);

  Kind kind() const { return kind_; }
  const std::string& source() const { return source_; }

  // Evaluates the pattern against one log event. `raw` is the event's text; `json` is its
  // parsed form, or nullptr when the event is not a JSON object (a JSON pattern never matches
  // such an event; text and space-delimited patterns use `raw` only).
  bool matches(std::string_view raw, const simdjson::dom::element* json) const;

  // A necessary condition on the raw text, used by the prefilter to skip parsing.
  Requirement requirement() const;

  // Structure, for tests and tools.
  const Expr* json_expr() const { return kind_ == Kind::kJson ? &expr_ : nullptr; }

 private:
  Kind kind_ = Kind::kText;
  std::string source_;
  Expr expr_;                        // kJson
  std::vector<TextTerm> text_terms_; // kText (empty list matches everything)
  std::vector<SpaceField> fields_;   // kSpaceDelimited

  friend class PatternParser;
};

// Selectors outside patterns (a metric's value and dimensions, agent/alarms/metric_value.h).
// Parses "$.a.b[0]" exactly as a JSON pattern's selector; nullopt and *error when it is not one.
std::optional<std::vector<PathStep>> parse_json_selector(std::string_view text, ParseError* error);
// Walks `path` from `root` as JSON patterns do; false when a step is missing or does not fit
// (a key on a non-object, an index past the end or on a non-array).
bool select_json(const simdjson::dom::element& root, const std::vector<PathStep>& path,
                 simdjson::dom::element& out);
// A string that CloudWatch compares as a number: a plain decimal (sign, digits, optional
// fraction; no exponent, at most 64 characters).
bool decimal_string_to_number(std::string_view text, double& out);

}  // namespace trailwarden::rules
