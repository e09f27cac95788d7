// libFuzzer target: any bytes as a filter pattern, and (when it parses) as an event for it.
// Nothing may crash, hang or leak; a parse either succeeds or names a column inside the input.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/rules/pattern.h"

using trailwarden::rules::ParseError;
using trailwarden::rules::Pattern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  // Split: pattern \0 event
  size_t cut = input.find('\0');
  std::string pattern_text = input.substr(0, cut);
  std::string event = cut == std::string::npos ? std::string("{\"a\":1}") : input.substr(cut + 1);
  ParseError err;
  auto pattern = Pattern::parse(pattern_text, &err);
  if (!pattern) {
    if (err.column < 1 || err.column > pattern_text.size() + 1) std::abort();
    return 0;
  }
  (void)pattern->requirement();
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  bool is_json = parser.parse(event).get(e) == simdjson::SUCCESS;
  (void)pattern->matches(event, is_json ? &e : nullptr);
  return 0;
}
