// The agent's own sections of the configuration ([general], [metrics], [aws], [source.sqs],
// [limits], [rules], [alarms], [integrity], [alerts], [replay]): one table of keys each (config_keys.h), which the
// parsers here and the effective-configuration printer (effective.cpp) share, so that each key
// is spelled once. The [[outputs]] tables are the outputs' (outputs/settings.h).
#pragma once

#include <toml++/toml.h>

#include <string>

#include "agent/config/config.h"
#include "agent/config/config_keys.h"

namespace trailwarden {

ConfigKeys<Config> general_keys();
ConfigKeys<MetricsConfig> metrics_keys();
ConfigKeys<AwsConfig> aws_keys();
ConfigKeys<SqsSourceConfig> sqs_keys();
ConfigKeys<DecodeLimits> limits_keys();
ConfigKeys<Config::Rules> rules_keys();
ConfigKeys<AlarmsConfig> alarms_keys();
ConfigKeys<DynamoDbStoreConfig> alarms_dynamodb_keys();  // [alarms.dynamodb]
ConfigKeys<IntegrityConfig> integrity_keys();
ConfigKeys<Config> alerts_keys();
ConfigKeys<Config> replay_keys();

// One parser per section: reads `t` (the section's table, from the file `origin`) into its
// part of `c`. Throws std::runtime_error("origin:line:column: ...") at the first bad key.
void parse_general(const std::string& origin, const toml::table& t, Config& c);
void parse_metrics(const std::string& origin, const toml::table& t, MetricsConfig& m);
void parse_aws(const std::string& origin, const toml::table& t, AwsConfig& a);
void parse_sqs(const std::string& origin, const toml::table& t, SqsSourceConfig& q);
void parse_limits(const std::string& origin, const toml::table& t, DecodeLimits& l);
void parse_rules(const std::string& origin, const toml::table& t, Config::Rules& r);
// [alarms] and its [alarms.dynamodb].
void parse_alarms(const std::string& origin, const toml::table& t, AlarmsConfig& a);
// [integrity]; also the rule between its durations (retention).
// `alarms` (parsed before): integrity.store = "dynamodb" uses its table.
void parse_integrity(const std::string& origin, const toml::table& t, IntegrityConfig& i,
                     const AlarmsConfig& alarms);
void parse_alerts(const std::string& origin, const toml::table& t, Config& c);
void parse_replay(const std::string& origin, const toml::table& t, Config& c);

}  // namespace trailwarden
