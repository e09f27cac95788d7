// ConfigKey: one key of an agent section of the configuration, described once — its name, the
// member it fills (a string, boolean, integer, list of strings or duration), its bounds and what makes a value valid — so that one table per section
// drives both the parser (read_keys, check_keys) and the effective-configuration printer
// (emit_keys). The tables are in agent/config/sections.cpp. Stateless templates.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/config/duration.h"
#include "agent/config/toml_emitter.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

template <typename Section>
struct ConfigKey {
  using Member = std::variant<std::string Section::*, bool Section::*, size_t Section::*,
                              std::vector<std::string> Section::*, ConfigDuration Section::*>;
  std::string_view name;
  Member member;
  size_t min = 0;                                   // integers: "must be at least <min>"
  size_t max = std::numeric_limits<size_t>::max();  // integers
  std::string_view over_max = {};  // the message's end when over max ("must be 1 to 10")
  // Strings (when not empty) and each element of a list must pass `valid`; `what` says what
  // it accepts ("a 12-digit account id").
  bool (*valid)(std::string_view) = nullptr;
  std::string_view what = {};
};

template <typename Section>
using ConfigKeys = std::span<const ConfigKey<Section>>;

// Reads each key present in the reader's table into `out`; a wrong type or an integer under
// `min` fails with the value's position. Marks the keys known for TomlReader::finish().
template <typename Section>
void read_keys(TomlReader& r, ConfigKeys<Section> keys, Section& out) {
  for (const ConfigKey<Section>& k : keys) {
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(out.*member)>;
          if constexpr (std::is_same_v<T, size_t>) r.read(k.name, out.*member, k.min);
          else r.read(k.name, out.*member);
        },
        k.member);
  }
}

// After finish(): each key's maximum and `valid`, failing at the value (or the list element).
template <typename Section>
void check_keys(const TomlReader& r, ConfigKeys<Section> keys, const Section& v) {
  const toml::table& t = r.table();
  for (const ConfigKey<Section>& k : keys) {
    const toml::node* n = t.get(k.name);
    if (!n) continue;  // the default: valid by construction
    if (const auto* m = std::get_if<size_t Section::*>(&k.member); m && v.*(*m) > k.max)
      r.fail(*n, fmt::format("{}.{} {}", r.section(), k.name, k.over_max));
    if (!k.valid) continue;
    if (const auto* m = std::get_if<std::string Section::*>(&k.member);
        m && !(v.*(*m)).empty() && !k.valid(v.*(*m)))
      r.fail(*n, fmt::format("{}.{} must be {}", r.section(), k.name, k.what));
    if (std::holds_alternative<std::vector<std::string> Section::*>(k.member))
      for (const auto& el : *n->as_array())
        if (!k.valid(*el.value<std::string>()))
          r.fail(el, fmt::format("{}.{}: \"{}\" is not {}", r.section(), k.name,
                                 *el.value<std::string>(), k.what));
  }
}

// read_keys, finish (unknown keys), check_keys.
template <typename Section>
void parse_keys(TomlReader& r, ConfigKeys<Section> keys, Section& out) {
  read_keys(r, keys, out);
  r.finish();
  check_keys(r, keys, out);
}

// Prints every key with its value (defaults included), in the table's order.
template <typename Section>
void emit_keys(TomlEmitter& e, ConfigKeys<Section> keys, const Section& v) {
  for (const ConfigKey<Section>& k : keys) {
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(v.*member)>;
          if constexpr (std::is_same_v<T, size_t>) e.num(k.name, v.*member);
          else if constexpr (std::is_same_v<T, bool>) e.boolean(k.name, v.*member);
          else if constexpr (std::is_same_v<T, std::string>) e.str(k.name, v.*member);
          else if constexpr (std::is_same_v<T, ConfigDuration>)
            e.str(k.name, format_duration(v.*member));
          else e.list(k.name, v.*member);
        },
        k.member);
  }
}

}  // namespace trailwarden
