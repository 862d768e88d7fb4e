// TreeCache: parsed trees by id in memory, shared by every store (a tree id names the same
// directory whatever repository it came from). LRU, bounded by the trees' memoryBytes().
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "store/ObjectId.hpp"
#include "store/Tree.hpp"

namespace megafuse::store {

class TreeCache {
public:
    explicit TreeCache(uint64_t budgetBytes) : budgetBytes_(budgetBytes) {}
    TreeCache(const TreeCache&) = delete;
    TreeCache& operator=(const TreeCache&) = delete;

    // nullptr on a miss; a hit becomes the most recently used.
    std::shared_ptr<const Tree> get(const ObjectId& id);
    // Inserts (or refreshes) and evicts least recently used trees beyond the budget. A tree
    // larger than the whole budget is not kept; callers still hold their own pointer.
    void put(std::shared_ptr<const Tree> tree);

    [[nodiscard]] uint64_t bytes() const;
    [[nodiscard]] size_t size() const;

private:
    using Lru = std::list<std::shared_ptr<const Tree>>;  // front = most recently used

    const uint64_t budgetBytes_;
    // Lock order: a leaf; held only for list/map updates, never while parsing.
    mutable std::mutex mutex_;
    Lru lru_;
    std::unordered_map<ObjectId, Lru::iterator, ObjectIdHash> index_;
    uint64_t bytes_ = 0;
};

}  // namespace megafuse::store
