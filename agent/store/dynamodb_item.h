// DynamoDB items in the JSON 1.0 wire form: every attribute value is typed,
// {"S":"text"}, {"N":"12.5"}, {"SS":["a","b"]}. Numbers travel as decimal strings and are kept
// as those exact strings here (no rounding through a double on the way in or out); the number
// helpers below make and read them. Only the types the stores use are modelled (S, N, SS, BOOL);
// reading an item skips attributes of other types rather than failing the item.
// Values, no shared state; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "agent/common/json_writer.h"

namespace trailwarden::store {

struct AttributeValue {
  enum class Type { kS, kN, kSS, kBool };
  Type type = Type::kS;
  std::string text;               // kS: the string; kN: the decimal number as sent
  std::vector<std::string> set;   // kSS
  bool boolean = false;           // kBool

  static AttributeValue s(std::string v) { return {Type::kS, std::move(v), {}, false}; }
  static AttributeValue n(std::string decimal) { return {Type::kN, std::move(decimal), {}, false}; }
  static AttributeValue n(int64_t v) { return n(std::to_string(v)); }
  // The shortest decimal that reads back as exactly `v` (std::to_chars); finite values only.
  static AttributeValue n(double v);
  static AttributeValue ss(std::vector<std::string> v) { return {Type::kSS, {}, std::move(v), false}; }
  static AttributeValue b(bool v) { return {Type::kBool, {}, {}, v}; }

  bool operator==(const AttributeValue&) const = default;
};

// Attribute name -> value, in name order (so that encoded requests are deterministic).
using Item = std::map<std::string, AttributeValue>;

// The shortest round-trip decimal of a finite double ("1", "0.1", "-2.5e-07").
std::string decimal_string(double v);

// Writes {"S":...} / {"N":...} / {"SS":[...]} / {"BOOL":...} at the writer's position.
void write_attribute(JsonWriter& w, const AttributeValue& v);
// Writes {"name":{...},...}.
void write_item(JsonWriter& w, const Item& item);

// Reads a typed value; false for a type not modelled here or a malformed value.
bool read_attribute(simdjson::dom::element e, AttributeValue& out);
// Reads an item object (the "Item" of GetItem, one of Query's "Items", the "Attributes" of
// UpdateItem). false if `e` is not an object; attributes of unmodelled types are skipped.
bool read_item(simdjson::dom::element e, Item& out);

// Typed look-ups: nullopt when the attribute is absent, of another type, or (numbers) not a
// number of that kind. int64 accepts only integers written without fraction or exponent.
std::optional<std::string> get_s(const Item& item, std::string_view name);
std::optional<int64_t> get_int(const Item& item, std::string_view name);
std::optional<double> get_double(const Item& item, std::string_view name);

}  // namespace trailwarden::store
