// TreeRefresher: the refresh poll of a read-only mount whose revision moves upstream (a Mega path
// at HEAD). Every interval it asks the store whether the mounted tree moved; when it did, the
// Filesystem swaps the changed directories under their inodes and the kernel is told to drop
// what it cached of them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "fs/Filesystem.hpp"

struct fuse_session;

namespace megafuse::fs {

// Threads: one poll thread of its own, started by the constructor and joined by the destructor
// (which wakes it at once). It calls the store (bounded by fetch_timeout), Filesystem::refresh
// and libfuse's notify functions, never holding a lock a FUSE handler takes.
class TreeRefresher {
public:
    // filesystem and session must outlive this; subPath is the mounted directory of the source
    // ("" for its root). name is the mount's name for log lines.
    TreeRefresher(Filesystem& filesystem, fuse_session* session, std::string subPath,
                  std::chrono::milliseconds interval, std::string name);
    ~TreeRefresher();
    TreeRefresher(const TreeRefresher&) = delete;
    TreeRefresher& operator=(const TreeRefresher&) = delete;

    // The commit the refreshed tree belongs to (the source's latest when the tree last moved);
    // nullopt until it first moved. Any thread.
    [[nodiscard]] std::optional<store::ObjectId> commit() const;

private:
    void run();
    void pollOnce();

    Filesystem& filesystem_;
    fuse_session* const session_;
    const std::string subPath_;
    const std::chrono::milliseconds interval_;
    const std::string name_;
    bool failing_ = false;  // poll thread only: log a failure once per streak

    // Lock order: a leaf; guards stop_ and commit_, never held during a poll.
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::optional<store::ObjectId> commit_;
    std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace megafuse::fs
