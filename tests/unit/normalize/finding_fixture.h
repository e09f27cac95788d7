// The normalizer tests' fixture: a built-in rule by id, and a Finding made through make_alert
// (as the pipeline calls it) from a record's JSON text, read back with JSON pointers. Absent
// values read as "<absent>" (strings) or -12345 (integers).
#pragma once

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <string_view>

#include "agent/normalize/ocsf.h"
#include "agent/rules/matcher.h"

namespace trailwarden::test {

inline rules::Rule rule_by_id(const std::string& id) {
  for (auto& r : rules::load_builtin_pack("cis-aws-foundations"))
    if (r.id == id) return r;
  FAIL("rule missing");
  return {};
}

struct Finding {
  simdjson::dom::parser parser;
  simdjson::dom::element f;
  std::string text;
  explicit Finding(const std::string& record, const std::string& rule_id = "cis-4.9",
                   const RecordOrigin& origin = {}) {
    simdjson::dom::parser rp;
    simdjson::dom::element rec;
    REQUIRE(rp.parse(record).get(rec) == simdjson::SUCCESS);
    text = make_alert(rule_by_id(rule_id), record, &rec, OcsfOptions{}, origin).ocsf;
    REQUIRE(parser.parse(text).get(f) == simdjson::SUCCESS);
  }
  bool has(std::string_view pointer) {
    simdjson::dom::element e;
    return f.at_pointer(pointer).get(e) == simdjson::SUCCESS;
  }
  std::string s(std::string_view pointer) {
    std::string_view v;
    if (f.at_pointer(pointer).get_string().get(v) != simdjson::SUCCESS) return "<absent>";
    return std::string(v);
  }
  int64_t i(std::string_view pointer) {
    int64_t v = -12345;
    if (f.at_pointer(pointer).get_int64().get(v) != simdjson::SUCCESS) return -12345;
    return v;
  }
};

}  // namespace trailwarden::test
