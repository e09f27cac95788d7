// Filter-pattern parsing and evaluation, including every choice documented in
// docs/filter-patterns.md where AWS's documentation is silent.
#include <doctest/doctest.h>
#include <simdjson.h>

#include "agent/rules/pattern.h"

using namespace trailwarden::rules;

namespace {

Pattern compile(const std::string& p) {
  ParseError err;
  auto pattern = Pattern::parse(p, &err);
  INFO(p, " -> ", err.to_string());
  REQUIRE(pattern.has_value());
  return std::move(*pattern);
}

bool json_match(const std::string& p, const std::string& event) {
  Pattern pattern = compile(p);
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(event);
  return pattern.matches(event, &e);
}

bool text_match(const std::string& p, const std::string& event) {
  return compile(p).matches(event, nullptr);
}

ParseError error_of(const std::string& p) {
  ParseError err;
  auto pattern = Pattern::parse(p, &err);
  INFO(p);
  REQUIRE_FALSE(pattern.has_value());
  return err;
}

}  // namespace

TEST_CASE("JSON string equality, quoted and bare, is case-sensitive") {
  const std::string ev = R"({"eventSource":"config.amazonaws.com","eventName":"PutDeliveryChannel"})";
  CHECK(json_match(R"({ $.eventName = "PutDeliveryChannel" })", ev));
  CHECK(json_match("{ $.eventName = PutDeliveryChannel }", ev));
  CHECK(json_match("{$.eventSource=config.amazonaws.com}", ev));
  CHECK_FALSE(json_match("{ $.eventName = putdeliverychannel }", ev));
  CHECK(json_match("{ $.eventName != Other }", ev));
  CHECK_FALSE(json_match("{ $.eventName != PutDeliveryChannel }", ev));
}

TEST_CASE("the CIS 4.9 pattern, pasted unchanged") {
  const std::string p =
      "{ ($.eventSource = config.amazonaws.com) && (($.eventName=StopConfigurationRecorder)||"
      "($.eventName=DeleteDeliveryChannel)||($.eventName=PutDeliveryChannel)||"
      "($.eventName=PutConfigurationRecorder)) }";
  CHECK(json_match(p, R"({"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder"})"));
  CHECK_FALSE(json_match(p, R"({"eventSource":"config.amazonaws.com","eventName":"StartConfigurationRecorder"})"));
  CHECK_FALSE(json_match(p, R"({"eventSource":"ec2.amazonaws.com","eventName":"StopConfigurationRecorder"})"));
}

TEST_CASE("values are compared after JSON decoding") {
  CHECK(json_match("{ $.eventSource = config.amazonaws.com }",
                   R"({"eventSource":"config\u002eamazonaws\u002ecom"})"));
  CHECK(json_match(R"({ $.path = "a/b" })", R"({"path":"a\/b"})"));
  CHECK(json_match(R"({ $.q = "say \"hi\"" })", R"({"q":"say \"hi\""})"));
}

TEST_CASE("wildcards at the start and end only") {
  const std::string ev = R"({"errorCode":"Client.UnauthorizedOperation","x":"AccessDeniedException","mid":"Ev*ent"})";
  CHECK(json_match("{ $.errorCode = *UnauthorizedOperation }", ev));
  CHECK(json_match(R"({ $.errorCode = "*UnauthorizedOperation" })", ev));
  CHECK(json_match("{ $.x = AccessDenied* }", ev));
  CHECK(json_match("{ $.x = *Denied* }", ev));
  CHECK_FALSE(json_match("{ $.x = *Allowed* }", ev));
  CHECK_FALSE(json_match("{ $.x = Access*Exception }", ev));  // a middle * is literal
  CHECK(json_match("{ $.mid = Ev*ent }", ev));
  CHECK(json_match("{ $.x = * }", ev));
  CHECK(json_match(R"({ $.x = "*" })", ev));
  CHECK_FALSE(json_match("{ $.missing = * }", ev));
  CHECK(json_match("{ $.ip != 123.123.* }", R"({"ip":"111.111.111.111"})"));
  CHECK_FALSE(json_match("{ $.ip != 123.123.* }", R"({"ip":"123.123.1.1"})"));
}

TEST_CASE("numbers: signs, decimals, exponents, precise comparison") {
  const std::string ev = R"({"n":1000,"f":55.5,"neg":-3,"s":"404","sci":"1e3","big":9007199254740993})";
  CHECK(json_match("{ $.n = 1000 }", ev));
  CHECK(json_match("{ $.n = 1e3 }", ev));
  CHECK(json_match("{ $.n = 10e2 }", ev));
  CHECK(json_match("{ $.n = +1000 }", ev));
  CHECK(json_match("{ $.n >= 1000 }", ev));
  CHECK(json_match("{ $.n > 999.5 }", ev));
  CHECK_FALSE(json_match("{ $.n < 1000 }", ev));
  CHECK(json_match("{ $.f = 55.5 }", ev));
  CHECK(json_match("{ $.neg < -2 }", ev));
  CHECK(json_match("{ $.neg = -3 }", ev));
  CHECK(json_match("{ $.n != 1e+3 }", R"({"n":1001})"));
  CHECK(json_match("{ $.x = 1e-3 }", R"({"x":0.001})"));
  // integers beyond 2^53 compare exactly
  CHECK(json_match("{ $.big = 9007199254740993 }", ev));
  CHECK_FALSE(json_match("{ $.big = 9007199254740992 }", ev));
  // a string holding a plain decimal compares as a number...
  CHECK(json_match("{ $.s = 404 }", ev));
  CHECK(json_match("{ $.s >= 400 }", ev));
  // ...but not one in scientific notation
  CHECK_FALSE(json_match("{ $.sci = 1000 }", ev));
  CHECK(json_match("{ $.sci != 1000 }", ev));
  // numeric wildcard matches the textual form
  CHECK(json_match("{ $.n = 10* }", ev));
  // a quoted number is a string: it matches a number by its textual form
  CHECK(json_match(R"({ $.n = "1000" })", ev));
}

TEST_CASE("IS NULL, IS TRUE, IS FALSE, NOT EXISTS") {
  const std::string ev = R"({"a":null,"t":true,"f":false,"s":"x","o":{}})";
  CHECK(json_match("{ $.a IS NULL }", ev));
  CHECK_FALSE(json_match("{ $.s IS NULL }", ev));
  CHECK_FALSE(json_match("{ $.missing IS NULL }", ev));
  CHECK(json_match("{ $.t IS TRUE }", ev));
  CHECK_FALSE(json_match("{ $.f IS TRUE }", ev));
  CHECK(json_match("{ $.f IS FALSE }", ev));
  CHECK_FALSE(json_match("{ $.s IS TRUE }", ev));
  CHECK(json_match("{ $.missing NOT EXISTS }", ev));
  CHECK_FALSE(json_match("{ $.a NOT EXISTS }", ev));
  CHECK_FALSE(json_match("{ $.o NOT EXISTS }", ev));
  CHECK(json_match("{ $.s.deeper NOT EXISTS }", ev));
  CHECK(json_match("{ $.a is null }", ev));  // keywords are case-insensitive
}

TEST_CASE("missing properties, objects and arrays never satisfy a comparison") {
  const std::string ev = R"({"users":[1,2,3],"o":{"k":"v"},"s":"v"})";
  CHECK_FALSE(json_match("{ $.users = 1 }", ev));
  CHECK_FALSE(json_match("{ $.users != 1 }", ev));
  CHECK_FALSE(json_match("{ $.o != v }", ev));
  CHECK_FALSE(json_match("{ $.nope = v }", ev));
  CHECK_FALSE(json_match("{ $.nope != v }", ev));
  CHECK(json_match("{ $.users[2] = 3 }", ev));
  CHECK_FALSE(json_match("{ $.users[3] = 3 }", ev));
  CHECK_FALSE(json_match("{ $.s[0] = v }", ev));
  CHECK(json_match("{ $.o.k = v }", ev));
}

TEST_CASE("nested arrays and objects in arrays") {
  const std::string ev = R"({"c":[[0,1,2],[4,5,6]],"l":[{"id":1},{"id":2}]})";
  CHECK(json_match("{ $.c[1][2] = 6 }", ev));
  CHECK(json_match("{ $.l[1].id = 2 }", ev));
  CHECK(json_match("{ $.l[0].id != 2 }", ev));
}

TEST_CASE("&& binds tighter than ||; parentheses override") {
  const std::string ev = R"({"a":1,"b":2,"c":3})";
  CHECK(json_match("{ $.a = 1 || $.b = 9 && $.c = 9 }", ev));
  CHECK_FALSE(json_match("{ ($.a = 1 || $.b = 9) && $.c = 9 }", ev));
  CHECK(json_match("{ $.a = 9 && $.b = 9 || $.c = 3 }", ev));
  CHECK(json_match("{ (($.a = 1)) }", ev));
  // CIS v5 4.1 as written: A || B && C && D
  const std::string p =
      "{ ($.errorCode =*UnauthorizedOperation) || ($.errorCode =AccessDenied*) && "
      "($.sourceIPAddress!=delivery.logs.amazonaws.com) && ($.eventName!=HeadBucket) }";
  CHECK(json_match(p, R"({"errorCode":"Client.UnauthorizedOperation","sourceIPAddress":"delivery.logs.amazonaws.com","eventName":"X"})"));
  CHECK_FALSE(json_match(p, R"({"errorCode":"AccessDenied","sourceIPAddress":"delivery.logs.amazonaws.com","eventName":"X"})"));
  CHECK_FALSE(json_match(p, R"({"errorCode":"AccessDenied","sourceIPAddress":"1.2.3.4","eventName":"HeadBucket"})"));
  CHECK(json_match(p, R"({"errorCode":"AccessDenied","sourceIPAddress":"1.2.3.4","eventName":"GetObject"})"));
}

TEST_CASE("bare values may contain spaces (CIS v4+ writes Failed authentication unquoted)") {
  const std::string ev = R"({"eventName":"ConsoleLogin","errorMessage":"Failed authentication"})";
  CHECK(json_match("{ ($.eventName = ConsoleLogin) && ($.errorMessage = Failed authentication) }", ev));
  CHECK_FALSE(json_match("{ ($.errorMessage = Failed  auth) }", ev));
}

TEST_CASE("regular expressions between % signs") {
  const std::string ev = R"({"eventName":"DeleteBucketPolicy","n":404})";
  CHECK(json_match("{ $.eventName = %^Delete.*Policy$% }", ev));
  CHECK_FALSE(json_match("{ $.eventName = %^Put% }", ev));
  CHECK(json_match("{ $.eventName != %^Put% }", ev));
  CHECK(json_match("{ $.n = %^4[0-9]+$% }", ev));
  CHECK(text_match("%ERR[A-Z]+%", "an ERROR here"));
  CHECK(error_of("{ $.a = %(x)% }").message.find("groups") != std::string::npos);
  CHECK(error_of("{ $.a = %x% && $.b = %y% && $.c = %z% }").message.find("at most 2") != std::string::npos);
}

TEST_CASE("regular expressions run in linear time (no catastrophic backtracking)") {
  // With a backtracking engine this takes longer than the age of the universe; here it is one
  // pass over the text. (Found by the pattern fuzzer.)
  const std::string hostile(200000, 'a');
  CHECK_FALSE(text_match("%a*a*a*a*a*a*a*a*a*a*a*a*b%", hostile));
  CHECK(text_match("%a*a*a*a*a*a*a*a*a*a*a*a*$%", hostile));
}

TEST_CASE("text patterns: terms, phrases, ?alternatives, -exclusions") {
  CHECK(text_match("ERROR", "Exiting with ERRORCODE: -1"));  // substring
  CHECK(text_match("ERROR ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS"));
  CHECK_FALSE(text_match("ERROR ARGUMENTS", "[ERROR 400] BAD REQUEST"));
  CHECK(text_match("?ERROR ?WARN", "WARN message"));
  CHECK_FALSE(text_match("?ERROR ?WARN", "INFO message"));
  CHECK(text_match("ERROR -WARN", "ERROR message"));
  CHECK_FALSE(text_match("ERROR -WARN", "ERROR WARN message"));
  CHECK_FALSE(text_match(R"("ERROR" - "Exiting")", "Exiting with ERRORCODE: -1"));
  CHECK(text_match(R"("INTERNAL SERVER ERROR")", "[ERROR 500] INTERNAL SERVER ERROR"));
  CHECK_FALSE(text_match(R"("INTERNAL SERVER ERROR")", "INTERNAL ERROR SERVER"));
  CHECK(text_match(R"("")", "anything"));
  CHECK(text_match(R"(" ")", "anything"));
  CHECK(text_match("", "anything"));
  CHECK_FALSE(text_match("error", "ERROR"));  // case-sensitive
  // a text pattern against a JSON event matches the raw JSON text
  CHECK(json_match("StopLogging", R"({"eventName":"StopLogging"})"));
}

TEST_CASE("space-delimited patterns") {
  const std::string line =
      R"(127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534)";
  CHECK(text_match("[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]", line));
  CHECK(text_match("[..., status_code = 404, bytes > 1000]", line));
  CHECK_FALSE(text_match("[..., status_code = 404, bytes > 2000]", line));
  CHECK(text_match("[ip, ..., bytes]", line));
  CHECK_FALSE(text_match("[ip, user, bytes]", line));  // field count must agree
  CHECK(text_match("[w1=ERROR || w1=WARN, w2]", "WARN message"));
  CHECK_FALSE(text_match("[w1=ERROR || w1=WARN, w2]", "INFO message"));
  CHECK(text_match("[w1!=ERROR && w1!=WARN, w2]", "INFO message"));
  CHECK(text_match("[a, ..., b = 3, ...]", "1 2 3 4 5"));
  CHECK_FALSE(text_match("[a, ..., b = 9, ...]", "1 2 3 4 5"));
}

TEST_CASE("syntax errors name the column and what was expected") {
  auto e = error_of("{ $.eventName = }");
  CHECK(e.column == 17);
  CHECK(e.message.find("expected a value") != std::string::npos);
  e = error_of("{ $.eventName = X");
  CHECK(e.message.find("'}'") != std::string::npos);
  e = error_of("{ eventName = X }");
  CHECK(e.column == 3);
  CHECK(e.message.find("selector") != std::string::npos);
  e = error_of("{ ($.a = 1 }");
  CHECK(e.column == 3);
  CHECK(e.message.find("')'") != std::string::npos);
  e = error_of("{ $.a == 1 }");
  CHECK(e.column == 8);
  e = error_of("{ $.a < abc }");
  CHECK(e.message.find("number") != std::string::npos);
  e = error_of("{ $.a IS NOT NULL }");
  CHECK(e.message.find("not supported") != std::string::npos);
  e = error_of("{ $.a EXISTS }");
  CHECK(e.message.find("not supported") != std::string::npos);
  e = error_of("{ $.a = \"unterminated }");
  CHECK(e.message.find("unterminated") != std::string::npos);
  e = error_of("{ $.a = 1 } trailing");
  CHECK(e.column == 13);
  e = error_of("{ $[0] = 1 }");
  CHECK(e.message.find("array index must follow") != std::string::npos);
  e = error_of("{}");
  CHECK(e.column == 2);
  e = error_of("[a, b");
  CHECK(e.message.find("']'") != std::string::npos);
  e = error_of("ERROR -");
  CHECK(e.column == 7);
}

TEST_CASE("requirements used by the prefilter") {
  auto req = compile(
                 "{ ($.eventSource = config.amazonaws.com) && (($.eventName=StopConfigurationRecorder)||"
                 "($.eventName=PutDeliveryChannel)) }")
                 .requirement();
  REQUIRE(req.clauses.size() == 2);
  CHECK(req.json_encoded);
  CHECK(req.clauses[0] == std::vector<std::string>{"\"config.amazonaws.com\""});
  CHECK(req.clauses[1].size() == 2);
  CHECK(compile("{ $.a != x }").requirement().unconstrained());
  CHECK(compile("{ $.a = x || $.b != y }").requirement().unconstrained());
  CHECK(compile("{ $.a = 1000 }").requirement().unconstrained());  // 1e3 would match too
  auto wild = compile("{ ($.errorCode = *UnauthorizedOperation) || ($.errorCode = AccessDenied*) }").requirement();
  REQUIRE(wild.clauses.size() == 1);
  CHECK(wild.clauses[0] == std::vector<std::string>{"\"AccessDenied", "UnauthorizedOperation\""});
  auto text = compile("ERROR ?A ?B -C").requirement();
  CHECK_FALSE(text.json_encoded);
  REQUIRE(text.clauses.size() == 2);
  CHECK(compile("[a, b = 1]").requirement().unconstrained());
}
