// WritableInodeTable: bookkeeping only; the filesystem decides what each name is.
#include "fs/WritableInodeTable.hpp"

#include <spdlog/spdlog.h>

namespace megafuse::fs {

WritableInodeTable::WritableInodeTable(const Identity& root) {
    Inode inode;
    inode.parent = FUSE_ROOT_ID;
    inode.identity = root;
    inode.nlookup = 1;  // the kernel's implicit reference, never forgotten
    inodes_.emplace(FUSE_ROOT_ID, std::move(inode));
}

WritableInode WritableInodeTable::infoOf(fuse_ino_t ino, const Inode& inode) const {
    return WritableInode{ino,
                         inode.parent,
                         inode.name,
                         inode.identity,
                         inode.unlinked,
                         ino != FUSE_ROOT_ID && inode.generation != generation_};
}

WritableInode WritableInodeTable::lookup(fuse_ino_t parent, std::string_view name,
                                         const Identity& identity) {
    std::lock_guard lock(mutex_);
    ChildKey key{parent, std::string(name)};
    if (auto it = children_.find(key); it != children_.end()) {
        Inode& inode = inodes_.at(it->second);
        ++inode.nlookup;
        inode.identity = identity;
        inode.generation = generation_;
        return infoOf(it->second, inode);
    }
    const fuse_ino_t ino = nextIno_++;
    Inode inode;
    inode.parent = parent;
    inode.name = key.second;
    inode.identity = identity;
    inode.nlookup = 1;
    inode.generation = generation_;
    auto [it, inserted] = inodes_.emplace(ino, std::move(inode));
    children_.emplace(std::move(key), ino);
    if (auto p = inodes_.find(parent); p != inodes_.end()) {
        ++p->second.liveChildren;
    }
    return infoOf(ino, it->second);
}

std::optional<WritableInode> WritableInodeTable::get(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) {
        return std::nullopt;
    }
    return infoOf(ino, it->second);
}

std::optional<fuse_ino_t> WritableInodeTable::peekChild(fuse_ino_t parent,
                                                        std::string_view name) const {
    std::lock_guard lock(mutex_);
    auto it = children_.find(ChildKey{parent, std::string(name)});
    if (it == children_.end()) {
        return std::nullopt;
    }
    return it->second;
}

void WritableInodeTable::forget(fuse_ino_t ino, uint64_t nlookup) {
    if (ino == FUSE_ROOT_ID) {
        return;
    }
    uint64_t clamped = 0;
    {
        std::lock_guard lock(mutex_);
        auto it = inodes_.find(ino);
        if (it == inodes_.end()) {
            return;
        }
        if (nlookup > it->second.nlookup) {
            clamped = it->second.nlookup;
            nlookup = it->second.nlookup;
        }
        it->second.nlookup -= nlookup;
        eraseIfUnused(ino);
    }
    if (clamped != 0) {
        spdlog::error("forget of inode {} drops more references than it holds ({}); clamped", ino,
                      clamped);
    }
}

void WritableInodeTable::eraseIfUnused(fuse_ino_t ino) {
    while (ino != FUSE_ROOT_ID) {
        auto it = inodes_.find(ino);
        if (it == inodes_.end() || it->second.nlookup != 0 || it->second.liveChildren != 0) {
            return;
        }
        const fuse_ino_t parent = it->second.parent;
        if (!it->second.unlinked) {
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

void WritableInodeTable::setIdentity(fuse_ino_t ino, const Identity& identity) {
    std::lock_guard lock(mutex_);
    if (auto it = inodes_.find(ino); it != inodes_.end()) {
        it->second.identity = identity;
        it->second.generation = generation_;
    }
}

void WritableInodeTable::detach(fuse_ino_t ino) {
    auto it = inodes_.find(ino);
    if (it == inodes_.end() || it->second.unlinked) {
        return;
    }
    children_.erase(ChildKey{it->second.parent, it->second.name});
    it->second.unlinked = true;
    it->second.generation = generation_;
}

void WritableInodeTable::unlinkChild(fuse_ino_t parent, std::string_view name) {
    std::lock_guard lock(mutex_);
    auto it = children_.find(ChildKey{parent, std::string(name)});
    if (it != children_.end()) {
        detach(it->second);
    }
}

void WritableInodeTable::move(fuse_ino_t ino, fuse_ino_t newParent, std::string_view newName) {
    Inode& inode = inodes_.at(ino);
    const fuse_ino_t oldParent = inode.parent;
    children_.erase(ChildKey{oldParent, inode.name});
    inode.name = std::string(newName);
    inode.parent = newParent;
    children_[ChildKey{newParent, inode.name}] = ino;
    if (oldParent != newParent) {
        ++inodes_.at(newParent).liveChildren;
        --inodes_.at(oldParent).liveChildren;
        eraseIfUnused(oldParent);
    }
}

void WritableInodeTable::rename(fuse_ino_t parent, std::string_view name, fuse_ino_t newParent,
                                std::string_view newName) {
    std::lock_guard lock(mutex_);
    auto source = children_.find(ChildKey{parent, std::string(name)});
    auto target = children_.find(ChildKey{newParent, std::string(newName)});
    const std::optional<fuse_ino_t> sourceIno =
        source == children_.end() ? std::nullopt : std::optional(source->second);
    if (target != children_.end() && (!sourceIno || target->second != *sourceIno)) {
        detach(target->second);
    }
    if (sourceIno) {
        move(*sourceIno, newParent, newName);
    }
}

void WritableInodeTable::exchange(fuse_ino_t parent, std::string_view name, fuse_ino_t newParent,
                                  std::string_view newName) {
    std::lock_guard lock(mutex_);
    auto a = children_.find(ChildKey{parent, std::string(name)});
    auto b = children_.find(ChildKey{newParent, std::string(newName)});
    const std::optional<fuse_ino_t> aIno =
        a == children_.end() ? std::nullopt : std::optional(a->second);
    const std::optional<fuse_ino_t> bIno =
        b == children_.end() ? std::nullopt : std::optional(b->second);
    if (aIno) {
        children_.erase(ChildKey{parent, std::string(name)});
    }
    if (bIno) {
        children_.erase(ChildKey{newParent, std::string(newName)});
    }
    // Re-insert each under the other's name; liveChildren moves with the parent change.
    auto place = [&](fuse_ino_t ino, fuse_ino_t toParent, std::string_view toName) {
        Inode& inode = inodes_.at(ino);
        const fuse_ino_t from = inode.parent;
        inode.parent = toParent;
        inode.name = std::string(toName);
        children_[ChildKey{toParent, inode.name}] = ino;
        if (from != toParent) {
            ++inodes_.at(toParent).liveChildren;
            --inodes_.at(from).liveChildren;
        }
    };
    if (aIno) {
        place(*aIno, newParent, newName);
    }
    if (bIno) {
        place(*bIno, parent, name);
    }
    eraseIfUnused(parent);
    eraseIfUnused(newParent);
}

bool WritableInodeTable::isAncestorOrSelf(fuse_ino_t ancestor, fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    for (;;) {
        if (ino == ancestor) {
            return true;
        }
        if (ino == FUSE_ROOT_ID) {
            return false;
        }
        auto it = inodes_.find(ino);
        if (it == inodes_.end()) {
            return false;
        }
        ino = it->second.parent;
    }
}

void WritableInodeTable::markAllStale() {
    std::lock_guard lock(mutex_);
    ++generation_;
}

std::vector<fuse_ino_t> WritableInodeTable::liveInodes() const {
    std::lock_guard lock(mutex_);
    std::vector<fuse_ino_t> inos;
    inos.reserve(inodes_.size());
    for (const auto& [ino, inode] : inodes_) {
        inos.push_back(ino);
    }
    return inos;
}

std::vector<std::pair<fuse_ino_t, std::string>> WritableInodeTable::liveNames() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<fuse_ino_t, std::string>> names;
    names.reserve(children_.size());
    for (const auto& [key, ino] : children_) {
        names.push_back(key);
    }
    return names;
}

std::string WritableInodeTable::pathOf(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    return mountRelativePath(inodes_, ino);
}

size_t WritableInodeTable::size() const {
    std::lock_guard lock(mutex_);
    return inodes_.size();
}

uint64_t WritableInodeTable::lookupCount(fuse_ino_t ino) const {
    std::lock_guard lock(mutex_);
    auto it = inodes_.find(ino);
    return it == inodes_.end() ? 0 : it->second.nlookup;
}

}  // namespace megafuse::fs
