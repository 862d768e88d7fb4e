// InodeTable: lookup-count accounting and lazy creation; the locking rules are in the header.
#include "fs/InodeTable.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

namespace megafuse::fs {

InodeTable::InodeTable(const store::ObjectId& rootTree) {
    Inode root;
    root.parent = FUSE_ROOT_ID;  // ".." of the mount root is the root itself, as in the kernel
    root.id = rootTree;
    root.kind = store::EntryKind::Directory;
    root.nlookup = 1;  // the kernel holds the root for the mount's whole life
    inodes_.emplace(FUSE_ROOT_ID, std::move(root));
}

InodeInfo InodeTable::infoOf(fuse_ino_t ino, const Inode& inode) {
    return InodeInfo{ino, inode.parent, inode.id, inode.kind, inode.size};
}

InodeInfo InodeTable::lookup(fuse_ino_t parent, const store::TreeEntry& entry, uint64_t size) {
    std::lock_guard lock(mutex_);
    return lookupLocked(parent, entry, size);
}

std::optional<InodeInfo> InodeTable::lookupInTree(fuse_ino_t parent,
                                                  const store::ObjectId& parentTree,
                                                  const store::TreeEntry& entry, uint64_t size) {
    std::lock_guard lock(mutex_);
    if (auto it = inodes_.find(parent); it != inodes_.end() && it->second.id != parentTree) {
        return std::nullopt;
    }
    return lookupLocked(parent, entry, size);
}

InodeInfo InodeTable::lookupLocked(fuse_ino_t parent, const store::TreeEntry& entry,
                                   uint64_t size) {
    if (auto it = children_.find(ChildKey{parent, entry.name}); it != children_.end()) {
        Inode& inode = inodes_.at(it->second);
        ++inode.nlookup;
        return infoOf(it->second, inode);
    }
    auto parentIt = inodes_.find(parent);
    if (parentIt == inodes_.end()) {
        // The kernel never looks up inside an inode it has forgotten; a caller that does has a
        // bug we would rather see than paper over with an orphan.
        throw std::logic_error("lookup under unknown inode " + std::to_string(parent));
    }
    const fuse_ino_t ino = nextIno_++;
    Inode inode;
    inode.parent = parent;
    inode.name = entry.name;
    inode.id = entry.id;
    inode.kind = entry.kind;
    inode.size = size;
    inode.nlookup = 1;
    auto [it, inserted] = inodes_.emplace(ino, std::move(inode));
    (void)inserted;
    children_.emplace(ChildKey{parent, it->second.name}, ino);
    ++parentIt->second.liveChildren;
    return infoOf(ino, it->second);
}

std::optional<InodeInfo> InodeTable::lookupExisting(fuse_ino_t parent, std::string_view name) {
    std::lock_guard lock(mutex_);
    auto it = children_.find(ChildKey{parent, name});
    if (it == children_.end()) {
        return std::nullopt;
    }
    Inode& inode = inodes_.at(it->second);
    ++inode.nlookup;
    return infoOf(it->second, inode);
}

std::optional<InodeInfo> InodeTable::get(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) {
        return std::nullopt;
    }
    return infoOf(ino, it->second);
}

std::optional<fuse_ino_t> InodeTable::peekChild(fuse_ino_t parent, std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto it = children_.find(ChildKey{parent, name});
    if (it == children_.end()) {
        return std::nullopt;
    }
    return it->second;
}

void InodeTable::forget(fuse_ino_t ino, uint64_t nlookup) {
    if (ino == FUSE_ROOT_ID) {
        return;
    }
    uint64_t unknownCount = 0;
    {
        std::lock_guard lock(mutex_);
        auto it = inodes_.find(ino);
        if (it == inodes_.end()) {
            return;
        }
        Inode& inode = it->second;
        if (nlookup > inode.nlookup) {
            unknownCount = inode.nlookup;
            nlookup = inode.nlookup;
        }
        inode.nlookup -= nlookup;
        eraseIfUnused(ino);
    }
    if (unknownCount != 0) {
        spdlog::error("forget of inode {} drops more references than it holds ({}); clamped", ino,
                      unknownCount);
    }
}

void InodeTable::eraseIfUnused(fuse_ino_t ino) {
    while (ino != FUSE_ROOT_ID) {
        auto it = inodes_.find(ino);
        if (it == inodes_.end() || it->second.nlookup != 0 || it->second.liveChildren != 0) {
            return;
        }
        const fuse_ino_t parent = it->second.parent;
        if (!it->second.detached) {  // a detached inode's name may belong to another by now
            children_.erase(ChildKey{parent, it->second.name});
        }
        inodes_.erase(it);
        auto parentIt = inodes_.find(parent);
        if (parentIt == inodes_.end()) {
            return;
        }
        --parentIt->second.liveChildren;
        ino = parent;
    }
}

std::vector<fuse_ino_t> InodeTable::childrenLocked(fuse_ino_t dir, const store::Tree* names) const {
    std::vector<fuse_ino_t> children;
    if (names != nullptr) {
        for (const store::TreeEntry& entry : names->entries()) {
            if (auto it = children_.find(ChildKey{dir, entry.name}); it != children_.end()) {
                children.push_back(it->second);
            }
        }
        return children;
    }
    for (const auto& [ino, inode] : inodes_) {
        if (ino != FUSE_ROOT_ID && inode.parent == dir && !inode.detached) {
            children.push_back(ino);
        }
    }
    return children;
}

std::vector<InodeTable::LiveChild> InodeTable::liveChildren(fuse_ino_t dir,
                                                            const store::Tree* names) const {
    std::lock_guard lock(mutex_);
    std::vector<LiveChild> children;
    for (fuse_ino_t ino : childrenLocked(dir, names)) {
        const Inode& inode = inodes_.at(ino);
        children.push_back(LiveChild{ino, inode.name, inode.id, inode.kind});
    }
    return children;
}

std::optional<std::vector<std::string>> InodeTable::swapTree(
    fuse_ino_t dir, const store::ObjectId& expected, const store::Tree& newTree,
    const store::Tree* oldTree, const std::unordered_set<fuse_ino_t>& keep) {
    std::lock_guard lock(mutex_);
    auto dirIt = inodes_.find(dir);
    if (dirIt == inodes_.end() || dirIt->second.id != expected) {
        return std::nullopt;
    }
    std::vector<std::string> detached;
    for (fuse_ino_t ino : childrenLocked(dir, oldTree)) {
        Inode& inode = inodes_.at(ino);
        const store::TreeEntry* entry = newTree.find(inode.name);
        if (entry != nullptr && entry->kind == inode.kind &&
            (entry->id == inode.id || keep.contains(ino))) {
            continue;
        }
        children_.erase(ChildKey{dir, inode.name});
        inode.detached = true;
        detached.push_back(inode.name);
    }
    dirIt->second.id = newTree.id();
    // The listing-prefetch bookkeeping described the old listing.
    dirIt->second.listingPrefetchClaimed = true;
    dirIt->second.missesInBurst = 0;
    return detached;
}

std::optional<std::string> InodeTable::symlinkTarget(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) {
        return std::nullopt;
    }
    return it->second.symlinkTarget;
}

void InodeTable::setSymlinkTarget(fuse_ino_t ino, std::string target) {
    std::lock_guard lock(mutex_);
    if (auto it = inodes_.find(ino); it != inodes_.end()) {
        it->second.symlinkTarget = std::move(target);
    }
}

void InodeTable::markListed(fuse_ino_t dir, std::chrono::steady_clock::time_point when) {
    std::lock_guard lock(mutex_);
    if (auto it = inodes_.find(dir); it != inodes_.end()) {
        it->second.listedAt = when;
        it->second.listingPrefetchClaimed = false;
    }
}

bool InodeTable::claimListingPrefetch(fuse_ino_t dir, std::chrono::steady_clock::time_point now,
                                      std::chrono::steady_clock::duration window) {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(dir);
    if (it == inodes_.end() || it->second.listingPrefetchClaimed) {
        return false;
    }
    if (now - it->second.listedAt > window) {
        return false;
    }
    it->second.listingPrefetchClaimed = true;
    return true;
}

bool InodeTable::claimSecondMissPrefetch(fuse_ino_t dir, std::chrono::steady_clock::time_point now,
                                         std::chrono::steady_clock::duration window) {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(dir);
    if (it == inodes_.end()) {
        return false;
    }
    Inode& inode = it->second;
    if (inode.missesInBurst == 0 || now - inode.firstMissAt > window) {
        inode.firstMissAt = now;
        inode.missesInBurst = 0;
    }
    return ++inode.missesInBurst == 2;
}

std::string InodeTable::pathOf(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    return mountRelativePath(inodes_, ino);
}

size_t InodeTable::size() const {
    std::lock_guard lock(mutex_);
    return inodes_.size();
}

uint64_t InodeTable::lookupCount(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? 0 : it->second.nlookup;
}

}  // namespace megafuse::fs
