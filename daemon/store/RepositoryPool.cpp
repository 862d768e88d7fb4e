// RepositoryPool: lazily opened handles, refreshed after fetches.
#include "store/RepositoryPool.hpp"

#include "store/StoreError.hpp"

namespace megafuse::store {

RepositoryPool::RepositoryPool(std::filesystem::path repository, size_t maxHandles)
    : path_(std::move(repository)), maxHandles_(std::max<size_t>(1, maxHandles)) {
    ensureLibgit2();
    idle_.push_back(openHandle(0));
    opened_ = 1;
}

RepositoryPool::Slot RepositoryPool::openHandle(uint64_t generation) const {
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, path_.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0) {
        throw StoreError(StoreErrc::BadSource, gitErrorText("open repository " + path_.string()));
    }
    Slot slot{GitRepositoryPtr(raw), nullptr, generation};
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
    lock.unlock();
    try {
        return Lease(*this, openHandle(generation));
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

void RepositoryPool::release(Slot slot) {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(slot));
    available_.notify_one();
}

RepositoryPool::Lease::~Lease() {
    if (pool_ != nullptr && slot_.repo) {
        pool_->release(std::move(slot_));
    }
}

}  // namespace megafuse::store
