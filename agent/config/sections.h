// The agent's own sections of the configuration ([general], [metrics], [aws], [source.sqs],
// [limits], [rules], [alerts], [replay]): one parser each. The [[outputs]] tables are the
// outputs' (outputs/settings.h).
#pragma once

#include <toml++/toml.h>

#include <string>

#include "agent/config/config.h"

namespace trailwarden {

// One parser per section: reads `t` (the section's table, from the file `origin`) into its
// part of `c`. Throws std::runtime_error("origin:line:column: ...") at the first bad key.
void parse_general(const std::string& origin, const toml::table& t, Config& c);
void parse_metrics(const std::string& origin, const toml::table& t, MetricsConfig& m);
void parse_aws(const std::string& origin, const toml::table& t, AwsConfig& a);
void parse_sqs(const std::string& origin, const toml::table& t, SqsSourceConfig& q);
void parse_limits(const std::string& origin, const toml::table& t, DecodeLimits& l);
void parse_rules(const std::string& origin, const toml::table& t, Config::Rules& r);
void parse_alerts(const std::string& origin, const toml::table& t, Config& c);
void parse_replay(const std::string& origin, const toml::table& t, Config& c);

}  // namespace trailwarden
