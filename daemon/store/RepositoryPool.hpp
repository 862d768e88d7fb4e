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

namespace megafuse::store {

class RepositoryPool {
public:
    // maxHandles >= 1. Opens the first handle at once so a broken repository fails here.
    RepositoryPool(std::filesystem::path repository, size_t maxHandles);
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

    // Blocks while every handle is lent out (leases are short: local reads only).
    Lease acquire();

    // Called after a fetch added packs: each handle refreshes its odb on its next acquire.
    void objectsChanged();

    // The repository was made anew at the same path (GitObjectStore's healing after the clone
    // was deleted): handles opened before read the deleted one, so idle ones are closed now and
    // lent ones when they come back; the next acquire opens fresh handles.
    void reopen();

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    Slot openHandle(uint64_t generation, uint64_t epoch) const;
    void release(Slot slot);

    const std::filesystem::path path_;
    const size_t maxHandles_;
    // Lock order: a leaf; nothing else is locked while mutex_ is held.
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<Slot> idle_;
    size_t opened_ = 0;
    uint64_t generation_ = 0;
    uint64_t epoch_ = 0;
};

}  // namespace megafuse::store
