// RecordDeadLetterFile: one synced JSON line per bad record, valid JSON whatever the record's
// bytes, bounded by rotation, and a clear error when it cannot be written.
#include "agent/core/record_dead_letter.h"

#include <doctest/doctest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {

std::string temp_dir() {
  char dir[] = "/tmp/tw-badrec-XXXXXX";
  REQUIRE(mkdtemp(dir));
  return dir;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::string text = test::read_file(path);
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    REQUIRE(nl != std::string::npos);  // whole lines only
    out.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("bad records are written one JSON line each, with object, index and reason") {
  const std::string dir = temp_dir();
  RecordDeadLetterFile file(dir + "/state/bad-records.ndjson", 1 << 20);
  BadRecord a;
  a.index = 7;
  a.reason = "JSON nesting deeper than limits.max_depth (64)";
  a.bytes = 12345;
  a.excerpt = std::string("{\"userAgent\":\"\xC3\x28\0\"", 19);  // invalid UTF-8, a NUL
  BadRecord b;
  b.index = 9;
  b.reason = "invalid UTF-8 at byte 3 of the record";
  std::string error;
  REQUIRE(file.write("s3://bucket/key.json.gz", "msg-1", {a, b}, 3, error));
  auto lines = lines_of(file.path());
  REQUIRE(lines.size() == 3);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  REQUIRE(parser.parse(lines[0]).get(e) == simdjson::SUCCESS);
  CHECK(std::string_view(e["object"]) == "s3://bucket/key.json.gz");
  CHECK(std::string_view(e["message_id"]) == "msg-1");
  CHECK(uint64_t(e["record_index"]) == 7);
  CHECK(std::string_view(e["reason"]) == a.reason);
  CHECK(uint64_t(e["record_bytes"]) == 12345);
  CHECK(std::string_view(e["excerpt"]).substr(0, 14) == "{\"userAgent\":\"");
  REQUIRE(parser.parse(lines[1]).get(e) == simdjson::SUCCESS);
  CHECK(uint64_t(e["record_index"]) == 9);
  REQUIRE(parser.parse(lines[2]).get(e) == simdjson::SUCCESS);
  CHECK(uint64_t(e["omitted"]) == 3);
  struct stat st {};
  REQUIRE(::stat(file.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the bad-records file is bounded: it rotates to .1 once full") {
  const std::string dir = temp_dir();
  RecordDeadLetterFile file(dir + "/bad-records.ndjson", 4096);
  BadRecord r;
  r.reason = "x";
  r.excerpt = std::string(1000, 'e');
  std::string error;
  for (int i = 0; i < 50; ++i) {
    r.index = static_cast<uint64_t>(i);
    REQUIRE(file.write("s3://b/k", "m", {r}, 0, error));
  }
  const auto size = std::filesystem::file_size(file.path());
  const auto old = std::filesystem::file_size(file.path() + ".1");
  CHECK(size <= 4096);
  CHECK(old <= 4096);
  CHECK(size > 0);
  // The newest line is in the current file.
  CHECK(lines_of(file.path()).back().find("\"record_index\":49") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a bad-records file that cannot be written is an error naming it") {
  const std::string dir = temp_dir();
  const std::string blocker = dir + "/not-a-dir";
  { std::ofstream(blocker) << "x"; }
  RecordDeadLetterFile file(blocker + "/bad-records.ndjson", 1 << 20);
  BadRecord r;
  std::string error;
  CHECK_FALSE(file.write("s3://b/k", "m", {r}, 0, error));
  CHECK(error.find(blocker) != std::string::npos);
  std::filesystem::remove_all(dir);
}
