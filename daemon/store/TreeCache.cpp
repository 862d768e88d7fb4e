// TreeCache: a plain LRU list + hash index under one mutex.
#include "store/TreeCache.hpp"

namespace megafuse::store {

std::shared_ptr<const Tree> TreeCache::get(const ObjectId& id) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(id);
    if (it == index_.end()) {
        return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second;
}

void TreeCache::put(std::shared_ptr<const Tree> tree) {
    if (!tree || tree->memoryBytes() > budgetBytes_) {
        return;
    }
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(tree->id()); it != index_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return;
    }
    bytes_ += tree->memoryBytes();
    lru_.push_front(std::move(tree));
    index_.emplace(lru_.front()->id(), lru_.begin());
    while (bytes_ > budgetBytes_) {
        const auto& victim = lru_.back();
        bytes_ -= victim->memoryBytes();
        index_.erase(victim->id());
        lru_.pop_back();
    }
}

uint64_t TreeCache::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

size_t TreeCache::size() const {
    std::lock_guard lock(mutex_);
    return index_.size();
}

}  // namespace megafuse::store
