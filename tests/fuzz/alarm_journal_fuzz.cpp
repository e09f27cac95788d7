// libFuzzer target: the alarm journal read back from disk (agent/alarms/state_dir_alarm_store.h,
// alarm_journal_format.h) — flipped bytes, truncation, forged counts, other files. The input is
// both one entry's payload and a whole journal file:
// - journal::decode() must not crash; an entry it accepts encodes back to the same bytes;
// - StateDirAlarmStore::open() on the file must not crash; when it refuses, the file is left
//   byte for byte as it was; when it accepts, it has rewritten the journal, and opening that
//   again must succeed with no damage and give the same state (stream time, instances, units
//   remembered, transitions undelivered): a rewrite never loses or invents anything.
// Files live under /dev/shm (tmpfs: the fdatasync calls cost nothing).
//
// TW_JOURNAL_FUZZ_SEEDS=<dir>: writes seed journals (a snapshot, commits and marks after it)
// into <dir> at start-up (how tests/fuzz/corpus/alarm_journal was made).
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alarms/alarm_journal_format.h"
#include "agent/alarms/state_dir_alarm_store.h"
#include "tests/fuzz/fuzz_files.h"

using namespace trailwarden;
using namespace trailwarden::alarms;

namespace {

std::string dir() { return fuzz::scratch_dir("tw-journal-fuzz"); }

// What a store holds, as comparable text.
std::string state_of(StateDirAlarmStore& s) {
  SavedAlarmState st;
  std::string error;
  if (!s.load(st, error)) std::abort();
  std::string out = std::to_string(st.stream_ms) + "|";
  for (const SavedInstance& i : st.instances) {
    journal::Entry e;
    e.kind = journal::Entry::Kind::kInstances;
    e.instances = {i};
    out += journal::encode(e) + "|";
  }
  for (const AlertRecord& a : s.undelivered()) out += a.uid + "|";
  return out + std::to_string(s.units_remembered());
}

void write_seeds(const char* to) {
  const std::string path = dir() + "/seed.journal";
  std::filesystem::remove(path);
  SavedInstance i;
  i.rule_id = "cis-4.9";
  i.dimensions = {"alice"};
  i.account = "111122223333";
  i.region = "eu-west-1";
  i.newest_ms = 1'700'000'000'000;
  i.evaluator = std::string("TWAE\x01", 5) + std::string(40, '\0');
  AlertRecord a;
  a.uid = "uid-1";
  a.rule_id = "cis-4.9";
  a.kind = AlertKind::kAlarm;
  a.ocsf = "{}";
  a.alarm = "{\"AlarmName\":\"x\"}";
  int n = 0;
  auto keep = [&] {
    fuzz::write_file(std::string(to) + "/seed-" + std::to_string(n++), fuzz::read_file(path));
  };
  {
    StateDirAlarmStore s(path);
    std::string error;
    if (!s.open(error)) std::abort();
    AlarmCommit c;
    c.unit = "s3://b/k1";
    c.stream_ms = 1'700'000'000'000;
    c.instances = {i};
    c.transitions = {a};
    if (!s.commit(c, error)) std::abort();
    keep();  // a snapshot of nothing, then one commit
    c.unit = "s3://b/k2";
    c.transitions.clear();
    i.dimensions = {"bob"};
    c.instances = {i};
    if (!s.commit(c, error)) std::abort();
    s.delivered({"uid-1"});
    keep();  // two commits and a delivery mark
  }
  {
    StateDirAlarmStore s(path);
    std::string error;
    if (!s.open(error)) std::abort();
    keep();  // a snapshot with instances and units
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".lock");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // damaged inputs are logged; not what is tested
  if (const char* to = std::getenv("TW_JOURNAL_FUZZ_SEEDS")) write_seeds(to);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  journal::Entry e;
  std::string error;
  if (journal::decode(bytes, e, error) == journal::DecodeResult::kOk &&
      journal::encode(e) != bytes)
    std::abort();

  const std::string path = dir() + "/alarms.journal";
  std::filesystem::remove(path + ".damaged");
  fuzz::write_file(path, bytes);
  std::string first_state;
  {
    StateDirAlarmStore s(path);
    if (!s.open(error)) {
      if (fuzz::read_file(path) != bytes) std::abort();  // refused: left as it was
      return 0;
    }
    first_state = state_of(s);
  }
  StateDirAlarmStore again(path);
  if (!again.open(error)) std::abort();
  if (again.damaged_records() != 0) std::abort();
  if (state_of(again) != first_state) std::abort();
  return 0;
}
