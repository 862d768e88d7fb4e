// StaleMounts: mega-fuse mounts the kernel still lists but nobody serves — the daemon died or was
// killed — found from /proc/self/mountinfo and a stat that fails with ENOTCONN.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace megafuse::ctl {

struct FuseMountEntry {
    std::string mountPoint;  // decoded (the kernel writes space, tab, newline, '\' as \ooo)
    std::string fsType;      // "fuse.mega-fuse"
    std::string source;
    unsigned connection = 0;  // device minor: /sys/fs/fuse/connections/<connection>
};

// The mega-fuse mounts (fs type fuse.mega-fuse*, or a fuse mount whose source names mega-fuse)
// listed in a mountinfo file, in mount order.
std::vector<FuseMountEntry> megaFuseMounts(
    const std::string& mountInfoPath = "/proc/self/mountinfo");

enum class MountHealth {
    Live,           // stat answered
    Stale,          // ENOTCONN: the FUSE connection is gone
    NotResponding,  // stat did not return in time: the daemon is alive but stuck
    Other,          // any other error (permissions, vanished): not ours to judge
};

// stat()s the mountpoint on a helper thread, so a hung daemon cannot hang megactl with it.
MountHealth probeMount(const std::string& mountPoint, std::chrono::milliseconds timeout);

}  // namespace megafuse::ctl
