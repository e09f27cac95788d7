// Lone UTF-16 surrogate escapes in JSON text. Free function; thread-safe.
//
// JSON lets a string hold "\ud800" — half of a UTF-16 pair with no other half — and simdjson
// (rightly, for UTF-8 output) refuses to parse it. A record holding one would never be matched,
// so anybody who can put one in a field of their own CloudTrail record could keep its alert
// from the SIEM. Instead the matcher replaces each lone surrogate escape by "\ufffd" (U+FFFD,
// the replacement character, as a decoder does for unpaired surrogates) — the same length, so
// every other byte stays where it was — and matches the record.
#pragma once

#include <cstddef>

namespace trailwarden {

// Rewrites, in data[0, size), every \uD800-\uDFFF escape that is not a high surrogate followed
// by a low one into \ufffd. Other escapes (\\u..., valid pairs) are left alone. Returns how
// many were replaced.
size_t replace_lone_surrogate_escapes(char* data, size_t size);

}  // namespace trailwarden
