// The minimal XML reader and the STS response parser, including hostile documents.
#include "agent/aws/xml.h"

#include <doctest/doctest.h>

#include "agent/aws/sts.h"
#include "tests/unit/aws/fakes.h"

using namespace trailwarden::aws;
using namespace trailwarden::aws::test;

namespace {

std::string leaf(const std::string& xml, const std::string& path) {
  std::vector<XmlLeaf> leaves;
  std::string error, out;
  REQUIRE_MESSAGE(parse_xml_leaves(xml, leaves, error), error);
  if (!xml_leaf_text(leaves, path, out)) return "<none>";
  return out;
}

bool malformed(const std::string& xml, const std::string& expect_in_error = "") {
  std::vector<XmlLeaf> leaves;
  std::string error;
  const bool ok = parse_xml_leaves(xml, leaves, error);
  if (!ok && !expect_in_error.empty())
    CHECK_MESSAGE(error.find(expect_in_error) != std::string::npos, error);
  return !ok;
}

}  // namespace

TEST_CASE("XML leaves: paths, prefixes, attributes, references, CDATA") {
  const std::string doc =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- leading comment -->\n"
      "<sts:R xmlns:sts=\"urn:x\" a='1' b = \"x > y\">\n"
      "  <A>one &amp; two &lt;3&gt; &quot;q&quot; &apos;s&apos; &#65;&#x42;&#x20AC;</A>\n"
      "  <B><![CDATA[<C>not an element</C> & raw]]></B>\n"
      "  <sts:D/>\n"
      "  <E>AK<!-- split -->ID</E>\n"
      "  <F>\n    <G>nested</G>\n  </F >\n"
      "</sts:R>\n<!-- trailing -->\n";
  CHECK(leaf(doc, "R/A") == "one & two <3> \"q\" 's' AB\xE2\x82\xAC");
  CHECK(leaf(doc, "R/B") == "<C>not an element</C> & raw");
  CHECK(leaf(doc, "R/C") == "<none>");
  CHECK(leaf(doc, "R/D") == "");
  CHECK(leaf(doc, "R/E") == "AKID");
  CHECK(leaf(doc, "R/F/G") == "nested");
  CHECK(leaf(doc, "R/F") == "<none>");  // has a child: not a leaf
}

TEST_CASE("XML: an element hidden in a comment, PI, CDATA or attribute is not an element") {
  const std::string doc =
      "<R><!-- <Key>evil</Key> --><?pi <Key>evil</Key> ?>"
      "<X attr=\"&lt;Key&gt;evil\"/><Y><![CDATA[<Key>evil</Key>]]></Y><Key>good</Key></R>";
  CHECK(leaf(doc, "R/Key") == "good");
}

TEST_CASE("XML: ambiguous (repeated) paths give no value") {
  std::vector<XmlLeaf> leaves;
  std::string error, out;
  REQUIRE(parse_xml_leaves("<R><K>a</K><K>b</K><L>c</L></R>", leaves, error));
  CHECK_FALSE(xml_leaf_text(leaves, "R/K", out));
  CHECK(xml_leaf_text(leaves, "R/L", out));
  CHECK(out == "c");
}

TEST_CASE("XML: malformed and hostile documents are refused") {
  CHECK(malformed("", "no root"));
  CHECK(malformed("   ", "no root"));
  CHECK(malformed("<R><A>x</R>", "does not match"));
  CHECK(malformed("<R><A>x</A>", "ends inside"));
  CHECK(malformed("<R>", "ends inside"));
  CHECK(malformed("<R></R><S></S>", "more than one root"));
  CHECK(malformed("text<R/>", "outside the root"));
  CHECK(malformed("<R/>junk", "outside the root"));
  CHECK(malformed("<!DOCTYPE R [<!ENTITY x \"y\">]><R>&x;</R>", "DOCTYPE"));
  CHECK(malformed("<R>&x;</R>", "unknown entity"));
  CHECK(malformed("<R>a & b</R>", "reference"));
  CHECK(malformed("<R>&#0;</R>", "invalid character"));
  CHECK(malformed("<R>&#xD800;</R>", "invalid character"));
  CHECK(malformed("<R>&#x110000;</R>", "invalid character"));
  CHECK(malformed("<R>&#xZZ;</R>", "malformed character reference"));
  CHECK(malformed("<R>&#;</R>"));
  CHECK(malformed("<R a=1/>", "unquoted"));
  CHECK(malformed("<R a=\"1\"b=\"2\"/>", "whitespace"));
  CHECK(malformed("<R a=\"<x>\"/>", "'<' in an attribute"));
  CHECK(malformed("<R a=\"1/>", "unterminated attribute"));
  CHECK(malformed("<R a/>", "without a value"));
  CHECK(malformed("<R><!-- never closed </R>", "unterminated comment"));
  CHECK(malformed("<R><![CDATA[ never closed </R>", "unterminated CDATA"));
  CHECK(malformed("<?xml never closed", "processing instruction"));
  CHECK(malformed("<R><></R>", "malformed start tag"));
  CHECK(malformed("<R></ R>", "malformed end tag"));
  CHECK(malformed("<R><p:/></R>", "empty element name"));
  CHECK(malformed("<R", "truncated"));
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  CHECK(malformed(deep, "nested too deeply"));
  std::string ok_depth;
  for (int i = 0; i < 32; ++i) ok_depth += "<a>";
  for (int i = 0; i < 32; ++i) ok_depth += "</a>";
  CHECK_FALSE(malformed(ok_depth));
}

TEST_CASE("STS response: credentials, errors, and documents built to mislead") {
  Credentials c;
  std::string error;
  const std::string ok = sts_credentials_xml("AssumeRole", "ASIAEXAMPLE", "secret/key+x",
                                             "token==", "2024-01-01T01:00:00Z");
  REQUIRE(parse_sts_response("AssumeRole", response(200, ok), c, error));
  CHECK(c.access_key_id == "ASIAEXAMPLE");
  CHECK(c.secret_access_key == "secret/key+x");
  CHECK(c.session_token == "token==");
  REQUIRE(c.expiration);
  CHECK(*c.expiration == utc(2024, 1, 1, 1));

  // Wrong action: nothing at the expected path.
  CHECK_FALSE(parse_sts_response("AssumeRoleWithWebIdentity", response(200, ok), c, error));
  CHECK(error.find("lacks") != std::string::npos);

  // Errors: code and message, with the status.
  CHECK_FALSE(parse_sts_response(
      "AssumeRole", response(403, sts_error_xml("AccessDenied", "User: x is not authorized")), c,
      error));
  CHECK(error == "HTTP 403 AccessDenied: User: x is not authorized");
  CHECK_FALSE(parse_sts_response("AssumeRole", response(503, "Service \x01Unavailable"), c, error));
  CHECK(error == "HTTP 503: Service ?Unavailable");

  // A second AccessKeyId at the same path makes the answer ambiguous: refused.
  std::string twice = ok;
  twice.insert(twice.find("<AccessKeyId>"), "<AccessKeyId>AKIAEVIL</AccessKeyId>");
  CHECK_FALSE(parse_sts_response("AssumeRole", response(200, twice), c, error));
  // Credentials only inside a comment do not count.
  const std::string commented =
      "<AssumeRoleResponse><!--<AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
      "<SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken><Expiration>"
      "2024-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleResult>--></AssumeRoleResponse>";
  CHECK_FALSE(parse_sts_response("AssumeRole", response(200, commented), c, error));
  // Elsewhere in the tree (not under <action>Result/Credentials) does not count either.
  std::string moved = ok;
  const size_t at = moved.find("<Credentials>");
  moved.replace(at, 13, "<Other><Credentials>");
  moved.replace(moved.find("</Credentials>"), 14, "</Credentials></Other>");
  CHECK_FALSE(parse_sts_response("AssumeRole", response(200, moved), c, error));
  // Truncated, bad expiration, empty key, key with spaces.
  CHECK_FALSE(
      parse_sts_response("AssumeRole", response(200, ok.substr(0, ok.size() / 2)), c, error));
  CHECK(error.find("unreadable response") != std::string::npos);
  CHECK_FALSE(parse_sts_response(
      "AssumeRole", response(200, sts_credentials_xml("AssumeRole", "A", "S", "T", "tomorrow")), c,
      error));
  CHECK_FALSE(parse_sts_response(
      "AssumeRole",
      response(200, sts_credentials_xml("AssumeRole", "", "S", "T", "2024-01-01T01:00:00Z")), c,
      error));
  CHECK_FALSE(parse_sts_response(
      "AssumeRole",
      response(200, sts_credentials_xml("AssumeRole", "A B", "S", "T", "2024-01-01T01:00:00Z")), c,
      error));
}
