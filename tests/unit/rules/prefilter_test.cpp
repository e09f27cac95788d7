// The prefilter must never hide a match: for every built-in rule and every sample record
// (and variants with escapes), prefilter + evaluation == evaluation alone.
#include "agent/rules/prefilter.h"

#include <doctest/doctest.h>

#include "agent/rules/matcher.h"
#include "agent/rules/rule.h"
#include "tests/unit/rules/rule_data.h"

using namespace trailwarden;
using namespace trailwarden::rules;

namespace {

// Escapes every character of every string value of `json` that is a letter as \u00XX.
std::string escape_letters(const std::string& json) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string && c == '\\') {
      out += c;
      out += json[++i];
      continue;
    }
    if (c == '"') in_string = !in_string;
    if (in_string && std::isalpha(static_cast<unsigned char>(c)) && i + 1 < json.size() && json[i + 1] != '"' &&
        out.size() > 0 && out.back() != '"') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

TEST_CASE("prefilter never hides a match (all rules, all samples, escaped variants)") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  // plus some user-style rules exercising every kind of requirement
  auto extra = load_rule_file(R"(
[[rules]]
id = "t-text"
title = "text"
pattern = 'ConsoleLogin ?Success ?Failure'
[[rules]]
id = "t-num"
title = "num"
pattern = '{ $.eventVersion = 1.08 }'
[[rules]]
id = "t-null"
title = "null"
pattern = '{ $.responseElements IS NULL && $.eventName = "ListBuckets" }'
[[rules]]
id = "t-ne"
title = "ne"
pattern = '{ $.eventType != AwsApiCall }'
)",
                              "extra", true);
  rules.insert(rules.end(), extra.begin(), extra.end());
  std::vector<const Rule*> all;
  for (const auto& r : rules) all.push_back(&r);
  RuleMatcher matcher(all);
  MatchSession session(matcher, DecodeLimits{});
  size_t compared = 0, matches = 0;
  auto check = [&](const std::string& json) {
    // Concatenate as a file would: the record at an offset inside a larger text.
    std::string text = "{\"Records\":[" + json + "]}" + std::string(64, '\0');
    std::string_view raw(text.data() + 12, json.size());
    session.begin(std::string_view(text.data(), text.size() - 64));
    std::vector<size_t> with_prefilter;
    bool parsed = session.match(raw, [&](size_t slot, std::string_view, const simdjson::dom::element*) {
      with_prefilter.push_back(slot);
    });
    REQUIRE(parsed);
    simdjson::dom::parser parser;
    simdjson::dom::element e = parser.parse(json);
    std::vector<size_t> direct;
    for (size_t i = 0; i < all.size(); ++i)
      if (all[i]->pattern->matches(json, &e)) direct.push_back(i);
    CAPTURE(json);
    CHECK(with_prefilter == direct);
    ++compared;
    matches += direct.size();
  };
  auto samples = test::load_sample_records();
  for (const auto& r : samples) {
    check(r.json);
    check(escape_letters(r.json));
  }
  CHECK(compared == 2 * samples.size());
  CHECK(matches > 200);
}

TEST_CASE("the prefilter skips records that cannot match, and only those") {
  auto rules = load_builtin_pack("cis-aws-foundations");
  std::vector<const Rule*> all;
  for (const auto& r : rules) all.push_back(&r);
  RuleMatcher matcher(all);
  CHECK(matcher.prefilter().always().empty());  // every CIS rule has a literal requirement
  MatchSession session(matcher, DecodeLimits{});
  size_t matched_records = 0;
  for (const auto& r : test::load_sample_records()) {
    std::string text = r.json + std::string(64, '\0');
    std::string_view raw(text.data(), r.json.size());
    session.begin(raw);
    bool any = false;
    session.match(raw, [&](size_t, std::string_view, const simdjson::dom::element*) { any = true; });
    matched_records += any;
  }
  const auto& c = session.counters();
  CHECK(c.evaluated >= matched_records);
  CHECK(c.evaluated < c.records);  // some records were never parsed
}

TEST_CASE("a record deeper than max_depth is reported, not evaluated") {
  auto rules = load_rule_file("[[rules]]\nid = \"r\"\ntitle = \"r\"\npattern = '{ $.a = x }'\n", "r", true);
  std::vector<const Rule*> all{&rules[0]};
  RuleMatcher matcher(all);
  DecodeLimits limits;
  limits.max_depth = 8;
  MatchSession session(matcher, limits);
  std::string rec = R"({"a":"x","b":[[[[[[[[[[1]]]]]]]]]]})";
  std::string text = rec + std::string(64, '\0');
  std::string_view raw(text.data(), rec.size());
  session.begin(raw);
  int n = 0;
  CHECK_FALSE(session.match(raw, [&](size_t, std::string_view, const simdjson::dom::element*) { ++n; }));
  CHECK(n == 0);
  CHECK(session.last_error().find("max_depth") != std::string::npos);
  CHECK(session.counters().parse_errors == 1);
}

TEST_CASE("hits are attributed to the record that contains them") {
  auto rules = load_rule_file(R"(
[[rules]]
id = "r"
title = "r"
pattern = '{ $.eventName = "StopLogging" }'
)",
                              "r", true);
  std::vector<const Rule*> all{&rules[0]};
  RuleMatcher matcher(all);
  MatchSession session(matcher, DecodeLimits{});
  const std::string a = R"({"eventName":"StopLogging"})";
  const std::string b = R"({"eventName":"StartLogging"})";
  const std::string text = "{\"Records\":[" + b + "," + a + "," + b + "]}" + std::string(64, '\0');
  session.begin(std::string_view(text.data(), text.size() - 64));
  std::vector<int> hits;
  size_t offset = 12;
  for (const std::string* r : {&b, &a, &b}) {
    int n = 0;
    session.match(std::string_view(text.data() + offset, r->size()),
                  [&](size_t, std::string_view, const simdjson::dom::element*) { ++n; });
    hits.push_back(n);
    offset += r->size() + 1;
  }
  CHECK(hits == std::vector<int>{0, 1, 0});
  CHECK(session.counters().evaluated == 1);
}
