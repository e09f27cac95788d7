// The shared AWS config and credentials files (~/.aws/config, ~/.aws/credentials): INI-style
// profiles as the AWS SDKs read them. Free functions on values; thread-safe.
//
// Format, as the SDKs' shared-file parsers accept it:
// - "[name]" starts a profile in the credentials file; in the config file it is
//   "[profile name]", except "[default]" (and "[profile default]", which wins over "[default]"
//   when both exist). "[sso-session x]" sections of the config file go to `sso_sessions` when
//   the caller asks for them. Other sections ("[services x]", "[name]" without the prefix) are
//   ignored, as is "[profile x]" in the credentials file.
// - "key = value" lines; keys are case-insensitive (stored lowercase); the value is trimmed and
//   may contain '=' (session tokens do). A '#' or ';' preceded by whitespace starts a comment
//   in a value; at the start of a line it makes the line a comment.
// - An indented line continues the previous property (sub-properties such as "s3 =" blocks):
//   appended to its value after a newline.
// - A repeated profile or key merges; the later value wins. CRLF line ends and a UTF-8 BOM are
//   accepted. Properties before the first section are ignored.
// - A line that is none of these ("key" without '=', "[unterminated") is an error naming the
//   file and line: a half-read credentials file must not silently yield another identity.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace trailwarden::aws {

using Profile = std::map<std::string, std::string, std::less<>>;  // lowercase key -> value
using Profiles = std::map<std::string, Profile, std::less<>>;     // profile name -> properties

enum class ProfileFileKind { kConfig, kCredentials };

// Parses one file and merges its profiles into `out` (its values win over those already
// there: parse the config file first, then the credentials file). `origin` names the file in
// error messages. Returns false with "origin:line: what" on a malformed line. With
// `sso_sessions`, the config file's "[sso-session NAME]" sections are merged into it by NAME.
bool parse_profile_file(std::string_view text, ProfileFileKind kind, std::string_view origin,
                        Profiles& out, std::string& error, Profiles* sso_sessions = nullptr);

}  // namespace trailwarden::aws
