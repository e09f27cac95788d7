// What the CPU the agent runs on can do, for code that picks a vectorised variant at run time
// (compiled with a target attribute, called only when the CPU has it).
#pragma once

namespace trailwarden {

// True on x86-64 CPUs with AVX2 (and POPCNT, which every AVX2 CPU has); false elsewhere.
bool cpu_has_avx2();

}  // namespace trailwarden
