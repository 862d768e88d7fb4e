// MountCommand: `mega-fused mount` — one revision of one source at one mount point, in the
// foreground, until SIGINT/SIGTERM or an external unmount (the shape of `rclone mount`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/SignalFd.hpp"

namespace megafuse::core {

// Exit statuses of mega-fused.
inline constexpr int kExitOk = 0;       // mounted, served, unmounted
inline constexpr int kExitFailure = 1;  // failed after mounting
inline constexpr int kExitUsage = 2;    // bad arguments, or source/revision/path/mount point
                                        // unusable: nothing was mounted
// Interrupted before the mount was made: 128 + the signal number, as a shell reports it.

struct MountCommandOptions {
    std::string source;  // local repository path or file://, git://, http(s):// URL
    std::filesystem::path mountpoint;
    std::string revision = "HEAD";
    std::string subPath;                            // "" = the repository root
    std::optional<std::filesystem::path> cacheDir;  // default: megafuse::defaultCacheDir()
    std::optional<uint64_t> contentCacheBytes;      // default: StoreOptions'
    std::optional<uint64_t> treeCacheBytes;         // default: StoreOptions'
    unsigned fetchTimeoutSeconds = 30;
    bool allowOther = false;
    // Writable: a copy-on-write overlay over the revision, kept in overlayDir (default:
    // <state_dir>/overlays/mount-<8 hex of a hash of the mount point>). An overlay that already
    // has a base commit keeps it (like a worktree's HEAD), whatever revision says.
    bool writable = false;
    std::optional<std::filesystem::path> overlayDir;
    // Mega sources only: the bearer token file (owner-only mode, as token_file in YAML), and how
    // often a read-only mount at HEAD polls for upstream changes (0 = never).
    std::optional<std::filesystem::path> tokenFile;
    unsigned refreshIntervalSeconds = 60;
};

// The default overlay folder of a writable foreground mount at mountpoint (canonical path).
std::filesystem::path defaultOverlayDir(const std::filesystem::path& mountpoint);

// Opens the store, resolves revision and sub-path (errors: one line on stderr, kExitUsage),
// mounts, logs "mounted <source> <rev> (<commit>) at <mountpoint>", then serves until a signal
// arrives on signals or the mount goes away; unmounts and returns kExitOk. Call from the main
// thread with signals constructed before any other thread started.
int runMountCommand(const MountCommandOptions& options, SignalFd& signals);

}  // namespace megafuse::core
