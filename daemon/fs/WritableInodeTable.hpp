// WritableInodeTable: the kernel's inode numbers for a writable mount. Like InodeTable, inodes
// are made on lookup and dropped on forget, and none holds a file descriptor; unlike it, an inode
// names what it shows by identity (an overlay node, or a base object until it is copied up), and
// follows its file through renames, so an open fd keeps working after `mv`.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/InodeNames.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectId.hpp"
#include "store/Tree.hpp"

namespace megafuse::fs {

// What an inode shows: an overlay node (node != 0) or an untouched base blob or tree.
struct Identity {
    overlay::NodeId node = 0;
    store::ObjectId baseId;
    store::EntryKind baseKind = store::EntryKind::Directory;
    // The node's type (node != 0); kept here so type checks need no database read.
    overlay::NodeType nodeType = overlay::NodeType::Directory;

    [[nodiscard]] bool isBase() const { return node == 0; }
    [[nodiscard]] bool isDirectory() const {
        return isBase() ? (baseKind == store::EntryKind::Directory ||
                           baseKind == store::EntryKind::Gitlink)
                        : nodeType == overlay::NodeType::Directory;
    }
    [[nodiscard]] bool isSymlink() const {
        return isBase() ? baseKind == store::EntryKind::Symlink
                        : nodeType == overlay::NodeType::Symlink;
    }
    static Identity ofBase(const store::ObjectId& id, store::EntryKind kind) {
        return Identity{0, id, kind, overlay::NodeType::Directory};
    }
    static Identity ofNode(overlay::NodeId node, overlay::NodeType type) {
        return Identity{node, {}, store::EntryKind::Directory, type};
    }
};

// A copy of one inode's fields, taken under the table's lock.
struct WritableInode {
    fuse_ino_t ino = 0;
    fuse_ino_t parent = 0;
    std::string name;
    Identity identity;
    bool unlinked = false;  // no name any more (unlink, replaced by rename): open files only
    bool stale = false;     // the overlay changed behind the mount: re-resolve by (parent, name)
};

// Thread-safety: every method from any thread; one mutex, nothing blocking under it.
// Numbering: FUSE_ROOT_ID, then a counter that never repeats within a session (generation 0).
class WritableInodeTable {
public:
    explicit WritableInodeTable(const Identity& root);
    WritableInodeTable(const WritableInodeTable&) = delete;
    WritableInodeTable& operator=(const WritableInodeTable&) = delete;

    // The inode named name in parent (made on first use) with identity recorded; adds one
    // lookup reference.
    WritableInode lookup(fuse_ino_t parent, std::string_view name, const Identity& identity);
    [[nodiscard]] std::optional<WritableInode> get(fuse_ino_t ino) const;
    [[nodiscard]] std::optional<fuse_ino_t> peekChild(fuse_ino_t parent,
                                                      std::string_view name) const;
    void forget(fuse_ino_t ino, uint64_t nlookup);

    // Records what ino shows now (after a copy-up, a materialization, a chmod of a base file, or
    // re-resolving a stale inode).
    void setIdentity(fuse_ino_t ino, const Identity& identity);
    // The name in parent is gone (unlink, rmdir): its inode, if live, keeps serving open files.
    void unlinkChild(fuse_ino_t parent, std::string_view name);
    // A rename: the inode at (parent, name) moves, one at the target is unlinked first.
    void rename(fuse_ino_t parent, std::string_view name, fuse_ino_t newParent,
                std::string_view newName);
    void exchange(fuse_ino_t parent, std::string_view name, fuse_ino_t newParent,
                  std::string_view newName);
    // True when ancestor is ino or one of its parents (rename of a directory into itself).
    [[nodiscard]] bool isAncestorOrSelf(fuse_ino_t ancestor, fuse_ino_t ino) const;

    // The overlay changed behind the mount: every inode but the root is re-resolved on next use.
    void markAllStale();
    // Every live inode and every live (parent, name), for the kernel's invalidation.
    [[nodiscard]] std::vector<fuse_ino_t> liveInodes() const;
    [[nodiscard]] std::vector<std::pair<fuse_ino_t, std::string>> liveNames() const;

    [[nodiscard]] std::string pathOf(fuse_ino_t ino) const;
    [[nodiscard]] size_t size() const;
    [[nodiscard]] uint64_t lookupCount(fuse_ino_t ino) const;

private:
    struct Inode {
        fuse_ino_t parent = 0;
        std::string name;
        Identity identity;
        uint64_t nlookup = 0;
        uint32_t liveChildren = 0;
        bool unlinked = false;
        uint64_t generation = 0;
    };
    struct ChildKeyHash {
        size_t operator()(const std::pair<fuse_ino_t, std::string>& key) const noexcept {
            return hashChildKey(key.first, key.second);
        }
    };
    using ChildKey = std::pair<fuse_ino_t, std::string>;

    WritableInode infoOf(fuse_ino_t ino, const Inode& inode) const;
    // Takes the inode off its name (it stays alive while referenced). Caller holds mutex_.
    void detach(fuse_ino_t ino);
    // Moves ino to (newParent, newName). Caller holds mutex_; the target name is free.
    void move(fuse_ino_t ino, fuse_ino_t newParent, std::string_view newName);
    void eraseIfUnused(fuse_ino_t ino);

    // Lock order: leaf. Never held while calling the overlay, the store, libfuse or the logger.
    mutable std::mutex mutex_;
    std::unordered_map<fuse_ino_t, Inode> inodes_;
    std::unordered_map<ChildKey, fuse_ino_t, ChildKeyHash> children_;
    fuse_ino_t nextIno_ = FUSE_ROOT_ID + 1;
    uint64_t generation_ = 0;  // bumped by markAllStale
};

}  // namespace megafuse::fs
