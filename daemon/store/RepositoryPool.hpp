// RepositoryPool: a bounded set of git_repository handles to one repository. libgit2 objects are
// not safe to share between threads, so each FUSE worker borrows a whole handle for one local
// read (never across a network fetch); a pool rather than one mutex lets reads run in parallel.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <utility>
#include <vector>

#include "store/Libgit2.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {

class RepositoryPool {
public:
    // maxHandles >= 1. Opens the first handle at once so a broken repository fails here.
    // recycleAfterChanges: see kRecycleAfterObjectChanges (ObjectStore.hpp).
    RepositoryPool(std::filesystem::path repository, size_t maxHandles,
                   uint64_t recycleAfterChanges = kRecycleAfterObjectChanges);
    RepositoryPool(const RepositoryPool&) = delete;
    RepositoryPool& operator=(const RepositoryPool&) = delete;

    struct Slot {
        GitRepositoryPtr repo;
        GitOdbPtr odb;            // the repository's object database (one more reference)
        uint64_t generation = 0;  // the pool generation its odb last refreshed at
        uint64_t epoch = 0;       // the reopen() count when it was opened
    };

    // A borrowed handle; returned to the pool when the lease ends.
    class Lease {
    public:
        Lease(RepositoryPool& pool, Slot slot) : pool_(&pool), slot_(std::move(slot)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Lease(Lease&& other) noexcept
            : pool_(std::exchange(other.pool_, nullptr)), slot_(std::move(other.slot_)) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease();

        [[nodiscard]] git_repository* repo() const { return slot_.repo.get(); }
        [[nodiscard]] git_odb* odb() const { return slot_.odb.get(); }

    private:
        RepositoryPool* pool_;
        Slot slot_;
    };

    // Blocks while every handle is lent out (leases are short: local reads only), and during a
    // recycle until the handles lent before it came back. A thread holds one lease at a time.
    Lease acquire();

    // Called after a fetch added packs: each handle refreshes its odb on its next acquire, and
    // every recycleAfterChanges calls the handles are recycled (see kRecycleAfterObjectChanges).
    void objectsChanged();

    // The repository was made anew at the same path (GitObjectStore's healing after the clone
    // was deleted): handles opened before read the deleted one, so idle ones are closed now and
    // lent ones when they come back; the next acquire opens fresh handles.
    void reopen();

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    // Handles closed and opened anew so far to free libgit2's caches (for tests and stats).
    [[nodiscard]] uint64_t recycles() const;

private:
    [[nodiscard]] Slot openHandle(uint64_t generation, uint64_t epoch) const;
    void release(Slot slot);
    // Under mutex_: a recycle ends once every handle of the old epoch is closed.
    void endDrainIfClosed();

    const std::filesystem::path path_;
    const size_t maxHandles_;
    const uint64_t recycleAfterChanges_;
    // Lock order: a leaf; nothing else is locked while mutex_ is held.
    mutable std::mutex mutex_;
    std::condition_variable available_;
    std::vector<Slot> idle_;
    size_t opened_ = 0;  // handles open (idle, lent, or of an old epoch not yet closed)
    uint64_t generation_ = 0;
    uint64_t epoch_ = 0;
    uint64_t recycledAt_ = 0;  // generation_ at the last recycle
    uint64_t recycles_ = 0;
    // A recycle waits for the old handles to close before any new one opens: libgit2 shares a
    // pack between handles by path, so one old handle still open would hand its cache on.
    bool draining_ = false;
};

}  // namespace megafuse::store
