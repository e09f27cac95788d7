// Standard base64 (RFC 4648 §4, with padding), as AWS's JSON protocols carry binary values
// (DynamoDB B, CloudTrail public keys). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace trailwarden::aws {

std::string base64_encode(std::string_view raw);
// false for anything but canonical padded standard base64: no whitespace, no URL alphabet,
// '=' only at the end, no bits set in the padding. "" decodes to "".
bool base64_decode(std::string_view text, std::string& raw);

}  // namespace trailwarden::aws
