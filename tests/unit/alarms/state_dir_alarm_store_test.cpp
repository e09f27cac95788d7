// The alarm journal (alarms/state_dir_alarm_store.h, alarm_journal_format.h): commits survive a
// reopen, units are remembered, transitions stay undelivered until delivered(), a torn append is
// dropped, a flipped byte costs only its entry, a newer format is refused, a failed write leaves
// the file as it was, bounds hold, compaction keeps everything.
#include "agent/alarms/state_dir_alarm_store.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>

#include "agent/alarms/alarm_journal_format.h"
#include "outputs/delivery/segment_format.h"
#include "tests/unit/test_util.h"

using namespace trailwarden;
using namespace trailwarden::alarms;

namespace {

SavedInstance instance(const std::string& rule, const std::string& user, const std::string& eval) {
  SavedInstance i;
  i.rule_id = rule;
  if (!user.empty()) i.dimensions = {user};
  i.account = "111122223333";
  i.region = "eu-west-1";
  i.newest_ms = 1'700'000'000'000;
  i.evaluator = eval;
  return i;
}

AlertRecord transition(const std::string& uid) {
  AlertRecord a;
  a.uid = uid;
  a.rule_id = "r1";
  a.kind = AlertKind::kAlarm;
  a.ocsf = R"({"finding_info":{"uid":")" + uid + R"("}})";
  a.alarm = R"({"AlarmName":"a","NewStateValue":"ALARM"})";
  return a;
}

AlarmCommit commit_of(const std::string& unit, int64_t stream_ms,
                      std::vector<SavedInstance> instances,
                      std::vector<AlertRecord> transitions = {}) {
  AlarmCommit c;
  c.unit = unit;
  c.stream_ms = stream_ms;
  c.instances = std::move(instances);
  c.transitions = std::move(transitions);
  return c;
}

void open_ok(StateDirAlarmStore& s) {
  std::string error;
  REQUIRE_MESSAGE(s.open(error), error);
}

void commit_ok(StateDirAlarmStore& s, const AlarmCommit& c) {
  std::string error;
  REQUIRE_MESSAGE(s.commit(c, error), error);
}

SavedAlarmState loaded(StateDirAlarmStore& s) {
  SavedAlarmState out;
  std::string error;
  REQUIRE(s.load(out, error));
  return out;
}

std::vector<std::string> uids(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) out.push_back(a.uid);
  return out;
}

const SavedInstance& find(const SavedAlarmState& st, const std::string& user) {
  for (const SavedInstance& i : st.instances)
    if (!i.dimensions.empty() && i.dimensions[0] == user) return i;
  FAIL("no instance for " << user);
  throw std::logic_error("unreachable");
}

void append_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

}  // namespace

TEST_CASE("alarm journal format: every entry kind reads back as written; any cut or extra byte "
          "is refused, never a crash") {
  journal::Entry snap;
  snap.kind = journal::Entry::Kind::kSnapshot;
  snap.stream_ms = 1'700'000'123'000;
  journal::Entry insts;
  insts.kind = journal::Entry::Kind::kInstances;
  insts.instances = {instance("r1", "alice", "E1"), instance("r2", "", std::string("\0\1", 2))};
  journal::Entry units;
  units.kind = journal::Entry::Kind::kUnits;
  units.units = {"u1", "u2"};
  journal::Entry pending;
  pending.kind = journal::Entry::Kind::kUndelivered;
  pending.undelivered = {{"u1", transition("t1")}, {"", transition("t2")}};
  journal::Entry commit;
  commit.kind = journal::Entry::Kind::kCommit;
  commit.unit = "u3";
  commit.stream_ms = 42;
  commit.instances = {instance("r1", "bob", "E2")};
  commit.transitions = {transition("t3")};
  journal::Entry marks;
  marks.kind = journal::Entry::Kind::kDelivered;
  marks.uids = {"t1", "t3"};
  using journal::DecodeResult;
  for (const journal::Entry& e : {snap, insts, units, pending, commit, marks}) {
    const std::string bytes = journal::encode(e);
    journal::Entry back;
    std::string error;
    REQUIRE_MESSAGE(journal::decode(bytes, back, error) == DecodeResult::kOk, error);
    CHECK(journal::encode(back) == bytes);
    for (size_t n = 0; n < bytes.size(); ++n)
      CHECK(journal::decode(std::string_view(bytes).substr(0, n), back, error) ==
            DecodeResult::kMalformed);
    CHECK(journal::decode(bytes + "x", back, error) == DecodeResult::kMalformed);
    CHECK(error.find("after the entry") != std::string::npos);
  }
  // A count that the bytes cannot hold is refused before anything is reserved.
  std::string bomb = journal::encode(marks);
  bomb[2] = '\xff';
  bomb[3] = '\xff';
  bomb[4] = '\xff';
  bomb[5] = '\x7f';
  journal::Entry back;
  std::string error;
  CHECK(journal::decode(bomb, back, error) == DecodeResult::kMalformed);
  std::string newer = journal::encode(marks);
  newer[1] = 2;
  CHECK(journal::decode(newer, back, error) == DecodeResult::kNewer);
  CHECK(error.find("version 2") != std::string::npos);
  std::string other = journal::encode(marks);
  other[0] = 'X';
  CHECK(journal::decode(other, back, error) == DecodeResult::kMalformed);
}

TEST_CASE("alarm state: commits, units and undelivered transitions survive a reopen") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  {
    StateDirAlarmStore s(path);
    open_ok(s);
    CHECK(loaded(s).instances.empty());
    commit_ok(s, commit_of("s3://b/k1#e1", 1000, {instance("r1", "alice", "A1")},
                           {transition("t1")}));
    commit_ok(s, commit_of("s3://b/k2#e2", 3000, {instance("r1", "alice", "A2"),
                                                  instance("r1", "bob", "B1")}));
    commit_ok(s, commit_of("", 2000, {}, {transition("t2")}));  // a tick: no unit
    s.delivered({"t2", "unknown-uid"});
  }
  StateDirAlarmStore s(path);
  open_ok(s);
  const SavedAlarmState st = loaded(s);
  CHECK(st.stream_ms == 3000);  // the newest, not the last
  REQUIRE(st.instances.size() == 2);
  CHECK(find(st, "alice").evaluator == "A2");  // the latest state
  CHECK(find(st, "bob").evaluator == "B1");
  CHECK(find(st, "bob").account == "111122223333");
  std::vector<AlertRecord> again;
  CHECK(s.counted("s3://b/k1#e1", again));
  CHECK(uids(again) == std::vector<std::string>{"t1"});  // not delivered: given back
  again.clear();
  CHECK(s.counted("s3://b/k2#e2", again));
  CHECK(again.empty());
  CHECK_FALSE(s.counted("s3://b/k1#other-etag", again));
  CHECK_FALSE(s.counted("", again));
  CHECK(uids(s.undelivered()) == std::vector<std::string>{"t1"});
  s.delivered({"t1"});
  CHECK(s.undelivered().empty());
  again.clear();
  CHECK(s.counted("s3://b/k1#e1", again));
  CHECK(again.empty());
}

TEST_CASE("alarm state: an append cut short by a crash is dropped; the commits before it stay") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  {
    StateDirAlarmStore s(path);
    open_ok(s);
    commit_ok(s, commit_of("u1", 1000, {instance("r1", "", "A1")}));
  }
  // The first bytes of a record that was being appended.
  std::string partial;
  segment::append_record(partial, journal::encode(journal::Entry{}));
  const auto size = std::filesystem::file_size(path);
  append_bytes(path, partial.substr(0, partial.size() - 3));
  REQUIRE(std::filesystem::file_size(path) > size);
  StateDirAlarmStore s(path);
  open_ok(s);
  CHECK(s.damaged_records() == 0);  // torn, not damaged
  CHECK(loaded(s).instances.size() == 1);
  std::vector<AlertRecord> again;
  CHECK(s.counted("u1", again));
  // Rewritten clean: the torn bytes are gone.
  CHECK(std::filesystem::file_size(path) == s.file_bytes());
}

TEST_CASE("alarm state: a flipped byte on disk costs only the entry it is in, which is counted") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  uint64_t second_at = 0;
  {
    StateDirAlarmStore s(path);
    open_ok(s);
    commit_ok(s, commit_of("u1", 1000, {instance("r1", "alice", "A1")}));
    second_at = s.file_bytes();
    commit_ok(s, commit_of("u2", 2000, {instance("r1", "bob", "B1")}));
    commit_ok(s, commit_of("u3", 3000, {instance("r1", "carol", "C1")}));
  }
  std::string data = test::read_file(path);
  data[second_at + segment::kRecordHeaderSize + 5] ^= 0x20;  // inside u2's payload
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  StateDirAlarmStore s(path);
  open_ok(s);
  CHECK(s.damaged_records() == 1);
  const SavedAlarmState st = loaded(s);
  REQUIRE(st.instances.size() == 2);
  CHECK(find(st, "alice").evaluator == "A1");
  CHECK(find(st, "carol").evaluator == "C1");
  std::vector<AlertRecord> again;
  CHECK(s.counted("u1", again));
  CHECK_FALSE(s.counted("u2", again));
  CHECK(s.counted("u3", again));
}

TEST_CASE("alarm state: a journal of a newer format, or not a journal, is refused and kept") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  std::string header = segment::file_header();
  header[4] = 9;  // version 9
  const uint32_t crc = crc32c(std::string_view(header).substr(0, 12));
  for (int i = 0; i < 4; ++i) header[12 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  std::ofstream(path, std::ios::binary) << header;
  StateDirAlarmStore s(path);
  std::string error;
  CHECK_FALSE(s.open(error));
  CHECK(error.find("newer agent") != std::string::npos);
  CHECK(error.find(path) != std::string::npos);
  CHECK(test::read_file(path) == header);  // not overwritten

  const std::string other = dir.file("other.journal");
  std::ofstream(other, std::ios::binary) << "{\"not\":\"a journal\"}";
  StateDirAlarmStore t(other);
  CHECK_FALSE(t.open(error));
  CHECK(error.find("not an alarm journal") != std::string::npos);

  // The same framing, other records (a delivery buffer segment): not a journal.
  const std::string segment_file = dir.file("segment.journal");
  std::string seg = segment::file_header();
  AlertRecord a = transition("x");
  std::string encoded;
  a.encode(encoded);
  segment::append_record(seg, encoded);
  std::ofstream(segment_file, std::ios::binary) << seg;
  StateDirAlarmStore u(segment_file);
  CHECK_FALSE(u.open(error));
  CHECK(error.find("not an alarm journal") != std::string::npos);
  CHECK(test::read_file(segment_file) == seg);

  // A journal with an entry of a newer entry version (a downgrade): refused, kept.
  const std::string later = dir.file("later.journal");
  {
    StateDirAlarmStore w(later);
    open_ok(w);
    commit_ok(w, commit_of("u1", 1000, {instance("r1", "", "A1")}));
  }
  journal::Entry e;
  e.kind = journal::Entry::Kind::kDelivered;
  e.uids = {"t1"};
  std::string payload = journal::encode(e);
  payload[1] = 2;
  std::string record;
  segment::append_record(record, payload);
  append_bytes(later, record);
  const std::string before = test::read_file(later);
  StateDirAlarmStore v(later);
  CHECK_FALSE(v.open(error));
  CHECK(error.find("newer agent") != std::string::npos);
  CHECK(test::read_file(later) == before);
}

TEST_CASE("alarm state: a flipped byte in a snapshot costs one instance, not the whole state; "
          "the damaged file is kept") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  {
    StateDirAlarmStore s(path);
    open_ok(s);
    commit_ok(s, commit_of("u1", 1000, {instance("r1", "alice", "A1")}, {transition("t1")}));
    commit_ok(s, commit_of("u2", 2000, {instance("r1", "bob", "B1")}));
    commit_ok(s, commit_of("u3", 3000, {instance("r1", "carol", "C1")}));
  }
  {
    StateDirAlarmStore s(path);  // compacts: the file is now one snapshot
    open_ok(s);
  }
  std::string data = test::read_file(path);
  const size_t at = data.find("bob");
  REQUIRE(at != std::string::npos);
  data[at] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  StateDirAlarmStore s(path);
  open_ok(s);
  CHECK(s.damaged_records() == 1);
  const SavedAlarmState st = loaded(s);
  CHECK(st.instances.size() == 2);  // alice and carol
  CHECK(st.stream_ms == 3000);
  std::vector<AlertRecord> again;
  CHECK(s.counted("u1", again));  // the units and the undelivered transition are intact
  CHECK(s.counted("u2", again));
  CHECK(uids(s.undelivered()) == std::vector<std::string>{"t1"});
  CHECK(test::read_file(path + ".damaged") == data);
}

TEST_CASE("alarm state: a second agent on the same state directory is refused") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  StateDirAlarmStore first(path);
  open_ok(first);
  StateDirAlarmStore second(path);
  std::string error;
  CHECK_FALSE(second.open(error));
  CHECK(error.find("another agent") != std::string::npos);
}

TEST_CASE("alarm state: a commit that cannot be written fails and leaves the journal as it was") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  {
    StateDirAlarmStore s(path);
    open_ok(s);
    commit_ok(s, commit_of("u1", 1000, {instance("r1", "", "A1")}));
    const auto size = std::filesystem::file_size(path);
    // The file may not grow: the write fails with EFBIG (SIGXFSZ ignored), as on a full disk.
    struct sigaction ignore {}, old {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, &old);
    rlimit limit{}, saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    limit = saved;
    limit.rlim_cur = size + 10;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
    std::string error;
    const bool ok = s.commit(commit_of("u2", 2000, {instance("r1", "", std::string(100, 'x'))},
                                       {transition("t9")}),
                             error);
    setrlimit(RLIMIT_FSIZE, &saved);
    sigaction(SIGXFSZ, &old, nullptr);
    CHECK_FALSE(ok);
    CHECK(error.find(path) != std::string::npos);
    CHECK(std::filesystem::file_size(path) == size);
    std::vector<AlertRecord> again;
    CHECK_FALSE(s.counted("u2", again));  // not remembered: the unit is retried and counted then
    CHECK(s.undelivered().empty());
    CHECK(loaded(s).instances[0].evaluator == "A1");
    commit_ok(s, commit_of("u2", 2000, {instance("r1", "", "A2")}));  // the retry
  }
  StateDirAlarmStore t(path);
  open_ok(t);
  CHECK(loaded(t).instances[0].evaluator == "A2");
}

TEST_CASE("alarm state: past max_journal_bytes commits fail (units retried) instead of growing, and recover when a rewrite can make room") {
  test::TempDir dir("tw-alarms");
  StateDirAlarmStoreOptions o;
  o.max_journal_bytes = 2000;
  o.rewrite_retry = std::chrono::milliseconds(0);
  const std::string path = dir.file("alarms.journal");
  StateDirAlarmStore s(path, o);
  open_ok(s);
  // No rewrite can be made (a directory where the fresh copy goes): commits stop at the limit.
  std::filesystem::create_directory(path + ".tmp");
  std::string error;
  int committed = 0;
  for (int i = 0; i < 100 && s.commit(commit_of("u" + std::to_string(i), i,
                                                {instance("r1", "", std::string(100, 'e'))}),
                                      error);
       ++i)
    ++committed;
  CHECK(committed > 5);
  CHECK(committed < 20);
  CHECK(error.find("its limit") != std::string::npos);
  CHECK(s.file_bytes() <= 2000);
  // The cause gone, the next commit rewrites the journal first and is saved: no restart needed.
  std::filesystem::remove(path + ".tmp");
  const uint64_t before = s.compactions();
  commit_ok(s, commit_of("after", 1000, {instance("r1", "", std::string(100, 'e'))}));
  CHECK(s.compactions() == before + 1);
  CHECK(s.file_bytes() <= 2000);
}

TEST_CASE("alarm state: bounded units and undelivered transitions; compaction keeps the rest") {
  test::TempDir dir("tw-alarms");
  const std::string path = dir.file("alarms.journal");
  StateDirAlarmStoreOptions o;
  o.max_units = 50;
  o.max_undelivered = 5;
  o.compact_bytes = 4096;
  {
    StateDirAlarmStore s(path, o);
    open_ok(s);
    for (int i = 0; i < 200; ++i)
      commit_ok(s, commit_of("unit-" + std::to_string(i), i,
                             {instance("r1", "user-" + std::to_string(i % 7), std::string(64, 'e'))},
                             i % 10 == 0 ? std::vector<AlertRecord>{transition(
                                               "t" + std::to_string(i))}
                                         : std::vector<AlertRecord>{}));
    CHECK(s.compactions() > 2);  // at open, then as it grew
    CHECK(s.file_bytes() < 3 * 4096);
    CHECK(s.undelivered_dropped() == 15);  // 20 transitions, 5 kept
  }
  StateDirAlarmStore s(path, o);
  open_ok(s);
  std::vector<AlertRecord> again;
  CHECK_FALSE(s.counted("unit-149", again));  // forgotten: only the last 50
  CHECK(s.counted("unit-150", again));
  CHECK(s.counted("unit-199", again));
  CHECK(uids(s.undelivered()) ==
        std::vector<std::string>{"t150", "t160", "t170", "t180", "t190"});
  CHECK(loaded(s).instances.size() == 7);
  CHECK(loaded(s).stream_ms == 199);
}
