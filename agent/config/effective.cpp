// render_effective_config(): the configuration as the agent will use it, for `check-config`.
// Each agent section prints from its key table (sections.h), the keys the parser reads.
#include <fmt/format.h>

#include <string>

#include "agent/config/config.h"
#include "agent/config/sections.h"
#include "agent/config/toml_emitter.h"

namespace trailwarden {

std::string render_effective_config(const Config& c, const OutputRenderer& render_output) {
  TomlEmitter e(c.secrets);
  e.section("[general]");
  emit_keys(e, general_keys(), c);
  e.section("[metrics]");
  emit_keys(e, metrics_keys(), c.metrics);
  e.section("[aws]");
  emit_keys(e, aws_keys(), c.aws);
  e.section("[source.sqs]");
  emit_keys(e, sqs_keys(), c.sqs);
  if (c.kafka_source) {  // as written: the Kafka source's parser resolves it when `run` starts
    e.section("[source.kafka]");
    e.keys_as_written(*c.kafka_source, "source.kafka");
  }
  e.section("[limits]");
  emit_keys(e, limits_keys(), c.limits);
  e.section("[rules]");
  emit_keys(e, rules_keys(), c.rules);
  e.section("[alarms]");
  emit_keys(e, alarms_keys(), c.alarms);
  e.section("[alarms.dynamodb]");
  emit_keys(e, alarms_dynamodb_keys(), c.alarms.dynamodb);
  e.section("[integrity]");
  emit_keys(e, integrity_keys(), c.integrity);
  e.section("[alerts]");
  emit_keys(e, alerts_keys(), c);
  e.section("[replay]");
  emit_keys(e, replay_keys(), c);

  for (const OutputTable& o : c.outputs) {
    if (render_output) {
      render_output(o, e);
    } else {  // as written
      e.section(fmt::format("[[outputs]]  # {}", o.origin));
      if (o.table) e.keys_as_written(*o.table, "outputs");
    }
  }
  std::string out = e.take();
  return fmt::format("# effective configuration of {}\n{}", c.source,
                     out.empty() ? out : out.substr(1));
}

}  // namespace trailwarden
