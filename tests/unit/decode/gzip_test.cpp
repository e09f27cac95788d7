#include "agent/decode/gzip.h"

#include <doctest/doctest.h>

#include "tests/unit/test_util.h"

using namespace trailwarden;

namespace {
std::string sample_text(size_t n) {
  std::string s;
  while (s.size() < n) s += R"({"eventName":"DescribeInstances","awsRegion":"us-east-1"},)";
  s.resize(n);
  return s;
}
}  // namespace

TEST_CASE("single and multi-member gzip") {
  const std::string a = sample_text(100000), b = sample_text(5000);
  Buffer out;
  std::string err;
  REQUIRE(inflate_gzip(test::gzip(a), 1 << 20, out, err) == InflateResult::kOk);
  CHECK(out.view() == a);
  // `cat a.gz b.gz` is a valid gzip file holding a then b
  REQUIRE(inflate_gzip(test::gzip(a) + test::gzip(b), 1 << 20, out, err) == InflateResult::kOk);
  CHECK(out.view() == a + b);
  // trailing zero padding is tolerated
  REQUIRE(inflate_gzip(test::gzip(b) + std::string(100, '\0'), 1 << 20, out, err) == InflateResult::kOk);
  CHECK(out.view() == b);
  // empty content
  REQUIRE(inflate_gzip(test::gzip(""), 1 << 20, out, err) == InflateResult::kOk);
  CHECK(out.size() == 0);
}

TEST_CASE("truncated gzip is reported as truncated") {
  const std::string z = test::gzip(sample_text(200000));
  Buffer out;
  std::string err;
  CHECK(inflate_gzip(z.substr(0, z.size() / 2), 1 << 20, out, err) == InflateResult::kTruncated);
  CHECK(err.find("truncated") != std::string::npos);
  // cut inside the 8-byte trailer
  CHECK(inflate_gzip(z.substr(0, z.size() - 3), 1 << 20, out, err) == InflateResult::kTruncated);
}

TEST_CASE("corrupt gzip: bad CRC, bad data, garbage after the member") {
  std::string z = test::gzip(sample_text(50000));
  Buffer out;
  std::string err;
  std::string bad_crc = z;
  bad_crc[bad_crc.size() - 6] ^= 0x55;
  CHECK(inflate_gzip(bad_crc, 1 << 20, out, err) == InflateResult::kCorrupt);
  CHECK(err.find("CRC") != std::string::npos);
  std::string bad_data = z;
  for (size_t i = 20; i < 60; ++i) bad_data[i] = static_cast<char>(0xFF);
  auto r = inflate_gzip(bad_data, 1 << 20, out, err);
  CHECK(r != InflateResult::kOk);
  CHECK(inflate_gzip(z + "garbage", 1 << 20, out, err) == InflateResult::kCorrupt);
  CHECK(err.find("after gzip member") != std::string::npos);
  std::string bad_header = z;
  bad_header[2] = 7;  // compression method other than deflate
  CHECK(inflate_gzip(bad_header, 1 << 20, out, err) == InflateResult::kCorrupt);
}

TEST_CASE("a gzip bomb stops at the limit") {
  const std::string zeros(64 << 20, '\0');
  const std::string z = test::gzip(zeros, 9);
  CHECK(z.size() < 100000);
  Buffer out;
  std::string err;
  CHECK(inflate_gzip(z, 1 << 20, out, err) == InflateResult::kTooLarge);
  CHECK(out.capacity() <= (1 << 20) + 1);
  CHECK(err.find("exceeds the limit") != std::string::npos);
  // exactly at the limit is fine
  const std::string exact(4096, 'x');
  CHECK(inflate_gzip(test::gzip(exact), 4096, out, err) == InflateResult::kOk);
  CHECK(inflate_gzip(test::gzip(exact), 4095, out, err) == InflateResult::kTooLarge);
}

TEST_CASE("arbitrary bytes never crash the decoder") {
  const std::string z = test::gzip(sample_text(30000));
  Buffer out;
  std::string err;
  uint32_t seed = 12345;
  for (int round = 0; round < 300; ++round) {
    std::string m = z;
    for (int k = 0; k < 1 + round % 8; ++k) {
      seed = seed * 1103515245 + 12345;
      m[seed % m.size()] = static_cast<char>(seed >> 16);
    }
    (void)inflate_gzip(m, 1 << 20, out, err);
    (void)inflate_gzip(m.substr(0, seed % m.size()), 1 << 20, out, err);
  }
}

TEST_CASE("inflate_gzip_stream hands over what inflate_gzip makes, within the same bound") {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "record " + std::to_string(i) + "\n";
  const std::string gz = test::gzip(text.substr(0, 1000000)) + test::gzip(text.substr(1000000));
  std::string got;
  size_t pieces = 0;
  std::string error;
  auto sink = [&](std::string_view p) {
    got.append(p);
    ++pieces;
  };
  REQUIRE(inflate_gzip_stream(gz, text.size(), sink, error) == InflateResult::kOk);
  CHECK(got == text);
  CHECK(pieces > 4);  // a window, not the whole
  got.clear();
  CHECK(inflate_gzip_stream(gz, text.size() - 1, sink, error) == InflateResult::kTooLarge);
  CHECK(got.size() == text.size() - 1);
  got.clear();
  CHECK(inflate_gzip_stream(gz.substr(0, gz.size() - 9), text.size(), sink, error) ==
        InflateResult::kTruncated);
}
