// The output factory: one explicit table from output type to constructor (no static
// registration). Each type's constructor reads its own keys from OutputSettings::table and
// reports unknown ones with file:line:column.
#pragma once

#include <memory>
#include <string>

#include "agent/aws/endpoints.h"
#include "outputs/output.h"
#include "outputs/settings.h"

namespace trailwarden {

namespace aws {
class CredentialsSource;
}

// What outputs may need from the rest of the agent.
struct OutputEnv {
  std::string state_dir;  // for state an output keeps (e.g. HEC channel ids)
  std::shared_ptr<aws::CredentialsSource> aws_credentials;  // MSK IAM authentication, SNS
  std::string aws_region;
  aws::EndpointConfig aws_endpoints;  // [aws] endpoint settings (SNS endpoint resolution)
  std::string aws_ca_file;            // [aws] ca_file: the CA bundle for AWS requests
  // check-config: read and check every key (files named by the settings included), but create
  // nothing (no connection, no producer, no state file): make_output() returns nullptr.
  bool validate_only = false;
};

// Builds the output `settings.type` (nullptr when env.validate_only). Throws std::runtime_error
// with file:line:column on configuration errors.
std::unique_ptr<Output> make_output(const OutputSettings& settings, const OutputEnv& env);

// Per-type constructors (outputs/<type>/).
std::unique_ptr<Output> make_file_output(const OutputSettings& settings, const OutputEnv& env);
std::unique_ptr<Output> make_kafka_output(const OutputSettings& settings, const OutputEnv& env);
std::unique_ptr<Output> make_splunk_hec_output(const OutputSettings& settings, const OutputEnv& env);
std::unique_ptr<Output> make_syslog_output(const OutputSettings& settings, const OutputEnv& env);
std::unique_ptr<Output> make_sns_output(const OutputSettings& settings, const OutputEnv& env);

}  // namespace trailwarden
