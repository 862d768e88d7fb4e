// Service: mega-fused's service mode (no subcommand) — the per-user daemon that serves every
// mount of config.yaml, owns com.gitmega.MegaFuse1 on the session bus and talks to systemd.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/SignalFd.hpp"

namespace CLI {
class App;
}

namespace megafuse::core {

struct ServiceOptions {
    // --config FILE; default: megafuse::config::defaultConfigPath(). A missing file means no
    // mounts (the daemon says so and keeps running: a later Reload picks the file up).
    std::optional<std::filesystem::path> configFile;
    // --log-level; empty: the config's log_level.
    std::string logLevel;
    // --demo REPO MOUNTPOINT: the built-in configuration (one read-only mount "demo" of a local
    // repository), no file and no server needed.
    std::vector<std::string> demo;
};

// Adds --config, --log-level and --demo to the top-level command (the service needs no
// subcommand).
void addServiceOptions(CLI::App& app, ServiceOptions& options);

// Runs the service until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit status:
// 0 after an orderly stop, 1 when the bus name is taken or the bus is unreachable, 2 when the
// configuration is invalid at start. Call from the main thread with signals (SIGINT, SIGTERM,
// SIGHUP) constructed before any other thread started.
int runService(const ServiceOptions& options, SignalFd& signals);

}  // namespace megafuse::core
