// Mounts: the kernel's mount table as tests need it — is this path a FUSE mount, which ones lie
// below a folder — and the unmount ladder (fusermount3 -u, then -uz) every teardown uses.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace megafuse::test {

struct MountEntry {
    unsigned mountId = 0;              // unique while mounted, but reused at once after an unmount
    std::filesystem::path mountPoint;  // decoded (the kernel escapes space, tab, \n, \\)
    std::string fsType;                // "fuse", "fuse.mega-fused", "ext4", ...
    std::string source;
    unsigned deviceMajor = 0;
    unsigned deviceMinor = 0;  // for FUSE: the connection number in /sys/fs/fuse/connections
    std::string line;          // the whole mountinfo line: ids and numbers alone can repeat

    [[nodiscard]] bool isFuse() const { return fsType == "fuse" || fsType.starts_with("fuse."); }
};

// /proc/self/mountinfo, in mount order.
std::vector<MountEntry> readMountTable();

// The topmost mount exactly at path, if any. Never touches path itself (only its parent), so it
// is safe to call on the mount point of a hung daemon.
std::optional<MountEntry> findMount(const std::filesystem::path& path);

bool isFuseMount(const std::filesystem::path& path);

// Mounts strictly below dir (or at it), deepest first: the order they must be unmounted in.
std::vector<MountEntry> mountsBelow(const std::filesystem::path& dir);

// Unmounts a FUSE mount: fusermount3 -u, then lazy -uz, then umount2(MNT_DETACH). Returns true
// when nothing is mounted at path any more. Never throws: teardown paths call it.
bool unmountFuse(const std::filesystem::path& path);

// Aborts a FUSE connection through fusectl when /sys/fs/fuse/connections is mounted, so calls
// blocked on a hung daemon return ENOTCONN. Returns false when fusectl is not available.
bool abortFuseConnection(const MountEntry& mount);

}  // namespace megafuse::test
