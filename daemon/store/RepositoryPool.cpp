// RepositoryPool: lazily opened handles, refreshed after fetches.
#include "store/RepositoryPool.hpp"

#include "store/StoreError.hpp"

namespace megafuse::store {

RepositoryPool::RepositoryPool(std::filesystem::path repository, size_t maxHandles,
                               uint64_t recycleAfterChanges)
    : path_(std::move(repository)),
      maxHandles_(std::max<size_t>(1, maxHandles)),
      recycleAfterChanges_(recycleAfterChanges) {
    ensureLibgit2();
    idle_.push_back(openHandle(0, 0));
    opened_ = 1;
}

RepositoryPool::Slot RepositoryPool::openHandle(uint64_t generation, uint64_t epoch) const {
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, path_.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
        throw StoreError(StoreErrc::BadSource, gitErrorText("open repository " + path_.string()));
    }
    Slot slot{GitRepositoryPtr(raw), nullptr, generation, epoch};
    git_odb* odb = nullptr;
    if (git_repository_odb(&odb, slot.repo.get()) != 0) {
        throw StoreError(StoreErrc::BadSource,
                         gitErrorText("open object database of " + path_.string()));
    }
    slot.odb.reset(odb);
    return slot;
}

RepositoryPool::Lease RepositoryPool::acquire() {
    std::unique_lock lock(mutex_);
    available_.wait(lock,
                    [this] { return !draining_ && (!idle_.empty() || opened_ < maxHandles_); });
    if (!idle_.empty()) {
        Slot slot = std::move(idle_.back());
        idle_.pop_back();
        uint64_t generation = generation_;
        lock.unlock();
        if (slot.generation != generation) {
            git_odb_refresh(slot.odb.get());  // best effort: libgit2 also refreshes on a miss
            slot.generation = generation;
        }
        return {*this, std::move(slot)};
    }
    ++opened_;
    uint64_t generation = generation_;
    uint64_t epoch = epoch_;
    lock.unlock();
    try {
        return {*this, openHandle(generation, epoch)};
    } catch (...) {
        std::lock_guard relock(mutex_);
        --opened_;
        available_.notify_one();
        throw;
    }
}

void RepositoryPool::objectsChanged() {
    std::unique_lock lock(mutex_);
    ++generation_;
    if (recycleAfterChanges_ == 0 || draining_ ||
        generation_ - recycledAt_ < recycleAfterChanges_) {
        return;
    }
    // Called by fetching threads, which hold no lease: closing handles here delays no reader.
    recycledAt_ = generation_;
    ++recycles_;
    ++epoch_;
    draining_ = true;
    std::vector<Slot> stale;
    stale.swap(idle_);
    lock.unlock();
    const size_t closed = stale.size();
    stale.clear();  // outside the lock: libgit2 unmaps packs, frees caches and closes fds
    lock.lock();
    opened_ -= closed;  // counted until closed, so no new handle opens while one is open
    endDrainIfClosed();
}

void RepositoryPool::reopen() {
    std::unique_lock lock(mutex_);
    ++epoch_;
    std::vector<Slot> stale;
    stale.swap(idle_);
    lock.unlock();
    const size_t closed = stale.size();
    stale.clear();  // outside the lock (libgit2 unmaps packs and closes fds)
    lock.lock();
    opened_ -= closed;
    endDrainIfClosed();
    available_.notify_all();
}

void RepositoryPool::release(Slot slot) {
    std::unique_lock lock(mutex_);
    if (slot.epoch != epoch_) {
        // Opened before reopen() or a recycle: closed, not lent again; outside the lock.
        lock.unlock();
        slot = Slot{};
        lock.lock();
        --opened_;
        endDrainIfClosed();
        available_.notify_all();
        return;
    }
    idle_.push_back(std::move(slot));
    available_.notify_one();
}

void RepositoryPool::endDrainIfClosed() {
    if (draining_ && opened_ == 0) {
        draining_ = false;
        available_.notify_all();
    }
}

uint64_t RepositoryPool::recycles() const {
    std::lock_guard lock(mutex_);
    return recycles_;
}

RepositoryPool::Lease::~Lease() {
    if (pool_ != nullptr && slot_.repo) {
        pool_->release(std::move(slot_));
    }
}

}  // namespace megafuse::store
