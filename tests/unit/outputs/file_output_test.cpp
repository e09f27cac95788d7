#include "outputs/file/file_output.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace trailwarden;

TEST_CASE("file output: a partial last line left by a crash does not swallow the next alert") {
  char dir[] = "/tmp/tw-file-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/alerts.ndjson";
  {
    std::ofstream out(path);
    out << "{\"whole\":1}\n{\"torn\":";  // killed mid-write
  }
  AlertRecord a;
  a.ocsf = "{\"next\":2}";
  FileOutput f("file", path);
  REQUIRE(f.send({&a}).status == DeliveryResult::Status::kDelivered);
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  CHECK(ss.str() == "{\"whole\":1}\n{\"torn\":\n{\"next\":2}\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("file output: formats") {
  char dir[] = "/tmp/tw-file-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/alerts.ndjson";
  AlertRecord a;
  a.uid = "u";
  a.rule_id = "cis-4.9";
  a.severity_id = 4;
  a.ocsf = "{\"o\":1}";
  a.raw = "{\"eventName\":\"StopLogging\"}";
  FileOutput f("file", path, AlertFormat::kCloudTrail);
  REQUIRE(f.send({&a}).status == DeliveryResult::Status::kDelivered);
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  CHECK(ss.str().find("\"record\":{\"eventName\":\"StopLogging\"}") != std::string::npos);
  CHECK(ss.str().find("\"finding_uid\":\"u\"") != std::string::npos);
  std::filesystem::remove_all(dir);
}
