// DynamoDB items in the JSON 1.0 wire form: every attribute value is typed,
// {"S":"text"}, {"N":"12.5"}, {"SS":["a","b"]}. Numbers travel as decimal strings and are kept
// as those exact strings here (no rounding through a double on the way in or out); the number
// helpers below make and read them. Binary values travel base64-encoded and are kept here as
// their raw bytes. Only the types the stores use are modelled (S, N, B, SS, BS, BOOL);
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
  enum class Type { kS, kN, kB, kSS, kBS, kBool };
  Type type = Type::kS;
  std::string text;               // kS: the string; kN: the decimal number as sent; kB: raw bytes
  std::vector<std::string> set;   // kSS; kBS: the raw bytes of each element
  bool boolean = false;           // kBool

  static AttributeValue s(std::string v) { return {Type::kS, std::move(v), {}, false}; }
  static AttributeValue n(std::string decimal) { return {Type::kN, std::move(decimal), {}, false}; }
  static AttributeValue n(int64_t v) { return n(std::to_string(v)); }
  // The shortest decimal that reads back as exactly `v` (std::to_chars); finite values only.
  static AttributeValue n(double v);
  static AttributeValue ss(std::vector<std::string> v) { return {Type::kSS, {}, std::move(v), false}; }
  static AttributeValue bin(std::string raw) { return {Type::kB, std::move(raw), {}, false}; }
  static AttributeValue bs(std::vector<std::string> raw) { return {Type::kBS, {}, std::move(raw), false}; }
  static AttributeValue b(bool v) { return {Type::kBool, {}, {}, v}; }

  bool operator==(const AttributeValue&) const = default;
};

// Attribute name -> value, in name order (so that encoded requests are deterministic).
using Item = std::map<std::string, AttributeValue>;

// The shortest round-trip decimal of a finite double ("1", "0.1", "-2.5e-07").
std::string decimal_string(double v);

// The size DynamoDB bills an item by (its docs, "Item sizes and formats"; dynalite computes the
// same): per attribute, its name's UTF-8 length plus its value's: a string's UTF-8 length, a
// binary's byte length, a number's 1 + ceil(significant digits / 2) bytes (+1 if negative), a
// set's elements added up, a BOOL 1. A write costs one
// unit per started KB of the larger of the item before and after it; a strongly consistent
// read one unit per started 4 KB.
size_t item_size(const Item& item);

// Writes {"S":...} / {"N":...} / {"B":base64} / {"SS":[...]} / {"BS":[base64...]} / {"BOOL":...} at the writer's position.
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
