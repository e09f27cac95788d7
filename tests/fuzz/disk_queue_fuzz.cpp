// libFuzzer target: DiskQueue recovery (outputs/delivery/disk_queue.h, segment_format.h).
// The first byte chooses the mode.
//
// Even: raw bytes. [u16 segment length][segment bytes][ack file bytes] become the only segment
// and the ack file of a buffer directory. open() must not crash or throw; if it succeeds, it
// returns no more records than the segment could hold and no more payload bytes than it has;
// after one more append, a second open() returns exactly the same records followed by the new
// one (recovery is stable, and nothing written after it is lost).
//
// Odd: damage to a real buffer. [u8 n] then n payloads [u8 length][bytes], appended one at a
// time; then up to four flips [u16 offset][u8 xor]; then, if two bytes remain, a truncation
// point. After open(), exactly the records no flip touched and the truncation left whole are
// returned, in order; damaged records counted are never more than the records touched plus the
// record magics the flips wrote where no record starts, and at least one if any was touched and
// nothing was cut. Payload bytes 0xF5 (the first byte of the record magic, never in UTF-8) are
// replaced, so a payload cannot hold a forged record; a flip can still write one. Except when:
//   - the flips left no v2 magic at all (the file's and every record's): such a segment is read
//     as the old format, and only "no crash" is checked;
//   - the flips wrote a record header whose checksum verifies (where no record starts, or over a
//     record's own): only the intact records wholly before it are checked (returned first, in
//     order).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "outputs/delivery/disk_queue.h"

namespace fs = std::filesystem;
using trailwarden::DiskQueue;
using namespace std::chrono_literals;

namespace {

struct Input {
  std::string_view in;
  bool take(size_t n, std::string_view& out) {
    if (in.size() < n) return false;
    out = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  bool u8(size_t& v) {
    std::string_view b;
    if (!take(1, b)) return false;
    v = static_cast<uint8_t>(b[0]);
    return true;
  }
  bool u16(size_t& v) {
    std::string_view b;
    if (!take(2, b)) return false;
    v = static_cast<uint8_t>(b[0]) | (static_cast<size_t>(static_cast<uint8_t>(b[1])) << 8);
    return true;
  }
};

const std::string& work_dir() {
  static const std::string dir = [] {
    std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/tw-dq-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    spdlog::set_level(spdlog::level::off);
    return tmpl;
  }();
  return dir;
}

void write(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string read(const std::string& path) {
  std::string out(fs::file_size(path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

DiskQueue::Options options() {
  DiskQueue::Options o;
  o.fsync = false;
  o.quarantine_max_bytes = 1 << 16;
  return o;
}

void raw(Input in, const std::string& dir) {
  size_t seg_len = 0;
  std::string_view seg;
  if (!in.u16(seg_len) || !in.take(std::min(seg_len, in.in.size()), seg)) return;
  fs::create_directories(dir);
  write(dir + "/000000000001.seg", seg);
  if (!in.in.empty()) write(dir + "/ack", in.in.substr(1));  // (no bytes left: no ack file)
  std::vector<std::string> first;
  {
    DiskQueue q(dir, options());
    std::string err;
    if (!q.open(err)) {
      if (err.empty()) std::abort();
      return;
    }
    first = q.peek(100000, 0ms);
    size_t bytes = 0;
    for (const auto& r : first) bytes += r.size();
    if (first.size() > seg.size() / 8 || bytes > seg.size()) std::abort();
    if (q.append({"appended"}, err) != DiskQueue::AppendResult::kOk) std::abort();
  }
  DiskQueue again(dir, options());
  std::string err;
  if (!again.open(err)) std::abort();
  first.push_back("appended");
  if (again.peek(100000, 0ms) != first) std::abort();
}

void damaged(Input in, const std::string& dir) {
  size_t n = 0;
  if (!in.u8(n)) return;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < n; ++i) {
    size_t len = 0;
    std::string_view p;
    if (!in.u8(len) || !in.take(len, p)) break;
    std::string s(p);
    for (char& c : s)
      if (static_cast<uint8_t>(c) == 0xF5) c = 'x';
    payloads.push_back(std::move(s));
  }
  const std::string seg = dir + "/000000000001.seg";
  std::vector<uint64_t> starts;
  {
    DiskQueue q(dir, options());
    std::string err;
    if (!q.open(err)) std::abort();
    for (const auto& p : payloads) {
      starts.push_back(fs::file_size(seg));
      if (q.append({p}, err) != DiskQueue::AppendResult::kOk) std::abort();
    }
  }
  const std::string original = read(seg);
  std::string data = original;
  starts.push_back(data.size());
  for (int f = 0; f < 4; ++f) {
    size_t offset = 0, mask = 0;
    if (!in.u16(offset) || !in.u8(mask)) break;
    if (data.empty()) continue;
    offset %= data.size();
    data[offset] = static_cast<char>(data[offset] ^ static_cast<char>(mask));
  }
  std::set<size_t> touched;  // records with a changed byte (two flips of one byte may cancel)
  for (size_t k = 0; k < payloads.size(); ++k)
    if (data.compare(starts[k], starts[k + 1] - starts[k], original, starts[k],
                     starts[k + 1] - starts[k]) != 0)
      touched.insert(k);
  size_t cut = data.size();
  if (size_t t = 0; in.u16(t)) cut = t % (data.size() + 1);
  data.resize(cut);
  write(seg, data);
  std::vector<std::string> expected;
  for (size_t k = 0; k < payloads.size(); ++k)
    if (!touched.count(k) && starts[k + 1] <= cut) expected.push_back(payloads[k]);
  DiskQueue q(dir, options());
  std::string err;
  if (!q.open(err)) std::abort();
  // Damage that leaves no v2 magic (the file magic and every record magic flipped) makes the
  // segment one of the old format whose first record is damaged, and it is read as one
  // (segment_format.h): bytes inside a payload may then pass for old-format records. Only
  // "no crash" holds there.
  if (data.compare(0, 4, std::string_view("\xF5TWQ", 4)) != 0 &&
      data.find(std::string_view("\xF5TWR", 4)) == std::string::npos)
    return;
  // Record magics that start no record: a flip can write one (0xF5 over a payload's "xTWR" after
  // the replacement above, or "TWR" after a checksum byte 0xF5). Inside damaged bytes the reader
  // cannot tell one from a record whose header is damaged but whose magic is intact, and counts
  // it as a record ("as far as can be told", segment_format.h): the count may exceed the records
  // touched by one per such magic, never by more. (Found by the fuzzer: the only record's magic
  // flipped and a flip making "\xF5TWR" in its payload were counted as two damaged records;
  // nothing was forged or lost.)
  // A record header that verifies where no record starts, or a record's header changed by the
  // flips that still verifies (a length and its checksum both rewritten), is a header the damage
  // wrote (64 bits agree): the reader must trust its length, which may cover intact records, and
  // deliver its payload if that checksum verifies as well. Before it, reading is unchanged: the
  // intact records wholly before it are still returned first, in order.
  const std::set<size_t> record_starts(starts.begin(), starts.end() - 1);
  size_t stray_magics = 0, forged_header = std::string::npos;
  for (size_t p = data.find(std::string_view("\xF5TWR", 4)); p != std::string::npos;
       p = data.find(std::string_view("\xF5TWR", 4), p + 1)) {
    const bool at_start = record_starts.count(p) > 0;
    if (!at_start) ++stray_magics;
    if (forged_header == std::string::npos && p + 12 <= data.size() &&
        (!at_start || data.compare(p, 12, original, p, 12) != 0) &&
        trailwarden::crc32c(std::string_view(data).substr(p, 8)) ==
            (static_cast<uint32_t>(static_cast<uint8_t>(data[p + 8])) |
             static_cast<uint32_t>(static_cast<uint8_t>(data[p + 9])) << 8 |
             static_cast<uint32_t>(static_cast<uint8_t>(data[p + 10])) << 16 |
             static_cast<uint32_t>(static_cast<uint8_t>(data[p + 11])) << 24))
      forged_header = p;
  }
  const std::vector<std::string> got = q.peek(100000, 0ms);
  if (forged_header != std::string::npos) {
    size_t wholly_before = 0;  // the first records of `expected`
    for (size_t k = 0; k < payloads.size(); ++k)
      if (!touched.count(k) && starts[k + 1] <= forged_header) ++wholly_before;
    if (got.size() < wholly_before ||
        !std::equal(expected.begin(), expected.begin() + static_cast<long>(wholly_before),
                    got.begin()))
      std::abort();
    return;
  }
  if (got != expected) std::abort();
  if (q.corrupt_records() > touched.size() + stray_magics) std::abort();
  // Uncut, each touched record is counted, unless consecutive ones lost their magic as well.
  if (cut == starts.back() && !touched.empty() && q.corrupt_records() == 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const std::string dir = work_dir() + "/q";
  std::error_code ec;
  fs::remove_all(dir, ec);
  Input in{std::string_view(reinterpret_cast<const char*>(bytes) + 1, size - 1)};
  if (bytes[0] % 2 == 0) raw(in, dir);
  else damaged(in, dir);
  return 0;
}
