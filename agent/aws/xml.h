// A minimal, strict XML reader for the few values trailwarden needs from AWS query-protocol
// responses (STS credentials, error codes). It is not a general XML parser: it turns a document
// into its leaf elements (elements without child elements) keyed by their path of local names
// from the root, e.g. "AssumeRoleResponse/AssumeRoleResult/Credentials/AccessKeyId".
//
// It is built not to be fooled by hostile input: comments, processing instructions and CDATA are
// understood (a tag inside them is text, not an element), attribute values may contain '<' and
// '>', tags must nest, DOCTYPE and entity declarations are refused (no entity expansion beyond
// the five predefined ones and character references), depth and size are bounded, and a value
// is only returned when exactly one element has its path. Free functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trailwarden::aws {

struct XmlLeaf {
  std::string path;  // local names joined with '/', namespace prefixes removed
  std::string text;  // character data with references decoded (CDATA kept verbatim)
};

// Parses `xml` (at most max_depth nested elements). Returns false with `error` on any
// malformation; `out` is then unspecified.
bool parse_xml_leaves(std::string_view xml, std::vector<XmlLeaf>& out, std::string& error,
                      size_t max_depth = 32);

// The text of the one leaf at `path`. false when there is none or more than one.
bool xml_leaf_text(const std::vector<XmlLeaf>& leaves, std::string_view path, std::string& out);

}  // namespace trailwarden::aws
