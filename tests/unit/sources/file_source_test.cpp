#include "agent/sources/file/file_source.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace trailwarden;

TEST_CASE("FileSource: files, sorted directories (recursive), stdin; missing paths listed") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tw-file-source-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "d" / "sub");
  for (const char* f : {"d/b.json", "d/a.json", "d/sub/c.json", "single.json"})
    std::ofstream(dir / f) << "{}";
  FileSource source({(dir / "single.json").string(), (dir / "d").string(), "-",
                     (dir / "absent.json").string()});
  CHECK(source.missing() == std::vector<std::string>{(dir / "absent.json").string()});

  std::atomic<bool> stop{false};
  std::vector<WorkUnit> units;
  std::string error;
  CHECK(source.next(2, stop, units, error) == Source::Status::kOk);  // room for two
  CHECK(units.size() == 2);
  CHECK(source.next(10, stop, units, error) == Source::Status::kEnd);
  REQUIRE(units.size() == 5);
  const std::vector<std::string> want = {(dir / "single.json").string(),
                                         (dir / "d/a.json").string(), (dir / "d/b.json").string(),
                                         (dir / "d/sub/c.json").string(), "-"};
  for (size_t i = 0; i < units.size(); ++i) {
    CHECK(units[i].payload == WorkUnit::Payload::kFile);
    CHECK(units[i].path == want[i]);
    CHECK(units[i].token == i);
  }
  CHECK(units[4].name == "<stdin>");
  std::filesystem::remove_all(dir);
}
