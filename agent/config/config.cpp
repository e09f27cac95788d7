#include "agent/config/config.h"

#include <fmt/format.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "agent/config/embedded.h"
#include "agent/config/sections.h"
#include "agent/config/toml_util.h"

namespace trailwarden {

namespace {

const toml::table* section(const std::string& origin, const toml::table& doc, std::string_view name) {
  const toml::node* n = doc.get(name);
  if (!n) return nullptr;
  if (!n->is_table()) {
    const auto& r = n->source();
    throw std::runtime_error(fmt::format("{}:{}:{}: [{}] must be a table", origin, r.begin.line,
                                         r.begin.column, name));
  }
  return n->as_table();
}

// Secret-looking keys (token, "sasl.password", ...) anywhere in the document: their values are
// secrets whether written inline or interpolated.
void collect_secret_values(const toml::table& t, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    if (const auto* sub = v.as_table()) {
      collect_secret_values(*sub, out);
    } else if (const auto* arr = v.as_array()) {
      for (const auto& el : *arr)
        if (const auto* st = el.as_table()) collect_secret_values(*st, out);
    } else if (const auto* s = v.as_string()) {
      const std::string& value = s->get();
      if (is_secret_name(k.str()) && !value.empty() && !value.starts_with("@file:"))
        out.push_back(value);
    }
  }
}

}  // namespace

bool split_host_port(std::string_view text, std::string& host, int& port) {
  size_t colon;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(text.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs [brackets]
  }
  std::string_view digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return false;
  port = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return false;
    port = port * 10 + (ch - '0');
  }
  return port <= 65535 && !host.empty();
}

void scrub_secrets(std::string& text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.size() < 4) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 10))
      text.replace(pos, secret.size(), "[redacted]");
  }
}

namespace {

void parse_config_document(const std::shared_ptr<toml::table>& root, const std::string& origin,
                           Config& c);

}  // namespace

Config parse_config(std::string_view content, const std::string& origin, const EnvLookup& env) {
  // Shared, so that output tables can point into it (keeping the positions of their values).
  auto root = std::make_shared<toml::table>(parse_toml(content, origin));
  Config c;
  c.source = origin;
  interpolate_env(*root, origin, env, c.secrets);
  collect_secret_values(*root, c.secrets);
  try {
    parse_config_document(root, origin, c);
  } catch (const std::runtime_error& e) {
    // A message that quotes a value (an unknown format, a bad address) must not show a secret
    // that reached it through ${VAR} or was written in a secret's place.
    std::string message = e.what();
    scrub_secrets(message, c.secrets);
    throw std::runtime_error(message);
  }
  return c;
}

namespace {

void check_top_level_keys(const std::string& origin, const toml::table& doc) {
  TomlReader top(origin, doc, "top level");
  for (auto name : {"general", "limits", "rules", "alarms", "integrity", "alerts", "replay",
                    "outputs", "aws", "source", "metrics"})
    top.get(name);
  top.finish();
}

// [source]: one table per kind of source: [source.sqs] parsed here, [source.kafka] kept as
// written for the Kafka source's own parser (like [[outputs]]).
void parse_source(const std::shared_ptr<toml::table>& root, const std::string& origin,
                  const toml::table& src, Config& c) {
  TomlReader outer(origin, src, "source");
  outer.get("sqs");
  outer.get("kafka");
  outer.finish();
  if (const auto* t = section(origin, src, "sqs")) parse_sqs(origin, *t, c.sqs);
  if (const auto* t = section(origin, src, "kafka"))
    c.kafka_source = std::shared_ptr<const toml::table>(root, t);
}

// [[outputs]]: kept as written, sharing the document (outputs/settings.h parses them).
void collect_output_tables(const std::shared_ptr<toml::table>& root, const std::string& origin,
                           Config& c) {
  const toml::node* n = root->get("outputs");
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    const auto& src = n->source();
    throw std::runtime_error(fmt::format("{}:{}:{}: 'outputs' must be written as [[outputs]] tables",
                                         origin, src.begin.line, src.begin.column));
  }
  for (const auto& el : *arr) {
    OutputTable o;
    o.index = c.outputs.size();
    o.config_file = origin;
    o.origin = toml_where(origin, el.source());
    o.table = std::shared_ptr<const toml::table>(root, el.as_table());
    c.outputs.push_back(std::move(o));
  }
}

void parse_config_document(const std::shared_ptr<toml::table>& root, const std::string& origin,
                           Config& c) {
  const toml::table& doc = *root;
  check_top_level_keys(origin, doc);
  if (const auto* t = section(origin, doc, "general")) parse_general(origin, *t, c);
  if (const auto* t = section(origin, doc, "metrics")) parse_metrics(origin, *t, c.metrics);
  if (const auto* t = section(origin, doc, "aws")) parse_aws(origin, *t, c.aws);
  if (const auto* t = section(origin, doc, "source")) parse_source(root, origin, *t, c);
  if (const auto* t = section(origin, doc, "limits")) parse_limits(origin, *t, c.limits);
  if (const auto* t = section(origin, doc, "rules")) parse_rules(origin, *t, c.rules);
  if (const auto* t = section(origin, doc, "alarms")) parse_alarms(origin, *t, c.alarms);
  if (const auto* t = section(origin, doc, "integrity")) parse_integrity(origin, *t, c.integrity, c.alarms);
  if (const auto* t = section(origin, doc, "alerts")) parse_alerts(origin, *t, c);
  if (const auto* t = section(origin, doc, "replay")) parse_replay(origin, *t, c);
  collect_output_tables(root, origin, c);
}

}  // namespace

Config load_config_file(const std::string& path) {
  // O_CLOEXEC ("e"): a reload (SIGHUP) runs while helpers may be spawned.
  std::FILE* in = std::fopen(path.c_str(), "rbe");
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open configuration file", path));
  std::string text;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
  const bool bad = std::ferror(in) != 0;
  std::fclose(in);
  if (bad) throw std::runtime_error(fmt::format("{}: cannot read configuration file", path));
  return parse_config(text, path);
}

std::vector<std::string> config_advisories(const Config& c) {
  std::vector<std::string> out;
  const SqsSourceConfig& q = c.sqs;
  if (!q.inline_events && (!q.inline_accounts.empty() || !q.inline_regions.empty() ||
                           q.inline_events_via_sns))
    out.push_back(
        "source.sqs.inline_accounts/inline_regions/inline_events_via_sns are set but "
        "source.sqs.inline_events is false: EventBridge CloudTrail events on the queue are "
        "refused and deleted (set inline_events = true to match them; docs/aws.md, \"The inline "
        "route's trust model\")");
  const AlarmsConfig& a = c.alarms;
  if (a.store != "dynamodb" && !(c.integrity.enabled && c.integrity.store == "dynamodb") &&
      (!a.dynamodb.table.empty() || !a.dynamodb.region.empty() || !a.dynamodb.endpoint.empty()))
    out.push_back(
        "[alarms.dynamodb] is set but alarms.store is \"state\" and integrity.store is not "
        "\"dynamodb\": the table is not used (set alarms.store = \"dynamodb\" to share alarm "
        "state between agents)");
  const IntegrityConfig& i = c.integrity;
  if (i.enabled && c.kafka_source)
    out.push_back(
        "[integrity] enabled = true checks the digest files that SQS notifications name; with "
        "[source.kafka] no S3 object is read, so nothing is checked");
  if (i.enabled && !key_prefixes_admit_digests(q.key_prefixes))
    out.push_back(
        "[integrity] enabled = true, but source.sqs.key_prefixes let no CloudTrail-Digest/ key "
        "through: no digest is checked (add the digest folder, e.g. "
        "\"AWSLogs/111122223333/CloudTrail-Digest/\"; docs/integrity.md)");
  return out;
}

std::vector<std::string> config_notes(const Config& c) {
  std::vector<std::string> out;
  if (c.integrity.enabled && !c.sqs.include_digest && !c.kafka_source)
    out.push_back(
        "source.sqs.include_digest is false, but [integrity] is enabled: digest files named by "
        "notifications are read anyway (the integrity checks need them)");
  return out;
}

bool reads_digests(const Config& c) { return c.sqs.include_digest || c.integrity.enabled; }

bool key_prefixes_admit_digests(const std::vector<std::string>& key_prefixes) {
  constexpr std::string_view kDigestFolder = "CloudTrail-Digest/";
  if (key_prefixes.empty()) return true;
  for (const std::string& p : key_prefixes) {
    // The folder is the first segment after "AWSLogs/" that starts with "CloudTrail" (account
    // ids are digits, organization ids start with "o-").
    size_t logs = p.starts_with("AWSLogs/") ? 0 : p.find("/AWSLogs/");
    if (logs == std::string::npos) return true;  // the prefix ends before the folders
    logs = p.find("AWSLogs/", logs) + 8;
    size_t folder = std::string::npos;
    for (size_t seg = logs; seg < p.size(); seg = p.find('/', seg) + 1) {
      if (std::string_view(p).substr(seg).starts_with("CloudTrail")) {
        folder = seg;
        break;
      }
      if (p.find('/', seg) == std::string::npos) break;
    }
    if (folder == std::string::npos) return true;
    const std::string_view rest = std::string_view(p).substr(folder);
    if (rest.starts_with(kDigestFolder) || kDigestFolder.starts_with(rest)) return true;
  }
  return false;
}

Config default_config() {
  return parse_config(embedded::find("trailwarden.toml"), "builtin:trailwarden.toml");
}

}  // namespace trailwarden
