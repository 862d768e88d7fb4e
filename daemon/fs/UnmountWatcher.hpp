// UnmountWatcher: a tiny helper process that unmounts a FUSE mount once the daemon is gone, even
// after SIGKILL. libfuse's own auto_unmount cannot do this for a non-root user in libfuse 3.14
// (its setuid helper is denied access to the mount without allow_other: libfuse issue #586).
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "common/UniqueFd.hpp"

namespace megafuse::fs {

// The helper (`sh`, in its own session so terminal signals miss it) blocks reading a pipe whose
// only writer is this object. When the writer closes — this object is destroyed, or the process
// dies — it checks the mount point: only a stale mount (stat fails: the daemon's connection is
// gone) is unmounted with `fusermount3 -u -z`, so a healthy mount someone made there since is
// never touched. Owned by the thread that owns the FuseMount.
class UnmountWatcher {
public:
    // Throws std::system_error when the helper cannot be started.
    explicit UnmountWatcher(const std::filesystem::path& mountpoint);
    // Closes the pipe and reaps the helper (it exits at once: the mount is gone or healthy).
    ~UnmountWatcher();
    UnmountWatcher(const UnmountWatcher&) = delete;
    UnmountWatcher& operator=(const UnmountWatcher&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    UniqueFd pipe_;  // write end; close-on-exec, so no other child (git) keeps the helper waiting
};

}  // namespace megafuse::fs
