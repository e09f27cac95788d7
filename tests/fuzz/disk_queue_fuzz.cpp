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
// returned, in order; damaged records counted are never more than the records touched, and at
// least one if any was touched and nothing was cut. Payload
// bytes 0xF5 (the first byte of the record magic, never in UTF-8) are replaced, so a payload
// cannot hold a forged record. Except when the flips left no v2 magic at all (the file's and
// every record's): such a segment is read as the old format, and only "no crash" is checked.
#include <spdlog/spdlog.h>
#include <unistd.h>

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
  if (q.peek(100000, 0ms) != expected) std::abort();
  if (q.corrupt_records() > touched.size()) std::abort();
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
