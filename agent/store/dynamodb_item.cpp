#include "agent/store/dynamodb_item.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "agent/aws/base64.h"

namespace trailwarden::store {

std::string decimal_string(double v) {
  if (!std::isfinite(v)) throw std::invalid_argument("DynamoDB numbers must be finite");
  if (v == 0) return "0";  // also -0: DynamoDB has no negative zero
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

AttributeValue AttributeValue::n(double v) { return n(decimal_string(v)); }

namespace {

size_t number_size(const std::string& decimal) {
  // Significant digits: the mantissa's digits without leading and trailing zeros.
  std::string digits;
  for (char c : decimal) {
    if (c == 'e' || c == 'E') break;
    if (c >= '0' && c <= '9') digits += c;
  }
  const size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 1;  // zero
  const size_t last = digits.find_last_not_of('0');
  const size_t significant = last - first + 1;
  return 1 + (significant + 1) / 2 + (decimal.starts_with('-') ? 1 : 0);
}

size_t value_size(const AttributeValue& v) {
  switch (v.type) {
    case AttributeValue::Type::kS:
    case AttributeValue::Type::kB:
      return v.text.size();
    case AttributeValue::Type::kN:
      return number_size(v.text);
    case AttributeValue::Type::kSS:
    case AttributeValue::Type::kBS: {
      size_t n = 0;
      for (const std::string& e : v.set) n += e.size();
      return n;
    }
    case AttributeValue::Type::kBool:
      return 1;
  }
  return 0;
}

}  // namespace

size_t item_size(const Item& item) {
  size_t n = 0;
  for (const auto& [name, value] : item) n += name.size() + value_size(value);
  return n;
}

void write_attribute(JsonWriter& w, const AttributeValue& v) {
  w.begin_object();
  switch (v.type) {
    case AttributeValue::Type::kS:
      w.field("S", std::string_view(v.text));
      break;
    case AttributeValue::Type::kN:
      w.field("N", std::string_view(v.text));
      break;
    case AttributeValue::Type::kB:
      w.field("B", std::string_view(aws::base64_encode(v.text)));
      break;
    case AttributeValue::Type::kSS:
      w.key("SS").begin_array();
      for (const std::string& s : v.set) w.value(std::string_view(s));
      w.end_array();
      break;
    case AttributeValue::Type::kBS:
      w.key("BS").begin_array();
      for (const std::string& s : v.set) w.value(std::string_view(aws::base64_encode(s)));
      w.end_array();
      break;
    case AttributeValue::Type::kBool:
      w.field("BOOL", v.boolean);
      break;
  }
  w.end_object();
}

void write_item(JsonWriter& w, const Item& item) {
  w.begin_object();
  for (const auto& [name, value] : item) {
    w.key(name);
    write_attribute(w, value);
  }
  w.end_object();
}

bool read_attribute(simdjson::dom::element e, AttributeValue& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return false;
  for (auto field : o) {
    std::string_view text;
    if (field.key == "S" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      out = AttributeValue::s(std::string(text));
      return true;
    }
    if (field.key == "N" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      out = AttributeValue::n(std::string(text));
      return true;
    }
    if (field.key == "B" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      std::string raw;
      if (!aws::base64_decode(text, raw)) return false;
      out = AttributeValue::bin(std::move(raw));
      return true;
    }
    if (field.key == "BOOL") {
      bool b = false;
      if (field.value.get_bool().get(b) != simdjson::SUCCESS) return false;
      out = AttributeValue::b(b);
      return true;
    }
    if (field.key == "SS") {
      simdjson::dom::array a;
      if (field.value.get_array().get(a) != simdjson::SUCCESS) return false;
      std::vector<std::string> set;
      for (simdjson::dom::element s : a) {
        if (s.get_string().get(text) != simdjson::SUCCESS) return false;
        set.emplace_back(text);
      }
      out = AttributeValue::ss(std::move(set));
      return true;
    }
    if (field.key == "BS") {
      simdjson::dom::array a;
      if (field.value.get_array().get(a) != simdjson::SUCCESS) return false;
      std::vector<std::string> set;
      for (simdjson::dom::element s : a) {
        std::string raw;
        if (s.get_string().get(text) != simdjson::SUCCESS || !aws::base64_decode(text, raw)) return false;
        set.push_back(std::move(raw));
      }
      out = AttributeValue::bs(std::move(set));
      return true;
    }
    return false;  // a type not modelled here (M, L, B, NS, NULL ...)
  }
  return false;
}

bool read_item(simdjson::dom::element e, Item& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return false;
  for (auto field : o) {
    AttributeValue v;
    if (read_attribute(field.value, v)) out[std::string(field.key)] = std::move(v);
  }
  return true;
}

std::optional<std::string> get_s(const Item& item, std::string_view name) {
  auto it = item.find(std::string(name));
  if (it == item.end() || it->second.type != AttributeValue::Type::kS) return std::nullopt;
  return it->second.text;
}

std::optional<int64_t> get_int(const Item& item, std::string_view name) {
  auto it = item.find(std::string(name));
  if (it == item.end() || it->second.type != AttributeValue::Type::kN) return std::nullopt;
  const std::string& t = it->second.text;
  int64_t v = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (r.ec != std::errc() || r.ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<double> get_double(const Item& item, std::string_view name) {
  auto it = item.find(std::string(name));
  if (it == item.end() || it->second.type != AttributeValue::Type::kN) return std::nullopt;
  const std::string& t = it->second.text;
  double v = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (r.ec != std::errc() || r.ptr != t.data() + t.size()) return std::nullopt;
  return v;
}

}  // namespace trailwarden::store
