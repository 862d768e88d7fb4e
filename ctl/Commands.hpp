// Commands: one function per megactl subcommand, in plain C++ over DaemonClient. Each prints its
// result (a human view, or one JSON document with --json) and throws on failure; main maps it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CtlError.hpp"
#include "DaemonClient.hpp"

namespace megafuse::ctl {

struct OutputOptions {
    bool json = false;
    bool progress = false;  // draw a progress bar on stderr for long calls
};

struct MountOptions {
    std::string target;                     // NAME (or its path), or SOURCE for an ad-hoc mount
    std::optional<std::string> mountPoint;  // set: ad-hoc mount of SOURCE there
    std::optional<std::string> revision;
    std::optional<std::string> subPath;
    std::optional<std::string> name;
    bool writable = false;
};

// Usage errors of `mount` that need no daemon (ad-hoc options without a MOUNTPOINT): main checks
// them before connecting, so they exit 2 even when mega-fused is down. Throws CtlError(Usage).
void checkMountUsage(const MountOptions& options);

ExitCode listMounts(DaemonClient& client, const OutputOptions& output);
ExitCode showStatus(DaemonClient& client, const OutputOptions& output,
                    const std::optional<std::string>& nameOrPath);
ExitCode mountOne(DaemonClient& client, const OutputOptions& output, const MountOptions& options);
ExitCode unmountOne(DaemonClient& client, const OutputOptions& output,
                    const std::string& nameOrPath, UnmountMode mode);
ExitCode reloadConfig(DaemonClient& client, const OutputOptions& output);
ExitCode prefetchPaths(DaemonClient& client, const OutputOptions& output,
                       const std::string& nameOrPath, const std::vector<std::string>& paths);
ExitCode showStats(DaemonClient& client, const OutputOptions& output,
                   const std::string& nameOrPath);

// A NAME stays as is; anything with a '/' (or "." / "..") is a path, made absolute here because
// the daemon resolves it from its own working directory. No I/O: a stale mountpoint cannot stat.
std::string normalizeNameOrPath(const std::string& argument);

// An ad-hoc mount's name from its mountpoint's last component, reduced to the characters a mount
// name may hold ([A-Za-z0-9._-], at most 64).
std::string nameFromMountPoint(const std::string& mountPoint);

}  // namespace megafuse::ctl
