// JournalFile (store/journal_file.h): the file mechanics of the alarm journal and the integrity
// ledger's journal. Records read back in order; a torn end is dropped, a flipped byte costs its
// record (counted, the damaged file kept); a newer or foreign file is refused and left as it is;
// one agent per file; a failed append or rewrite leaves the file as it was; rewrite streams, never
// follows a link planted at `<path>.tmp`, and appends continue after it; the compaction trigger
// and the size bound.
#include "agent/store/journal_file.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/common/failpoint.h"
#include "outputs/delivery/segment_format.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using store::JournalFile;
using store::JournalFileOptions;

namespace {

using Decoded = JournalFile::Decoded;

// Opens `j`, collecting every payload; fails the test when open() refuses.
std::vector<std::string> open_all(JournalFile& j) {
  std::vector<std::string> out;
  std::string error;
  const bool ok = j.open(
      [&](std::string_view p, std::string&) {
        out.emplace_back(p);
        return Decoded::kOk;
      },
      error);
  REQUIRE_MESSAGE(ok, error);
  return out;
}

void rewrite_ok(JournalFile& j, const std::vector<std::string>& payloads) {
  std::string error;
  const bool ok = j.rewrite(
      [&](const auto& add) {
        for (const std::string& p : payloads) add(p);
      },
      error);
  REQUIRE_MESSAGE(ok, error);
}

void append_ok(JournalFile& j, const std::string& payload, bool sync = true) {
  std::string error;
  REQUIRE_MESSAGE(j.append(payload, sync, error), error);
}

// A journal at `path` holding `payloads` (through JournalFile itself).
void make_journal(const std::string& path, const std::vector<std::string>& payloads) {
  JournalFile j(path, "alarm state");
  open_all(j);
  rewrite_ok(j, {});
  for (const std::string& p : payloads) append_ok(j, p);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

bool refused(JournalFile& j, std::string& error,
             Decoded (*decode)(std::string_view) = [](std::string_view) { return Decoded::kOk; }) {
  return !j.open([&](std::string_view p, std::string& why) {
    why = "test";
    return decode(p);
  }, error);
}

// A file that may not grow past `limit` bytes while it lives: writes fail with EFBIG
// (SIGXFSZ ignored), as on a full disk.
struct FileSizeLimit {
  struct sigaction old_action {};
  rlimit saved{};
  explicit FileSizeLimit(uint64_t limit) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &old_action);
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit l = saved;
    l.rlim_cur = limit;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &l) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved);
    sigaction(SIGXFSZ, &old_action, nullptr);
  }
};

}  // namespace

TEST_CASE("journal file: records read back in order after appends, a rewrite and a reopen") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  {
    JournalFile j(path, "alarm state");
    CHECK(open_all(j).empty());  // created
    CHECK(std::filesystem::exists(path));
    std::string error;
    CHECK_FALSE(j.append("early", true, error));  // nothing to append to before the rewrite
    CHECK(error.find("not open") != std::string::npos);
    rewrite_ok(j, {"a", std::string("b\0b", 3)});
    append_ok(j, "c");
    append_ok(j, std::string(100'000, 'd'), false);
    append_ok(j, "");
    CHECK(j.file_bytes() == std::filesystem::file_size(path));
    CHECK(j.compactions() == 1);
    CHECK(j.damaged_records() == 0);
    CHECK(j.path() == path);
    CHECK(j.what() == "alarm state");
  }
  JournalFile j(path, "alarm state");
  CHECK(open_all(j) ==
        std::vector<std::string>{"a", std::string("b\0b", 3), "c", std::string(100'000, 'd'), ""});
  CHECK(j.damaged_records() == 0);
}

TEST_CASE("journal file: an append a crash cut short is dropped, not counted; the rest is kept") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  make_journal(path, {"one", "two"});
  std::string partial;
  segment::append_record(partial, "three, cut short");
  for (size_t cut : {size_t{3}, segment::kRecordHeaderSize + 2}) {
    const std::string whole = test::read_file(path);
    write_file(path, whole + partial.substr(0, cut));
    JournalFile j(path, "alarm state");
    CHECK(open_all(j) == std::vector<std::string>{"one", "two"});
    CHECK(j.damaged_records() == 0);
    CHECK_FALSE(std::filesystem::exists(path + ".damaged"));
    write_file(path, whole);
  }
}

TEST_CASE("journal file: a flipped byte costs only its record, which is counted; the damaged "
          "file is kept") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  make_journal(path, {"first", "second", "third"});
  std::string data = test::read_file(path);
  const size_t at = data.find("second");
  REQUIRE(at != std::string::npos);
  data[at + 2] ^= 0x20;
  write_file(path, data);
  JournalFile j(path, "alarm state");
  CHECK(open_all(j) == std::vector<std::string>{"first", "third"});
  CHECK(j.damaged_records() == 1);
  CHECK(test::read_file(path + ".damaged") == data);
  CHECK(test::read_file(path) == data);  // open() itself changes nothing: the caller rewrites
  rewrite_ok(j, {"first", "third"});
  CHECK(j.damaged_records() == 1);
}

TEST_CASE("journal file: an entry the caller cannot read is counted damaged; records of which "
          "none is an entry are refused") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  make_journal(path, {"good", "bad", "good"});
  {
    JournalFile j(path, "alarm state");
    std::string error;
    CHECK_FALSE(refused(j, error, [](std::string_view p) {
      return p == "bad" ? Decoded::kMalformed : Decoded::kOk;
    }));
    CHECK(j.damaged_records() == 1);
    CHECK(std::filesystem::exists(path + ".damaged"));
  }
  const std::string before = test::read_file(path);
  JournalFile j(path, "integrity state");
  std::string error;
  CHECK(refused(j, error, [](std::string_view) { return Decoded::kMalformed; }));
  CHECK(error.find("not an integrity journal") != std::string::npos);
  CHECK(error.find("none of its 3 records") != std::string::npos);
  CHECK(test::read_file(path) == before);
}

TEST_CASE("journal file: an entry of a newer format refuses the file, which is left as it is") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  make_journal(path, {"old", "new", "old"});
  const std::string before = test::read_file(path);
  JournalFile j(path, "alarm state");
  std::string error;
  CHECK(refused(j, error, [](std::string_view p) {
    return p == "new" ? Decoded::kNewer : Decoded::kOk;
  }));
  CHECK(error.find("newer agent") != std::string::npos);
  CHECK(error.find(path) != std::string::npos);
  CHECK(test::read_file(path) == before);
  CHECK(j.append("x", true, error) == false);  // refused: nothing to append to
  CHECK(test::read_file(path) == before);

  // A file header of a newer segment format.
  const std::string newer = dir.file("newer.journal");
  std::string header = segment::file_header();
  header[4] = 9;
  const uint32_t crc = crc32c(std::string_view(header).substr(0, 12));
  for (int i = 0; i < 4; ++i) header[12 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  write_file(newer, header);
  JournalFile k(newer, "alarm state");
  CHECK(refused(k, error));
  CHECK(error.find("newer agent (format 9)") != std::string::npos);
  CHECK(test::read_file(newer) == header);
}

TEST_CASE("journal file: a file that is not a journal (no file header) is refused and left as it "
          "is") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  const std::string other = "{\"not\":\"a journal\"}\n" + std::string(1000, 'z');
  write_file(path, other);
  JournalFile j(path, "alarm state");
  std::string error;
  CHECK(refused(j, error));
  CHECK(error.find("alarm state " + path + ": not an alarm journal") != std::string::npos);
  CHECK(error.find("move it away to start with no alarm state") != std::string::npos);
  CHECK(test::read_file(path) == other);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("journal file: a second open of the same path is refused while the first holds it") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  {
    JournalFile first(path, "alarm state");
    open_all(first);
    rewrite_ok(first, {"a"});
    JournalFile second(path, "alarm state");
    std::string error;
    CHECK(refused(second, error));
    CHECK(error == "alarm state " + path + ": another agent uses it (its lock " + path +
                       ".lock is held): each agent needs its own general.state_dir");
    std::string again;
    CHECK_FALSE(second.rewrite([](const auto&) {}, again));  // it holds nothing to rewrite
    CHECK(test::read_file(path).find('a') != std::string::npos);
    append_ok(first, "b");
  }
  JournalFile third(path, "alarm state");  // the lock went with the first
  CHECK(open_all(third) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("journal file: appends continue after a rewrite; a failed append is cut off again") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  {
    JournalFile j(path, "alarm state");
    open_all(j);
    rewrite_ok(j, {"s1"});
    append_ok(j, "a1");
    rewrite_ok(j, {"s2", "s3"});  // replaces everything before
    append_ok(j, "a2");
    CHECK(j.compactions() == 2);
    const uint64_t size = std::filesystem::file_size(path);
    CHECK(j.file_bytes() == size);
    {
      FileSizeLimit limit(size + 10);
      std::string error;
      CHECK_FALSE(j.append(std::string(100, 'x'), true, error));
      CHECK(error.find("alarm state " + path + ": cannot write") != std::string::npos);
    }
    CHECK(std::filesystem::file_size(path) == size);
    CHECK(j.file_bytes() == size);
    CHECK_FALSE(j.broken());
    append_ok(j, "a3");
  }
  JournalFile j(path, "alarm state");
  CHECK(open_all(j) == std::vector<std::string>{"s2", "s3", "a2", "a3"});
}

TEST_CASE("journal file: a rewrite that fails leaves the journal as it was, and appends go on") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  {
    JournalFile j(path, "alarm state");
    open_all(j);
    rewrite_ok(j, {"s1"});
    append_ok(j, "a1");
    const std::string before = test::read_file(path);
    {
      FileSizeLimit limit(4096);
      std::string error;
      CHECK_FALSE(j.rewrite(
          [](const auto& add) {
            for (int i = 0; i < 100; ++i) add(std::string(1000, 'r'));
          },
          error));
      CHECK(error.find("cannot write " + path + ".tmp") != std::string::npos);
    }
    CHECK(test::read_file(path) == before);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    CHECK(j.compactions() == 1);
    append_ok(j, "a2");
  }
  JournalFile j(path, "alarm state");
  CHECK(open_all(j) == std::vector<std::string>{"s1", "a1", "a2"});
}

TEST_CASE("journal file: the rewrite failpoint is hit with the fresh file complete and the "
          "journal not yet replaced") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  JournalFileOptions o;
  o.rewrite_failpoint = "test-journal-rewrite";
  JournalFile j(path, "alarm state", o);
  open_all(j);
  static std::vector<std::string> hits;
  static std::string seen_tmp, seen_journal, journal_path;
  hits.clear();
  journal_path = path;
  failpoint::install([](std::string_view name) {
    hits.emplace_back(name);
    seen_tmp = test::read_file(journal_path + ".tmp");
    seen_journal = test::read_file(journal_path);
  });
  rewrite_ok(j, {"s1", "s2"});
  failpoint::install(nullptr);
  CHECK(hits == std::vector<std::string>{"test-journal-rewrite"});
  CHECK(seen_journal.empty());  // the new file, still as open() left it
  CHECK(seen_tmp == test::read_file(path));
}

TEST_CASE("journal file: a link planted at <path>.tmp is not followed by a rewrite") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  const std::string target = dir.file("precious");
  write_file(target, "keep me");
  std::filesystem::create_symlink(target, path + ".tmp");
  JournalFile j(path, "alarm state");
  open_all(j);
  rewrite_ok(j, {"s1"});
  CHECK(test::read_file(target) == "keep me");
  CHECK_FALSE(std::filesystem::is_symlink(path));
  CHECK(std::filesystem::is_regular_file(path));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path + ".tmp")));
  append_ok(j, "a1");
  CHECK(test::read_file(target) == "keep me");
}

TEST_CASE("journal file: compaction is wanted past compact_bytes and twice the last rewrite, and "
          "after a failed one not before the file doubled") {
  test::TempDir dir("tw-journal");
  JournalFileOptions o;
  o.compact_bytes = 1000;
  JournalFile j(dir.file("x.journal"), "alarm state", o);
  open_all(j);
  const std::string big(600, 's');
  rewrite_ok(j, {big, big, big});  // ~1.9 kB: past compact_bytes, not twice itself
  const uint64_t snapshot = j.file_bytes();
  CHECK_FALSE(j.wants_compaction());
  while (j.file_bytes() <= 2 * snapshot) {
    CHECK_FALSE(j.wants_compaction());
    append_ok(j, std::string(50, 'a'), false);
  }
  CHECK(j.wants_compaction());
  rewrite_ok(j, {"small"});  // below compact_bytes now
  while (j.file_bytes() <= o.compact_bytes) {
    CHECK_FALSE(j.wants_compaction());
    append_ok(j, std::string(50, 'a'), false);
  }
  CHECK(j.wants_compaction());
  j.compaction_failed();
  const uint64_t failed_at = j.file_bytes();
  CHECK_FALSE(j.wants_compaction());
  while (j.file_bytes() <= 2 * failed_at) {
    CHECK_FALSE(j.wants_compaction());
    append_ok(j, std::string(50, 'a'), false);
  }
  CHECK(j.wants_compaction());
  rewrite_ok(j, {"small"});  // success forgets the failure
  while (j.file_bytes() <= o.compact_bytes) append_ok(j, std::string(50, 'a'), false);
  CHECK(j.wants_compaction());
}

TEST_CASE("journal file: room_for keeps the file within max_journal_bytes") {
  test::TempDir dir("tw-journal");
  JournalFileOptions o;
  o.max_journal_bytes = 2000;
  JournalFile j(dir.file("x.journal"), "alarm state", o);
  open_all(j);
  rewrite_ok(j, {});
  const std::string payload(100, 'p');
  int appended = 0;
  while (j.room_for(payload.size())) {
    append_ok(j, payload);
    ++appended;
    REQUIRE(appended < 100);
  }
  CHECK(j.file_bytes() <= o.max_journal_bytes);
  CHECK(j.file_bytes() + segment::kRecordHeaderSize + payload.size() > o.max_journal_bytes);
  CHECK(appended == static_cast<int>((2000 - segment::kFileHeaderSize) /
                                     (segment::kRecordHeaderSize + payload.size())));
  CHECK(j.room_for(0) == (j.file_bytes() + segment::kRecordHeaderSize <= o.max_journal_bytes));
}

TEST_CASE("journal file: a rewrite of 200,000 records streams to disk and reads back") {
  test::TempDir dir("tw-journal");
  const std::string path = dir.file("x.journal");
  constexpr int kRecords = 200'000;
  auto payload = [](int i) { return "entry-" + std::to_string(i) + std::string(40, 'x'); };
  {
    JournalFile j(path, "integrity state");
    open_all(j);
    uint64_t on_disk_while_emitting = 0;
    std::string error;
    const bool ok = j.rewrite(
        [&](const auto& add) {
          for (int i = 0; i < kRecords; ++i) add(payload(i));
          std::error_code ec;
          on_disk_while_emitting = std::filesystem::file_size(path + ".tmp", ec);
        },
        error);
    REQUIRE_MESSAGE(ok, error);
    // Written a chunk at a time while the records were given, not gathered into one string.
    CHECK(on_disk_while_emitting >= uint64_t{8} << 20);
    CHECK(j.file_bytes() > on_disk_while_emitting);
    CHECK(j.file_bytes() == std::filesystem::file_size(path));
    append_ok(j, "after");
  }
  JournalFile j(path, "integrity state");
  int next = 0;
  bool in_order = true, after = false;
  std::string error;
  REQUIRE(j.open(
      [&](std::string_view p, std::string&) {
        if (next < kRecords)
          in_order = in_order && p == payload(next++);
        else
          after = p == "after";
        return Decoded::kOk;
      },
      error));
  CHECK(next == kRecords);
  CHECK(in_order);
  CHECK(after);
  CHECK(j.damaged_records() == 0);
}
