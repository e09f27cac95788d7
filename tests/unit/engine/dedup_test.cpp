#include "agent/engine/dedup.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace trailwarden;

namespace {
std::string temp_path() {
  char tmpl[] = "/tmp/tw-dedup-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return std::string(tmpl) + "/dedup.log";
}
size_t lines(const std::string& path) {
  std::ifstream in(path);
  std::string l;
  size_t n = 0;
  while (std::getline(in, l)) ++n;
  return n;
}
}  // namespace

TEST_CASE("remembers uids across restarts") {
  const std::string path = temp_path();
  std::string err;
  {
    DedupWindow w(path, 100);
    REQUIRE(w.open(err));
    CHECK_FALSE(w.contains("a"));
    w.add("a");
    w.add("b");
    CHECK(w.contains("a"));
    REQUIRE(w.sync(err));
  }
  DedupWindow again(path, 100);
  REQUIRE(again.open(err));
  CHECK(again.contains("a"));
  CHECK(again.contains("b"));
  CHECK_FALSE(again.contains("c"));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("bounded: oldest uids are forgotten and the file is compacted") {
  const std::string path = temp_path();
  std::string err;
  DedupWindow w(path, 10);
  REQUIRE(w.open(err));
  for (int i = 0; i < 55; ++i) w.add("uid-" + std::to_string(i));
  REQUIRE(w.sync(err));
  CHECK(w.size() == 10);
  CHECK_FALSE(w.contains("uid-0"));
  CHECK(w.contains("uid-54"));
  CHECK(lines(path) <= 20);
  DedupWindow again(path, 10);
  REQUIRE(again.open(err));
  CHECK(again.contains("uid-54"));
  CHECK(again.contains("uid-45"));
  CHECK_FALSE(again.contains("uid-44"));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("a torn last line after a crash is ignored") {
  const std::string path = temp_path();
  {
    std::ofstream out(path);
    out << "good-1\ngood-2\n" << std::string(500, 'x');  // no newline: torn write
  }
  std::string err;
  DedupWindow w(path, 10);
  REQUIRE(w.open(err));
  CHECK(w.contains("good-2"));
  CHECK(w.size() == 2);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("an unwritable location is an error naming it") {
  std::string err;
  DedupWindow w("/nonexistent-dir/dedup.log", 10);
  CHECK_FALSE(w.open(err));
  CHECK(err.find("/nonexistent-dir/dedup.log") != std::string::npos);
}

TEST_CASE("the state file is never inherited by a spawned helper (O_CLOEXEC, also after compaction)") {
  const std::string path = temp_path();
  // Every descriptor of this process open on `path`, with whether it is close-on-exec.
  auto open_on_path = [&path] {
    std::vector<bool> cloexec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(e.path(), ec);
      if (ec || target != path) continue;
      const int fd = std::stoi(e.path().filename().string());
      cloexec.push_back((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    }
    return cloexec;
  };
  std::string err;
  DedupWindow w(path, 2);
  REQUIRE(w.open(err));
  CHECK(open_on_path() == std::vector<bool>{true});
  for (const char* uid : {"a", "b", "c", "d", "e"}) w.add(uid);  // past 2 x capacity: compacted
  REQUIRE(w.sync(err));
  CHECK(lines(path) <= 4);
  CHECK(open_on_path() == std::vector<bool>{true});
}
