// libFuzzer target: any bytes as a disk-buffer payload (agent/core/alert_record.h). A disk buffer is
// checksummed, but its bytes come from a file anyone with the state directory's permissions can
// write, and from an older or newer agent: AlertRecord::decode() must never crash, read out of
// bounds or accept what it cannot re-encode. What it accepts must survive a round trip:
// encode(decode(x)) decodes again to a record that encodes to the very same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/core/alert_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  trailwarden::AlertRecord first;
  if (!trailwarden::AlertRecord::decode(input, first)) return 0;
  std::string once;
  first.encode(once);
  trailwarden::AlertRecord second;
  if (!trailwarden::AlertRecord::decode(once, second)) std::abort();
  std::string twice;
  second.encode(twice);
  if (once != twice) std::abort();
  return 0;
}
