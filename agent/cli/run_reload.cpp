#include "agent/cli/run_reload.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <systemd/sd-daemon.h>

namespace trailwarden::cli {

std::string not_reloadable(const Config& c) {
  std::string text = render_effective_config(c);
  const size_t start = text.find("\n[rules]\n");
  if (start != std::string::npos) {
    const size_t end = text.find("\n[", start + 1);
    text.erase(start, end == std::string::npos ? std::string::npos : end - start);
  }
  std::string out;
  size_t pos = text.find('\n');  // the first line names the file
  while (pos != std::string::npos && pos < text.size()) {
    size_t nl = text.find('\n', pos + 1);
    std::string_view line(text.data() + pos + 1, (nl == std::string::npos ? text.size() : nl) - pos - 1);
    if (!line.starts_with("log_")) out.append(line).push_back('\n');
    pos = nl;
  }
  return out;
}

void reload_on_sighup(const Global& g, const Config& running, Engine& engine,
                      DeliveryPipeline& outputs, const std::function<std::string()>& status) {
  sd_notifyf(0, "RELOADING=1\nSTATUS=reloading rules\nMONOTONIC_USEC=%llu",
             static_cast<unsigned long long>(
                 std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count()));
  // First: each output reopens before the next batch it takes from its buffer (a batch being
  // sent or retried at this moment still goes to the old file).
  outputs.reopen();
  try {
    Config fresh = read_config(g);
    std::vector<rules::Rule> rules = load_rules(fresh, {}, {}, {});
    std::string log_error;
    if (!apply_logging(fresh, g, log_error)) throw std::runtime_error(log_error);
    auto set = std::make_shared<const RuleSet>(std::move(rules));
    if (set->enabled.empty()) spdlog::warn("reload: no rule is enabled: nothing can match");
    const size_t loaded = set->owned.size(), active = set->enabled.size();
    engine.replace_rules(std::move(set));
    spdlog::info("SIGHUP: rules reloaded from {}: {} rules, {} enabled", fresh.source, loaded,
                 active);
    if (not_reloadable(fresh) != not_reloadable(running))
      spdlog::warn("SIGHUP: settings outside [rules] and the log_* keys changed in {}; they "
                   "take effect at the next restart",
                   fresh.source);
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: reload failed, the previous rules stay in force: {}", e.what());
  }
  sd_notifyf(0, "READY=1\nSTATUS=%s", status().c_str());
}

}  // namespace trailwarden::cli
