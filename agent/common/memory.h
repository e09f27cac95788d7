// Giving freed memory back to the operating system. Free function; thread-safe.
#pragma once

namespace trailwarden {

// Asks the allocator to return free heap memory to the kernel (glibc: malloc_trim(0), which
// also releases free pages inside the heaps of every thread's arena). Costs a walk of the
// heaps: call it after freeing something large, not per object. No-op on other C libraries.
void return_free_memory();

}  // namespace trailwarden
