#include "agent/common/cpu_features.h"

namespace trailwarden {

bool cpu_has_avx2() {
#if defined(__x86_64__)
  // Explicit init: the answer may be asked for during static initialisation.
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("popcnt") != 0;
  }();
  return avx2;
#else
  return false;
#endif
}

}  // namespace trailwarden
