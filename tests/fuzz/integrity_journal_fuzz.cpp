// libFuzzer target: the integrity ledger's journal read back from disk
// (agent/integrity/state_dir_integrity_store.h, integrity_journal_format.h) — flipped bytes,
// truncation, forged counts, other files. The input is both one entry's payload and a whole
// journal file:
// - journal::decode() must not crash; an entry it accepts encodes back to the same bytes;
// - StateDirIntegrityStore::open() on the file must not crash; when it refuses, the file is left
//   byte for byte as it was; when it accepts, it has rewritten the journal, and opening that
//   again must succeed with no damage and give the same ledger: a rewrite never loses or invents
//   anything.
// Files live under /dev/shm (tmpfs: the fdatasync calls cost nothing).
//
// TW_JOURNAL_FUZZ_SEEDS=<dir>: writes seed journals (commits, a delivery mark, a rewrite) into
// <dir> at start-up (how tests/fuzz/corpus/integrity_journal was made).
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "agent/integrity/integrity_journal_format.h"
#include "agent/integrity/state_dir_integrity_store.h"
#include "tests/fuzz/fuzz_files.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

namespace {

std::string dir() { return fuzz::scratch_dir("tw-integrity-journal-fuzz"); }

// A ledger as comparable bytes: one entry holding all of it.
std::string state_of(const IntegrityLedger& l) {
  journal::Entry e;
  e.saved_ms = l.saved_ms;
  e.coverage_from_ms = l.coverage_from_ms;
  for (const auto& [k, v] : l.seen) e.seen.emplace_back(k, v);
  for (const auto& [k, v] : l.expected) e.expected.emplace_back(k, v);
  for (const auto& [k, v] : l.chains) e.chains.emplace_back(k, v);
  for (const auto& [k, v] : l.outbox) e.findings.push_back(v);
  return journal::encode(e);
}

void write_seeds(const char* to) {
  const std::string path = dir() + "/seed.journal";
  std::filesystem::remove(path);
  int n = 0;
  auto keep = [&] {
    fuzz::write_file(std::string(to) + "/seed-" + std::to_string(n++), fuzz::read_file(path));
  };
  journal::Entry e;
  e.saved_ms = 1'700'000'000'000;
  e.coverage_from_ms = 1'699'990'000'000;
  SeenLog s;
  s.at_ms = 1'700'000'000'000;
  s.reads = {{std::string(64, 'a'), "s3://b/k1"}};
  e.seen.emplace_back("s3://b/k1", s);
  ExpectedLog x;
  x.bucket = "b";
  x.key = "k2";
  x.sha256 = std::string(64, 'c');
  x.digest_key = "d2";
  x.chain = "b|111122223333|us-east-1|t";
  x.account = "111122223333";
  x.region = "us-east-1";
  x.fingerprint = std::string(32, 'f');
  x.digest_start = 1'699'996'400;
  x.digest_end = 1'700'000'000;
  x.listed_ms = 1'700'000'000'000;
  x.mismatches = {{std::string(64, 'd'), "s3://b/k2"}};
  e.expected.emplace_back("s3://b/k2", x);
  Chain c;
  c.bucket = "b";
  c.account = "111122223333";
  c.region = "us-east-1";
  c.last_end = 1'700'000'000;
  c.last_key = "d2";
  c.last_arrival_ms = 1'700'000'000'000;
  c.digests[1'700'000'000] = {"d2", std::string(64, 'e'), std::string(512, '1'), 1'699'996'400,
                              1'700'000'000, false};
  e.chains.emplace_back(x.chain, c);
  AlertRecord a;
  a.uid = "uid-1";
  a.rule_id = "integrity.digest_delivery_stopped";
  a.kind = AlertKind::kIntegrity;
  a.ocsf = "{}";
  a.raw = "{\"check\":\"digest_delivery_stopped\"}";
  e.findings.push_back(a);
  {
    StateDirIntegrityStore st(path);
    IntegrityLedger l;
    std::string error;
    if (!st.open(l, error)) std::abort();
    if (!st.commit(e, true, error)) std::abort();
    keep();  // an empty rewrite, then one commit
    st.delivered({"uid-1"}, 1'700'000'001'000);
    keep();  // and a delivery mark
  }
  {
    StateDirIntegrityStore st(path);
    IntegrityLedger l;
    std::string error;
    if (!st.open(l, error)) std::abort();
    keep();  // the rewrite of all of it
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

  const std::string path = dir() + "/integrity.journal";
  std::filesystem::remove(path + ".damaged");
  fuzz::write_file(path, bytes);
  std::string first_state;
  {
    StateDirIntegrityStore st(path);
    IntegrityLedger l;
    if (!st.open(l, error)) {
      if (fuzz::read_file(path) != bytes) std::abort();  // refused: left as it was
      return 0;
    }
    first_state = state_of(l);
  }
  StateDirIntegrityStore again(path);
  IntegrityLedger l;
  if (!again.open(l, error)) std::abort();
  if (again.damaged_records() != 0) std::abort();
  if (state_of(l) != first_state) std::abort();
  return 0;
}
