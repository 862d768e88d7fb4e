// ConfigLoader: config.yaml → Config, checking everything a user can get wrong and reporting all
// of it at once (ConfigError), plus the built-in configuration the demo runs without a file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "config/Config.hpp"
#include "config/ConfigError.hpp"

namespace megafuse::config {

// A config file larger than this is refused unread: it is a wrong path, not a configuration.
inline constexpr size_t kMaxConfigFileBytes = 1U << 20U;

// $XDG_CONFIG_HOME/mega-fuse/config.yaml (default ~/.config/mega-fuse/config.yaml).
std::filesystem::path defaultConfigPath();

// Reads and parses a file. Throws ConfigError: one Unreadable issue naming the path and the errno
// text when it cannot be read, else whatever parseConfig finds (issues name the path as given).
Config loadConfigFile(const std::filesystem::path& path);

// Parses YAML text; displayName is the "file" of every issue. An empty document is the default
// configuration (no mounts). Throws ConfigError listing every issue, sorted by position.
// Paths are "~"-expanded with the current $HOME and normalized; nothing on disk is touched.
Config parseConfig(std::string_view text, const std::string& displayName);

// The built-in configuration for the demo job (mega-fused without a config file): one read-only
// mount "demo" of a local repository, at mountpoint. @SOURCE@ and @MOUNTPOINT@ are replaced by
// YAML-quoted absolute paths; everything else is the defaults, written out for `--print-config`.
inline constexpr std::string_view kDefaultConfigTemplate =
    R"yaml(# mega-fuse built-in configuration: one read-only mount of a local repository.
# Copy it to ~/.config/mega-fuse/config.yaml to change it; docs/config.md lists every key.
log_level: info
mounts:
  - name: demo
    source: @SOURCE@
    revision: HEAD
    mountpoint: @MOUNTPOINT@
    writable: false
    automount: true
)yaml";

// kDefaultConfigTemplate filled in. Relative paths are made absolute against the current
// directory first, since they come from a command line, where that is what they mean.
std::string defaultConfigText(const std::filesystem::path& demoRepo,
                              const std::filesystem::path& mountpoint);

// parseConfig(defaultConfigText(...), "<built-in default>"). Throws ConfigError only for paths
// no config could hold (e.g. mountpoint "/").
Config defaultConfig(const std::filesystem::path& demoRepo,
                     const std::filesystem::path& mountpoint);

}  // namespace megafuse::config
