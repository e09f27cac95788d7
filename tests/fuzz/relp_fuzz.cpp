// libFuzzer target: any bytes as what a RELP receiver sends (outputs/syslog/relp.h). The frame
// reader must never crash, hang or grow without bound, and must be indifferent to how the bytes
// are split into reads: the input fed whole and fed in two pieces (at a point taken from the
// first byte) gives the same frames and the same final state. Answers and offers are parsed too.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "outputs/syslog/relp.h"

namespace relp = trailwarden::relp;

namespace {

struct Outcome {
  std::vector<relp::Frame> frames;
  bool error = false;
};

Outcome read_all(std::string_view input, size_t cut) {
  relp::FrameReader reader;
  Outcome out;
  std::string error;
  auto drain = [&] {
    for (;;) {
      relp::Frame f;
      const auto r = reader.next(f, error);
      if (r == relp::FrameReader::Result::kFrame) {
        if (f.data.size() > relp::kMaxResponseData) std::abort();
        out.frames.push_back(std::move(f));
        continue;
      }
      if (r == relp::FrameReader::Result::kError) {
        if (error.empty()) std::abort();
        out.error = true;
      }
      return r;
    }
  };
  reader.feed(input.substr(0, cut));
  if (drain() == relp::FrameReader::Result::kError) return out;
  reader.feed(input.substr(cut));
  drain();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t cut = size ? data[0] % (size + 1) : 0;
  const Outcome whole = read_all(input, size);
  const Outcome split = read_all(input, cut);
  // Split reads may stop at an error sooner only if the whole read also errs.
  if (whole.error != split.error) std::abort();
  if (whole.frames.size() != split.frames.size()) std::abort();
  for (size_t i = 0; i < whole.frames.size(); ++i) {
    const relp::Frame& a = whole.frames[i];
    const relp::Frame& b = split.frames[i];
    if (a.txnr != b.txnr || a.command != b.command || a.data != b.data) std::abort();
    relp::Response rsp;
    if (relp::parse_response(a.data, rsp) && (rsp.code < 0 || rsp.code > 999)) std::abort();
    (void)relp::offers_syslog(a.data);
  }
  return 0;
}
