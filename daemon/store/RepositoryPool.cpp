// RepositoryPool: lazily opened handles, refreshed after fetches.
#include "store/RepositoryPool.hpp"

#include "store/StoreError.hpp"

namespace megafuse::store {

RepositoryPool::RepositoryPool(std::filesystem::path repository, size_t maxHandles)
    : path_(std::move(repository)), maxHandles_(std::max<size_t>(1, maxHandles)) {
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
    available_.wait(lock, [this] { return !idle_.empty() || opened_ < maxHandles_; });
    if (!idle_.empty()) {
        Slot slot = std::move(idle_.back());
        idle_.pop_back();
        uint64_t generation = generation_;
        lock.unlock();
        if (slot.generation != generation) {
            git_odb_refresh(slot.odb.get());  // best effort: libgit2 also refreshes on a miss
            slot.generation = generation;
        }
        return Lease(*this, std::move(slot));
    }
    ++opened_;
    uint64_t generation = generation_;
    uint64_t epoch = epoch_;
    lock.unlock();
    try {
        return Lease(*this, openHandle(generation, epoch));
    } catch (...) {
        std::lock_guard relock(mutex_);
        --opened_;
        available_.notify_one();
        throw;
    }
}

void RepositoryPool::objectsChanged() {
    std::lock_guard lock(mutex_);
    ++generation_;
}

void RepositoryPool::reopen() {
    std::vector<Slot> stale;
    {
        std::lock_guard lock(mutex_);
        ++epoch_;
        opened_ -= idle_.size();
        stale.swap(idle_);
        available_.notify_all();
    }
    // stale closes here, outside the lock (libgit2 unmaps packs and closes fds).
}

void RepositoryPool::release(Slot slot) {
    std::unique_lock lock(mutex_);
    if (slot.epoch != epoch_) {
        --opened_;  // opened before reopen(): closed, not lent again
        available_.notify_one();
        lock.unlock();
        return;  // slot closes here, outside the lock
    }
    idle_.push_back(std::move(slot));
    available_.notify_one();
}

RepositoryPool::Lease::~Lease() {
    if (pool_ != nullptr && slot_.repo) {
        pool_->release(std::move(slot_));
    }
}

}  // namespace megafuse::store
