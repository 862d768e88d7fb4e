// Mountpoints: the kernel side of mounting, in one place — is a path a mountpoint or a stale FUSE
// mount left by a dead daemon, unmount (normal, lazy) as root or through fusermount3, and abort a
// FUSE connection through fusectl. No FUSE session logic: that lives in fs/.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace megafuse::manager {

enum class UnmountOutcome {
    Unmounted,   // nothing is mounted at the path any more
    Busy,        // a normal unmount was refused: files are open or a cwd is inside
    NotMounted,  // nothing was mounted there
    Failed,      // anything else (message in the detail)
};

struct UnmountResult {
    UnmountOutcome outcome = UnmountOutcome::Failed;
    std::string detail;  // errno text or fusermount3's stderr
};

// Why a path cannot be a mountpoint now; nullopt when it is a directory (not a symlink to one) of
// this user (any owner for root) that nothing is mounted on.
// A stale FUSE mount (ENOTCONN) counts as usable: call clearStaleMountpoint first.
std::optional<std::string> mountpointProblem(const std::filesystem::path& path);

// True when statfs(path) fails with ENOTCONN/ECONNABORTED: a FUSE mount whose daemon died.
bool isStaleMountpoint(const std::filesystem::path& path);

// Detaches a stale FUSE mount (fusermount3 -u -z, or umount2 MNT_DETACH as root). Returns an
// error text, nullopt on success.
std::optional<std::string> clearStaleMountpoint(const std::filesystem::path& path);

// True when path is exactly a mount point in /proc/self/mountinfo.
bool isMountPoint(const std::filesystem::path& path);

// A normal unmount: umount2(path, 0) as root, `fusermount3 -u` otherwise.
UnmountResult unmountNormal(const std::filesystem::path& path);

// A lazy unmount: MNT_DETACH / `fusermount3 -u -z`. The connection lives until the last user
// leaves.
UnmountResult unmountLazy(const std::filesystem::path& path);

// Aborts FUSE connection n: every pending and future request fails with ENOTCONN and the session
// loop ends. Mounts fusectl at /sys/fs/fuse/connections first when root and it is not mounted
// (systemd does the same at boot). Returns an error text, nullopt on success.
std::optional<std::string> abortFuseConnection(unsigned long connection);

// The FUSE connection id of the mount at path (its st_dev as the kernel numbers it: the name of
// the /sys/fs/fuse/connections folder), nullopt when stat fails.
std::optional<unsigned long> fuseConnectionOf(const std::filesystem::path& path);

}  // namespace megafuse::manager
