// The Splunk HEC output's [[outputs]] keys (docs/outputs.md, conf/trailwarden.toml), parsed and
// checked at start-up with file:line:column into SplunkHecOptions (what SplunkHecOutput,
// splunk_hec_output.h, is built with), and the indexer-acknowledgement channel GUID that is
// kept in the state directory across restarts.
//
//   url                  https://host[:port][/path]: the event endpoint (default path
//                        /services/collector/event); http only for 127.0.0.1 and localhost
//   token | token_env | token_file   the HEC token, exactly one (a secret: never in a message)
//   index, source, sourcetype, host  event metadata (sourcetype defaults by format)
//   gzip, ack, channel, ack_timeout_seconds, ack_poll_ms, batch_max_bytes, timeout_ms, ca_file
//
// Stateless, except that parsing with ack on and no `channel` reads or creates
// <env.state_dir>/hec-<name>.channel.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "outputs/factory.h"
#include "outputs/format.h"
#include "outputs/settings.h"

namespace trailwarden {

struct SplunkHecOptions {
  // Endpoint: scheme, host[:port] and path of the event endpoint, and the path of the
  // acknowledgement endpoint (derived from the event path).
  std::string scheme = "https";
  std::string host;
  std::string event_path = "/services/collector/event";
  std::string ack_path = "/services/collector/ack";
  // The HEC token (secret; never logged).
  std::string token;
  // Event metadata; empty index / event_host are left out (the token's defaults apply).
  std::string index;
  std::string source = "trailwarden";
  std::string sourcetype = "trailwarden:ocsf";
  std::string event_host;
  AlertFormat format = AlertFormat::kOcsf;
  // Compress request bodies (Content-Encoding: gzip).
  bool gzip = true;
  // Indexer acknowledgement: send `channel` and wait for every ackId.
  bool ack = false;
  std::string channel;  // a GUID; required when ack is on
  std::chrono::milliseconds ack_timeout{60000};
  std::chrono::milliseconds ack_poll{1000};
  // Largest uncompressed request body; a single larger event is sent alone.
  size_t batch_max_bytes = size_t{1} << 20;
  // Per HTTP request (event post or ack poll).
  std::chrono::milliseconds timeout{10000};
};

// The output's configuration: the options the sink is built with and the HTTP client's CA file.
struct SplunkHecConfig {
  SplunkHecOptions options;
  std::string ca_file;  // the CA bundle for TLS; empty: the system's
};

// Reads the output's keys from settings.table (after the common ones): throws
// std::runtime_error with file:line:column on a bad or unknown key, an unreadable token or CA
// file; messages never contain the token (which is registered as a secret for the logs).
// With ack on and no `channel` key, the channel is read from (or created and saved in)
// <env.state_dir>/hec-<name>.channel (a fresh random one when env.state_dir is empty).
SplunkHecConfig parse_splunk_hec_config(const OutputSettings& settings, const OutputEnv& env);

// The channel GUID kept in `path`: read if the file holds a valid one, else a new random
// (version 4) GUID is saved there (atomically). When the file cannot be written the new GUID
// is still returned and `warning` says why (it then changes at the next start).
std::string load_or_create_channel(const std::string& path, std::string& warning);

// A random version 4 GUID, lowercase ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string random_guid();
// True for 8-4-4-4-12 hexadecimal digits.
bool is_guid(std::string_view s);

}  // namespace trailwarden
