#include "outputs/delivery/disk_queue.h"
#include "outputs/delivery/segment_format.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "tests/fakes/manual_clock.h"

using namespace trailwarden;
using namespace std::chrono_literals;

namespace {
std::string temp_dir() {
  char tmpl[] = "/tmp/tw-dq-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return std::string(tmpl) + "/q";
}
std::vector<std::string> records(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("record-" + std::to_string(i));
  return out;
}
}  // namespace

TEST_CASE("crc32c matches the standard check value") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
}

TEST_CASE("crc32c agrees with the bitwise definition at every length and alignment") {
  auto reference = [](std::string_view d) {
    uint32_t crc = 0xFFFFFFFFu;
    for (char ch : d) {
      crc ^= static_cast<uint8_t>(ch);
      for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return crc ^ 0xFFFFFFFFu;
  };
  std::string data;
  for (int i = 0; i < 200; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  for (size_t start = 0; start < 9; ++start)
    for (size_t len = 0; start + len <= data.size(); ++len) {
      const std::string_view d = std::string_view(data).substr(start, len);
      REQUIRE(crc32c(d) == reference(d));
    }
}

TEST_CASE("records come back in order and survive a reopen until acknowledged") {
  const std::string dir = temp_dir();
  std::string err;
  {
    DiskQueue q(dir, {});
    REQUIRE(q.open(err));
    REQUIRE(q.append(records(0, 5), err) == DiskQueue::AppendResult::kOk);
    auto head = q.peek(3, 0ms);
    CHECK(head == records(0, 3));
    REQUIRE(q.ack(2, err));
    CHECK(q.pending_records() == 3);
  }  // "kill": nothing more is written
  DiskQueue again(dir, {});
  REQUIRE(again.open(err));
  CHECK(again.peek(10, 0ms) == records(2, 5));
  REQUIRE(again.append(records(5, 6), err) == DiskQueue::AppendResult::kOk);
  CHECK(again.peek(10, 0ms) == records(2, 6));
  REQUIRE(again.ack(4, err));
  CHECK(again.pending_records() == 0);
  DiskQueue third(dir, {});
  REQUIRE(third.open(err));
  CHECK(third.pending_records() == 0);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST_CASE("a torn append at the end is cut off, earlier records are kept") {
  const std::string dir = temp_dir();
  std::string err;
  uintmax_t intact = 0;
  {
    DiskQueue q(dir, {});
    REQUIRE(q.open(err));
    REQUIRE(q.append(records(0, 3), err) == DiskQueue::AppendResult::kOk);
    intact = std::filesystem::file_size(dir + "/000000000001.seg");
    REQUIRE(q.append({std::string(64, 'x')}, err) == DiskQueue::AppendResult::kOk);
  }
  // A record that never finished: its header and a part of its payload.
  std::filesystem::resize_file(dir + "/000000000001.seg", intact + 20);
  DiskQueue q(dir, {});
  REQUIRE(q.open(err));
  CHECK(q.peek(10, 0ms) == records(0, 3));
  CHECK(q.corrupt_records() == 0);
  CHECK(std::filesystem::file_size(dir + "/000000000001.seg") == intact);
  REQUIRE(q.append(records(3, 4), err) == DiskQueue::AppendResult::kOk);
  DiskQueue again(dir, {});
  REQUIRE(again.open(err));
  CHECK(again.peek(10, 0ms) == records(0, 4));
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST_CASE("a corrupt record (bad checksum) is detected") {
  const std::string dir = temp_dir();
  std::string err;
  {
    DiskQueue::Options o;
    o.segment_bytes = 10;  // one record per segment
    DiskQueue q(dir, o);
    REQUIRE(q.open(err));
    for (int i = 0; i < 3; ++i) REQUIRE(q.append(records(i, i + 1), err) == DiskQueue::AppendResult::kOk);
  }
  {
    const auto size = std::filesystem::file_size(dir + "/000000000002.seg");
    std::fstream seg(dir + "/000000000002.seg", std::ios::in | std::ios::out | std::ios::binary);
    seg.seekp(static_cast<std::streamoff>(size - 2));  // in the payload
    seg.put('X');
  }
  DiskQueue::Options o;
  o.segment_bytes = 10;
  DiskQueue q(dir, o);
  REQUIRE(q.open(err));
  CHECK(q.corrupt_records() == 1);
  CHECK(q.peek(10, 0ms) == std::vector<std::string>{"record-0", "record-2"});
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST_CASE("bounded: a full queue refuses appends until records are acknowledged") {
  const std::string dir = temp_dir();
  std::string err;
  DiskQueue::Options o;
  o.max_bytes = 100;
  DiskQueue q(dir, o);
  REQUIRE(q.open(err));
  REQUIRE(q.append(records(0, 4), err) == DiskQueue::AppendResult::kOk);  // 4 x (8 + 8) = 64
  CHECK(q.append(records(4, 8), err) == DiskQueue::AppendResult::kFull);
  CHECK_FALSE(q.wait_for_room(64, 1ms));
  REQUIRE(q.ack(4, err));
  CHECK(q.wait_for_room(64, 1ms));
  CHECK(q.append(records(4, 8), err) == DiskQueue::AppendResult::kOk);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

TEST_CASE("segments rotate and acknowledged ones are deleted") {
  const std::string dir = temp_dir();
  std::string err;
  DiskQueue::Options o;
  o.segment_bytes = 64;
  DiskQueue q(dir, o);
  REQUIRE(q.open(err));
  for (int i = 0; i < 20; ++i) REQUIRE(q.append(records(i, i + 1), err) == DiskQueue::AppendResult::kOk);
  auto count = [&] {
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ".seg";
    return n;
  };
  CHECK(count() > 3);
  REQUIRE(q.ack(20, err));
  CHECK(count() == 1);
  DiskQueue again(dir, o);
  REQUIRE(again.open(err));
  CHECK(again.pending_records() == 0);
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

namespace {
// Waits (in real time, bounded) until `clock` has `n` waiters: the queue is blocked on it.
bool await_waiters(const testing::ManualClock& clock, int n) {
  return clock.await_waiters(n) && clock.waiters() == n;
}
}  // namespace

TEST_CASE("the queue waits on the injected clock: timeouts pass when the clock says so") {
  testing::ManualClock clock;
  DiskQueue::Options o;
  o.max_bytes = 100;
  DiskQueue q("", o, clock);  // memory-only: same waits
  std::string err;
  REQUIRE(q.open(err));

  // A full queue: wait_for_room for 30 s of the clock returns false once the clock is moved
  // past it, and not before.
  REQUIRE(q.append(records(0, 4), err) == DiskQueue::AppendResult::kOk);
  auto room = std::async(std::launch::async, [&] { return q.wait_for_room(64, 30s); });
  REQUIRE(await_waiters(clock, 1));
  clock.advance(29s);
  CHECK(room.wait_for(20ms) == std::future_status::timeout);
  clock.advance(1s);
  CHECK_FALSE(room.get());
  // Room made before the deadline ends the wait without the clock moving.
  room = std::async(std::launch::async, [&] { return q.wait_for_room(64, 30s); });
  REQUIRE(await_waiters(clock, 1));
  REQUIRE(q.ack(4, err));
  CHECK(room.get());

  // peek on an empty queue: waits `timeout` of the clock for the first record.
  auto empty = std::async(std::launch::async, [&] { return q.peek(3, 10s); });
  REQUIRE(await_waiters(clock, 1));
  clock.advance(10s);
  CHECK(empty.get().empty());
  // ... and an append wakes it at once.
  auto first = std::async(std::launch::async, [&] { return q.peek(3, 10s); });
  REQUIRE(await_waiters(clock, 1));
  REQUIRE(q.append(records(0, 1), err) == DiskQueue::AppendResult::kOk);
  CHECK(first.get() == records(0, 1));
  // The fill wait: up to `fill` of the clock for `max` records, then what there is.
  auto fill = std::async(std::launch::async, [&] { return q.peek(3, 0ms, 5s); });
  REQUIRE(await_waiters(clock, 1));
  clock.advance(5s);
  CHECK(fill.get() == records(0, 1));
}

