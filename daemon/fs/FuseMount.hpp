// FuseMount: one mounted FUSE session serving a filesystem (the read-only Filesystem or the
// WritableFilesystem) — mount on construction, a multi-threaded request loop on its own thread,
// unmount and join on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/UniqueFd.hpp"
#include "fs/Filesystem.hpp"
#include "fs/UnmountWatcher.hpp"

struct fuse_session;

namespace megafuse::fs {

// A mount that could not be made; what() is one line naming the mount point and the reason.
class MountError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct MountOptions {
    std::filesystem::path mountpoint;  // absolute; must be an existing directory
    bool readOnly = true;              // "ro": the kernel refuses writes before asking us
    bool allowOther = false;           // needs user_allow_other in /etc/fuse.conf for non-root
    // The mount is dropped when the daemon dies, even by SIGKILL: an UnmountWatcher process
    // unmounts it (libfuse 3.14's auto_unmount fails for non-root users without allow_other).
    bool autoUnmount = true;
    std::string fsName = "mega-fuse";  // first column of /proc/mounts and df
    // Worker threads libfuse may run at once (a blocking fetch holds one), and how many it keeps
    // idle. Bounded so a burst of cold reads cannot spawn a thread per request.
    unsigned maxThreads = 16;
    unsigned maxIdleThreads = 4;
    // stop(): after the lazy unmount, how long open files may keep the kernel connection before
    // it is aborted (/sys/fs/fuse/connections/N/abort); processes then see ENOTCONN.
    std::chrono::milliseconds unmountGrace{5'000};
};

// Threads: the constructor's caller owns the object; one loop thread runs libfuse's
// multi-threaded loop, whose workers call into the Filesystem (which must outlive this). Every
// thread started here has all asynchronous signals blocked, so signals reach the thread that
// waits for them (the daemon's signalfd), never a FUSE worker. stop() and the destructor must be
// called from one thread (the owner's).
class FuseMount {
public:
    // Clears a stale mount left at the mount point by a crashed daemon ("Transport endpoint is
    // not connected"), mounts (read-only unless options say otherwise), and starts serving
    // operations with userdata (which must outlive this). Throws MountError.
    FuseMount(const fuse_lowlevel_ops& operations, void* userdata, MountOptions options);
    // The read-only Filesystem.
    FuseMount(Filesystem& filesystem, MountOptions options);
    ~FuseMount();
    FuseMount(const FuseMount&) = delete;
    FuseMount& operator=(const FuseMount&) = delete;

    // Unmounts (lazily, so busy files do not block it), waits for the request loop to end
    // (aborting the connection after unmountGrace) and joins. Idempotent. Returns false only when
    // the loop could not be ended (connection abort impossible: no fusectl); the destructor
    // then waits until the last open file is closed.
    bool stop();

    // Readable (poll POLLIN) once the request loop has ended: stop(), an external unmount
    // (`fusermount3 -u`), or an aborted connection. Never read from it.
    [[nodiscard]] int loopEndedFd() const { return loopEnded_.get(); }
    [[nodiscard]] bool loopEnded() const;
    [[nodiscard]] const std::filesystem::path& mountpoint() const { return options_.mountpoint; }
    // The kernel's connection number: /sys/fs/fuse/connections/<n> (0 when unknown).
    [[nodiscard]] unsigned connection() const;
    // For invalidation notices (fuse_lowlevel_notify_*); valid until this is destroyed.
    [[nodiscard]] fuse_session* session() const { return session_.get(); }

    // Unmounts a stale FUSE mount at path, if there is one (stat fails with ENOTCONN).
    static void clearStaleMount(const std::filesystem::path& path);

private:
    struct SessionDeleter {
        void operator()(fuse_session* session) const;
    };

    void startLoop();
    [[nodiscard]] bool waitLoopEnded(std::chrono::milliseconds timeout) const;
    void unmountLazily();
    bool abortConnection();

    MountOptions options_;
    std::unique_ptr<fuse_session, SessionDeleter> session_;
    UniqueFd loopEnded_;  // eventfd, written once by the loop thread as it returns
    dev_t device_ = 0;    // the mount's st_dev: names its /sys/fs/fuse/connections entry
    std::optional<UnmountWatcher> watcher_;  // after session_: stops after the unmount
    std::thread loop_;
    bool stopped_ = false;
};

}  // namespace megafuse::fs
