// TreeRefresher: poll, swap, notify. Notices go out after Filesystem::refresh returned, from
// this thread: the kernel locks the directory to drop an entry and may wait for a lookup a FUSE
// worker is serving, so no lock of ours may be held then.
#include "fs/TreeRefresher.hpp"

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <utility>

namespace megafuse::fs {

TreeRefresher::TreeRefresher(Filesystem& filesystem, fuse_session* session, std::string subPath,
                             std::chrono::milliseconds interval, std::string name)
    : filesystem_(filesystem),
      session_(session),
      subPath_(std::move(subPath)),
      interval_(interval),
      name_(std::move(name)) {
    // Signals belong to the thread that waits for them (signalfd), never to this one.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

TreeRefresher::~TreeRefresher() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void TreeRefresher::run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
        lock.unlock();
        pollOnce();
        lock.lock();
    }
}

std::optional<store::ObjectId> TreeRefresher::commit() const {
    std::lock_guard lock(mutex_);
    return commit_;
}

void TreeRefresher::pollOnce() {
    Invalidations invalidations;
    store::ObjectId moved;
    store::ObjectId commit;
    try {
        const store::ObjectId shown = filesystem_.rootTree();
        const auto changed = filesystem_.store().changedTree(subPath_, shown);
        if (!changed) {
            if (failing_) {
                spdlog::info("mount '{}': refresh works again", name_);
                failing_ = false;
            }
            return;
        }
        moved = *changed;
        // One more request, only when the tree moved: megactl status and CommitId show the
        // commit of what is mounted, not the one the mount started at.
        commit = filesystem_.store().resolveCommit("HEAD");
        invalidations = filesystem_.refresh(moved);
    } catch (const store::StoreError& e) {
        if (!failing_) {
            spdlog::warn("mount '{}': refresh failed, showing the tree it had ({}: {})", name_,
                         store::toString(e.code()), e.what());
            failing_ = true;
        }
        return;
    }
    failing_ = false;
    {
        std::lock_guard lock(mutex_);
        commit_ = commit;
    }
    for (const auto& [parent, name] : invalidations.entries) {
        fuse_lowlevel_notify_inval_entry(session_, parent, name.c_str(), name.size());
    }
    for (fuse_ino_t ino : invalidations.inodes) {
        fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
    }
    spdlog::info(
        "mount '{}': refreshed to tree {} of commit {}: {} changed directories read, {} names "
        "and {} directories invalidated",
        name_, moved.hex(), commit.hex(), invalidations.directoriesRead,
        invalidations.entries.size(), invalidations.inodes.size());
}

}  // namespace megafuse::fs
