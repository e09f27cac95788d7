// Pieces shared by the sub-commands (agent/cli/*.cpp): argument cursor, configuration and rule
// loading, output construction. Internal to the command-line interface; not thread-safe (used
// at start-up on the main thread).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/integrity/trail_verifier.h"
#include "agent/rules/rule.h"
#include "outputs/factory.h"
#include "outputs/output_tables.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden::aws {
class CredentialsSource;
}  // namespace trailwarden::aws
namespace trailwarden::http {
class HttpClient;
}  // namespace trailwarden::http

namespace trailwarden::cli {

// A usage error: reported with a hint to --help and exit status 2.
[[noreturn]] inline void usage_error(const std::string& msg) { throw std::invalid_argument(msg); }

// Minimal argument cursor: long options with "--opt value" or "--opt=value".
class Args {
 public:
  explicit Args(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  std::string next() { return args_[i_++]; }
  // If the current argument is one of the names, consumes it and its value.
  bool option(std::initializer_list<const char*> names, std::string& value) {
    if (done()) return false;
    const std::string& a = args_[i_];
    for (const char* n : names) {
      std::string name(n);
      if (a == name) {
        if (i_ + 1 >= args_.size()) usage_error(fmt::format("option {} needs a value", name));
        value = args_[i_ + 1];
        i_ += 2;
        return true;
      }
      if (name.starts_with("--") && a.starts_with(name + "=")) {
        value = a.substr(name.size() + 1);
        ++i_;
        return true;
      }
    }
    return false;
  }
  bool flag(std::initializer_list<const char*> names) {
    if (done()) return false;
    for (const char* n : names) {
      if (args_[i_] == n) {
        ++i_;
        return true;
      }
    }
    return false;
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
};

struct Global {
  std::optional<std::string> config_path;
  std::optional<std::string> log_level;
};


// Reads the configuration (--config or the built-in one) and checks it as a whole: the agent's
// sections (parse_config) and every output's common keys (parse_outputs). Throws
// std::runtime_error("file:line:column: ...").
Config read_config(const Global& g);
// read_config(), then sets up logging from it.
Config load_config(const Global& g);

// Sets up logging from [general] (--log-level wins) and registers the configuration's secrets
// for masking. False with `error` on a bad option.
bool apply_logging(const Config& c, const Global& g, std::string& error);

// Loads every configured pack and rule file, plus `extra_files`, and applies the selectors:
// [rules] enable/disable then `enable`/`disable` (the command line's) to the rules, then
// [alarms] enable/disable then `enable_alarm`/`disable_alarm` to their alarms. Checks that rule
// ids are unique, and alarm names among the alarms that run. An alarm a selector switched on
// whose rule is disabled cannot run: said in `warnings` if given, else logged at WARN.
std::vector<rules::Rule> load_rules(const Config& c, const std::vector<std::string>& extra_files,
                                    const std::vector<std::string>& enable,
                                    const std::vector<std::string>& disable,
                                    const std::vector<std::string>& enable_alarm = {},
                                    const std::vector<std::string>& disable_alarm = {},
                                    std::vector<std::string>* warnings = nullptr);

// The enabled rules of `all` (warns when there is none).
std::vector<const rules::Rule*> enabled_rules(const std::vector<rules::Rule>& all);

// The outputs, as pipeline entries: `-o PATH` if given (a file, memory-buffered), else the
// configured ones, else stdout.
std::vector<DeliveryPipeline::Entry> make_outputs(const Config& c,
                                                const std::optional<std::string>& output_path,
                                                const OutputEnv& env = {});

// The region: [aws] region, AWS_REGION, AWS_DEFAULT_REGION, or the one in the queue URL.
std::string resolve_region(const Config& c);
// "" if `region` (from resolve_region) is an AWS region name (agent/aws/names.h); otherwise
// why not, naming where it came from. ([aws] region itself is checked when the file is read.)
std::string region_problem(const std::string& region);

// The AWS credential chain of [aws] (lazy: nothing is fetched before the first get()). Once
// *cancel (not owned; may be null) is true, fetches in progress end and new ones fail (stop).
std::shared_ptr<aws::CredentialsSource> make_aws_credentials(
    const Config& c, const std::string& region, std::shared_ptr<http::HttpClient> http,
    const std::atomic<bool>* cancel = nullptr);

// The first non-empty value.
std::string first_of(std::initializer_list<const std::string*> values);

// The sub-commands in their own files.
int cmd_run(Args& a, const Global& g);
int cmd_check_config(Args& a, const Global& g);
int cmd_healthcheck(Args& a, const Global& g);
int cmd_verify(Args& a, const Global& g);
// verify's exit status for what it found (commands.h): 1 when anything is invalid, missing, not
// verified or a gap, even if a check could also not be made; else 4 when one could not be made;
// else 0 when whole, 1 when no digest was found.
int verify_exit_status(const integrity::VerifyReport& report);

}  // namespace trailwarden::cli
