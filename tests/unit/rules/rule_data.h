// Loads the CloudTrail records of tests/data/cloudtrail as (file, index) -> JSON text, for the
// rule-pack and prefilter tests.
#pragma once

#include <simdjson.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/test_util.h"

namespace trailwarden::test {

struct SampleRecord {
  std::string file;
  size_t index;
  std::string json;  // compact JSON text of the record
};

inline std::vector<SampleRecord> load_sample_records() {
  static const char* kFiles[] = {
      "awsdocs_config.json", "awsdocs_console_signin.json", "awsdocs_kms.json",
      "awsdocs_log_file_examples.json", "awsdocs_s3.json", "awsdocs_tutorial.json",
      "synthetic_cis_edge_cases.json", "odd_records.json", "panther_cloudtrail_rule_tests.ndjson"};
  std::vector<SampleRecord> out;
  simdjson::dom::parser parser;
  for (const char* f : kFiles) {
    std::string text = read_data(std::string("cloudtrail/") + f);
    if (std::string(f).ends_with(".ndjson")) {
      size_t pos = 0, index = 0;
      while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.empty()) continue;
        simdjson::dom::element e = parser.parse(line);
        out.push_back({f, index++, simdjson::to_string(e["record"])});
      }
    } else {
      simdjson::dom::element doc = parser.parse(text);
      size_t index = 0;
      for (simdjson::dom::element r : doc["Records"].get_array())
        out.push_back({f, index++, simdjson::to_string(r)});
    }
  }
  return out;
}

}  // namespace trailwarden::test
