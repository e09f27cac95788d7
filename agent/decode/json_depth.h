// json_depth_within: how deep a JSON value nests, for the per-record limit (limits.max_depth),
// without parsing it.
#pragma once

#include <cstddef>
#include <string_view>

namespace trailwarden {

// Whether the JSON value `raw` nests at most `limit` deep (an object or array is level 1, each
// container inside it one more; brackets inside strings do not count). One vectorised count
// settles it for most records; only a value with more than `limit` brackets is walked.
bool json_depth_within(std::string_view raw, size_t limit);

}  // namespace trailwarden
