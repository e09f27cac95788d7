// SIGHUP in `trailwarden run` (docs/operations.md): every output reopens its files before its
// next batch, then the rules are read again from the configuration file (and the rule files it
// names) and the log_* keys applied. A configuration or rule error keeps everything as it was
// (logged). Settings that only a restart applies are compared with the running configuration
// and a change is logged. Tells systemd RELOADING=1 first and READY=1 with `status` at the end.
// Runs on the signal thread (signals.h), one reload at a time.
#pragma once

#include <functional>
#include <string>

#include "agent/cli/cli_util.h"
#include "agent/config/config.h"
#include "agent/engine/engine.h"
#include "outputs/delivery/delivery_pipeline.h"

namespace trailwarden::cli {

void reload_on_sighup(const Global& g, const Config& running, Engine& engine,
                      DeliveryPipeline& outputs, const std::function<std::string()>& status);

// The effective configuration without what a reload applies ([rules] and the log_* keys):
// two configurations with the same text here differ only in what SIGHUP takes in.
std::string not_reloadable(const Config& c);

}  // namespace trailwarden::cli
