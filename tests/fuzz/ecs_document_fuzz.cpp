// libFuzzer target: format = "ecs" (outputs/ecs_document.h) on hostile alerts. The input is
// split at NUL bytes into the OCSF finding, the CloudTrail record and a few of the alert's own
// fields (an alert decoded from a disk buffer anyone with the state directory's permissions can
// write carries any bytes there). Whatever they hold, the document must be one line of valid
// JSON whose root is an object, and building it must never crash or read out of bounds; the
// syslog-style summary likewise. Seeds (tests/fuzz/corpus/ecs_document): findings and records of
// `replay` over tests/data/cloudtrail (see its ATTRIBUTION.md), NUL-separated.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "outputs/ecs_document.h"

namespace {

void check(const std::string& doc) {
  if (doc.find('\n') != std::string::npos) std::abort();
  static simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(doc).get(root) != simdjson::SUCCESS || !root.is_object()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 7) {
    const size_t nul = input.find('\0', start);
    if (nul == std::string_view::npos) {
      parts.push_back(input.substr(start));
      break;
    }
    parts.push_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  parts.resize(7);
  trailwarden::AlertRecord a;
  a.ocsf = std::string(parts[0]);
  a.raw = std::string(parts[1]);
  a.uid = std::string(parts[2]);
  a.event_name = std::string(parts[3]);
  a.source_ip = std::string(parts[4]);
  a.bucket = std::string(parts[5]);
  a.key = std::string(parts[6]);
  a.rule_id = "fuzz";
  a.severity_id = size % 7;  // out of range too
  a.time_ms = size % 3 == 0 ? -static_cast<int64_t>(size) : static_cast<int64_t>(size) << 40;
  a.route = static_cast<trailwarden::AlertRoute>(size % 5);
  std::string doc;
  trailwarden::append_ecs_document(a, static_cast<int64_t>(size) * 1000, doc);
  check(doc);
  doc.clear();
  trailwarden::append_ecs_summary(a, size, -1, doc);
  check(doc);
  return 0;
}
