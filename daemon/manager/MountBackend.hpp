// MountBackend: what the manager needs from the layers below to make one mount live — open the
// source, resolve the revision, start a FUSE session. An interface so the manager's state machine
// is tested without FUSE and the FUSE layer never learns about the manager.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/Config.hpp"

namespace megafuse::changes {
class ChangeSet;
}

namespace megafuse::manager {

// Progress of a long operation: operation ("clone", "prefetch"), done and total units (total 0 =
// unknown). Called from the worker thread doing the work.
using ProgressFn = std::function<void(std::string_view operation, uint64_t done, uint64_t total)>;

struct MountStats {
    uint64_t objectsFetched = 0;
    uint64_t bytesFetched = 0;
    uint64_t cacheHits = 0;
    uint64_t cacheMisses = 0;
};

// One live FUSE session serving one mountpoint. The manager unmounts the kernel side first
// (normal, lazy or after an abort) and destroys this afterwards; destroying it while the kernel
// connection is alive would detach whatever is mounted at the path then (libfuse's unmount).
class ActiveMount {
public:
    virtual ~ActiveMount() = default;

    // The resolved commit shown.
    [[nodiscard]] virtual std::string commitId() const = 0;
    // Counters of the source's store (shared by every mount of the source).
    [[nodiscard]] virtual MountStats stats() const = 0;
    // The FUSE connection id: the name of its /sys/fs/fuse/connections/<id> folder.
    [[nodiscard]] virtual unsigned long connection() const = 0;
    // True once the session has ended by itself: the kernel released the connection (after an
    // unmount or an abort). Cheap; called from any thread.
    [[nodiscard]] virtual bool finished() const = 0;
    // Waits up to timeout for finished(); true when it did.
    [[nodiscard]] virtual bool waitFinished(std::chrono::milliseconds timeout) const = 0;
    // A fault the session lives on with but its user must hear of (a writable mount's overlay
    // folder deleted: reads work, every change fails with EIO); nullopt when none. Polled by
    // the manager for the mount's LastError. Cheap, never blocks; called from any thread.
    [[nodiscard]] virtual std::optional<std::string> fault() const { return std::nullopt; }
    // Fetches every missing blob under paths (relative to the mount root; empty = all) in
    // batches; returns how many objects were brought over. Throws ManagerError.
    virtual uint64_t prefetch(const std::vector<std::string>& paths,
                              const ProgressFn& progress) = 0;
    // The edits of a writable mount (changes, diff, reset, commit, push, checkout); nullptr for
    // a read-only one. Owned by this mount; call its methods from a worker thread, never from a
    // FUSE handler. Throws changes::ChangeSetError.
    [[nodiscard]] virtual changes::ChangeSet* changeSet() { return nullptr; }
};

class MountBackend {
public:
    virtual ~MountBackend() = default;

    // Opens (clones on first use) the source, resolves the revision and sub-path and mounts at
    // mount.mountpoint, which the manager has checked is a free directory. Blocking; called on a
    // worker thread. Throws ManagerError(MountFailed | Timeout) with the reason.
    virtual std::unique_ptr<ActiveMount> mount(const config::MountConfig& mount,
                                               const ProgressFn& progress) = 0;
};

}  // namespace megafuse::manager
