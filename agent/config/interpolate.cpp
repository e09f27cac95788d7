#include "agent/config/interpolate.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

namespace trailwarden {

namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string join_key(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// `path` names the node in messages ("outputs[0].token"): never its value, which may be secret.
void walk(toml::node& node, const std::string& path, const std::string& origin,
          const EnvLookup& env, std::vector<std::string>& secrets) {
  if (auto* t = node.as_table()) {
    for (auto&& [k, v] : *t) walk(v, join_key(path, k.str()), origin, env, secrets);
  } else if (auto* a = node.as_array()) {
    for (size_t i = 0; i < a->size(); ++i)
      walk(*a->get(i), fmt::format("{}[{}]", path, i), origin, env, secrets);
  } else if (auto* s = node.as_string()) {
    const std::string& text = s->get();
    if (text.find('$') == std::string::npos) return;
    bool secret = false;
    std::string error;
    std::optional<std::string> out = interpolate_string(text, env, secret, error);
    if (!out) {
      const auto& r = node.source();
      throw std::runtime_error(
          fmt::format("{}:{}:{}: {}: {}", origin, r.begin.line, r.begin.column, path, error));
    }
    if (secret && !out->empty()) secrets.push_back(*out);
    s->get() = std::move(*out);
  }
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::optional<std::string> interpolate_string(std::string_view text, const EnvLookup& env,
                                              bool& secret, std::string& error) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      error = fmt::format("unterminated '${{' at character {} of the value (write $$ for a "
                          "literal $)",
                          i + 1);
      return std::nullopt;
    }
    std::string_view body = text.substr(i + 2, close - i - 2);
    std::string_view name = body, fallback;
    bool has_default = false;
    if (size_t d = body.find(":-"); d != std::string_view::npos) {
      name = body.substr(0, d);
      fallback = body.substr(d + 2);
      has_default = true;
    }
    bool valid = !name.empty() && name_start(name[0]);
    for (char ch : name) valid = valid && name_char(ch);
    if (!valid) {
      error = fmt::format("the '${{...}}' at character {} of the value does not name an "
                          "environment variable ([A-Za-z_][A-Za-z0-9_]*)",
                          i + 1);
      return std::nullopt;
    }
    std::optional<std::string> value = env ? env(std::string(name)) : std::nullopt;
    if (has_default && (!value || value->empty())) {
      out.append(fallback);
    } else if (!value) {
      error = fmt::format("environment variable {} is not set (write ${{{}:-default}} for a "
                          "default)",
                          name, name);
      return std::nullopt;
    } else {
      out.append(*value);
      if (is_secret_name(name)) secret = true;
    }
    i = close + 1;
  }
  return out;
}

void interpolate_env(toml::table& doc, const std::string& origin, const EnvLookup& env,
                     std::vector<std::string>& secrets) {
  for (auto&& [k, v] : doc) {
    auto* outputs = k.str() == "outputs" ? v.as_array() : nullptr;
    if (!outputs) {
      walk(v, std::string(k.str()), origin, env, secrets);
      continue;
    }
    // [outputs.properties] is passed to librdkafka as written, with the Kafka output's own
    // indirection ("${NAME}", "@file:PATH"), which also keeps such values out of every log line.
    for (size_t i = 0; i < outputs->size(); ++i) {
      auto* t = outputs->get(i)->as_table();
      if (!t) continue;
      for (auto&& [ok, ov] : *t)
        if (!(ok.str() == "properties" && ov.is_table()))
          walk(ov, fmt::format("outputs[{}].{}", i, ok.str()), origin, env, secrets);
    }
  }
}

bool is_secret_name(std::string_view name) {
  const std::string n = lower(name);
  for (std::string_view suffix : {"_env", "_file", "_path", ".location"})
    if (n.size() > suffix.size() && n.ends_with(suffix)) return false;
  for (std::string_view marker : {"password", "passphrase", "secret", "token", "credential",
                                  "private", "apikey", "api_key", "key.pem", "sasl.oauthbearer.config"})
    if (n.find(marker) != std::string::npos) return true;
  return false;
}

}  // namespace trailwarden
