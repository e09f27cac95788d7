// make_kafka_output(): the [[outputs]] keys of type "kafka" (kafka_config.h, docs/outputs.md),
// checked at start-up with file:line:column, then the producer.
#include <fmt/format.h>

#include <stdexcept>

#include "outputs/factory.h"
#include "outputs/kafka/kafka_config.h"
#include "outputs/kafka/kafka_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_kafka_output(const OutputSettings& s, const OutputEnv& env) {
  KafkaOutputConfig config = parse_kafka_config(s, env.aws_region, process_secret_sources());
  if (env.validate_only) return nullptr;
  if (config.msk_iam && !env.aws_credentials)
    throw std::runtime_error(fmt::format(
        "{}: msk_iam needs AWS credentials; none are available to outputs here", s.origin));
  return std::make_unique<KafkaOutput>(s.name, std::move(config), s.format, env.aws_credentials);
}

}  // namespace trailwarden
