// InodeTable: the kernel's view of the tree as FUSE inode numbers. Inodes are made lazily on
// lookup and dropped when the kernel forgets them, so memory follows what the kernel caches,
// never the size of the repository, and no inode holds a file descriptor.
#pragma once

#include <fuse_lowlevel.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fs/InodeNames.hpp"
#include "store/ObjectId.hpp"
#include "store/Tree.hpp"

namespace megafuse::fs {

// A copy of one inode's fields, taken under the table's lock, that a handler works from without
// holding it (handlers call the store, which may block on the network).
struct InodeInfo {
    fuse_ino_t ino = 0;
    fuse_ino_t parent = 0;
    store::ObjectId id;  // tree id for directories, blob id for files and symlinks
    store::EntryKind kind = store::EntryKind::Directory;
    uint64_t size = 0;  // blob size for files and symlinks (always known once the inode exists)

    [[nodiscard]] bool isDirectory() const {
        return kind == store::EntryKind::Directory || kind == store::EntryKind::Gitlink;
    }
};

// Thread-safety: every method may be called from any FUSE worker thread. One mutex guards the
// whole table; each critical section is a hash lookup or two, and nothing blocking (store calls,
// libfuse replies, logging) ever runs under it, so one lock is cheaper than sharding at the
// handful of worker threads libfuse runs.
//
// Numbering: FUSE_ROOT_ID for the root, then a counter that never repeats within a session, so a
// forgotten inode's number is never handed to a different file (generation is always 0). The
// counter plus the (parent, name) map is all a later session takeover would have to carry.
class InodeTable {
public:
    explicit InodeTable(const store::ObjectId& rootTree);
    InodeTable(const InodeTable&) = delete;
    InodeTable& operator=(const InodeTable&) = delete;

    // The inode of entry inside directory parent, made on first use; adds one to its lookup
    // count (one per fuse_reply_entry / readdirplus entry the kernel receives). The same
    // (parent, name) gives the same inode while it lives. size is recorded for a new inode and
    // ignored for an existing one (the tree is immutable: it is the same blob).
    InodeInfo lookup(fuse_ino_t parent, const store::TreeEntry& entry, uint64_t size);

    // Like lookup, for an entry read from the tree parentTree: nullopt (nothing made) when a
    // refresh has given parent another tree since, so no entry of an old tree gets a name.
    std::optional<InodeInfo> lookupInTree(fuse_ino_t parent, const store::ObjectId& parentTree,
                                          const store::TreeEntry& entry, uint64_t size);

    // Like lookup, but only when the inode already exists: no tree read, no size needed.
    std::optional<InodeInfo> lookupExisting(fuse_ino_t parent, std::string_view name);

    // The inode without touching its lookup count; nullopt when the number is unknown.
    [[nodiscard]] std::optional<InodeInfo> get(fuse_ino_t ino) const;

    // The child's number if it lives, without a reference (readdir's d_ino).
    [[nodiscard]] std::optional<fuse_ino_t> peekChild(fuse_ino_t parent,
                                                      std::string_view name) const;

    // Drops nlookup references (FUSE forget). An inode with no references and no live children
    // is erased, then its parent is reconsidered. The root is never erased.
    void forget(fuse_ino_t ino, uint64_t nlookup);

    // --- refresh (a mount whose revision moves upstream; Filesystem::refresh)

    // A named child of a directory, as the table holds it.
    struct LiveChild {
        fuse_ino_t ino = 0;
        std::string name;
        store::ObjectId id;
        store::EntryKind kind = store::EntryKind::Directory;
    };
    // The named children of dir. With names (the directory's tree as the table shows it) only
    // its names are looked up, a hash lookup each; without, the whole table is scanned.
    [[nodiscard]] std::vector<LiveChild> liveChildren(fuse_ino_t dir,
                                                      const store::Tree* names) const;
    // Gives directory dir the tree newTree if it still shows expected (nullopt otherwise). Each
    // named child is compared with newTree's entry of its name: unchanged ones stay, and so do
    // subdirectories in keep (the caller swaps their trees next); every other one (removed,
    // other bytes, other kind) is detached: it keeps its number for the kernel's references and
    // open files, but its name leads to a new lookup in newTree. Returns the detached names.
    // oldTree: as for liveChildren.
    std::optional<std::vector<std::string>> swapTree(fuse_ino_t dir,
                                                     const store::ObjectId& expected,
                                                     const store::Tree& newTree,
                                                     const store::Tree* oldTree,
                                                     const std::unordered_set<fuse_ino_t>& keep);

    // Symlink targets are read once per inode (the kernel also caches them: CACHE_SYMLINKS).
    [[nodiscard]] std::optional<std::string> symlinkTarget(fuse_ino_t ino) const;
    void setSymlinkTarget(fuse_ino_t ino, std::string target);

    // Directory listing bookkeeping for the size-prefetch policy (see Filesystem.cpp).
    void markListed(fuse_ino_t dir, std::chrono::steady_clock::time_point when);
    // True exactly once per directory listing: when dir was listed no longer than window before
    // now and nobody has claimed this listing's prefetch yet.
    bool claimListingPrefetch(fuse_ino_t dir, std::chrono::steady_clock::time_point now,
                              std::chrono::steady_clock::duration window);
    // Records a lookup in dir that needed a missing blob. True exactly once per burst: on the
    // second such miss no later than window after the first (a reader walking the directory's
    // files, not one `cat`); a miss after the window starts a new burst.
    bool claimSecondMissPrefetch(fuse_ino_t dir, std::chrono::steady_clock::time_point now,
                                 std::chrono::steady_clock::duration window);

    // The mount-relative path ("" for the root, "a/b" below it) for log lines; "?" parts for
    // inodes already forgotten.
    [[nodiscard]] std::string pathOf(fuse_ino_t ino) const;

    // Live inodes, the root included (statfs f_files, tests).
    [[nodiscard]] size_t size() const;
    // Lookup count of an inode (0 when unknown); for tests and debugging.
    [[nodiscard]] uint64_t lookupCount(fuse_ino_t ino) const;

private:
    struct Inode {
        fuse_ino_t parent = 0;
        std::string name;  // the children_ key views this string: an Inode never moves
        store::ObjectId id;
        store::EntryKind kind = store::EntryKind::Directory;
        uint64_t size = 0;
        uint64_t nlookup = 0;
        uint32_t liveChildren = 0;  // children still in the table keep their parent alive
        bool detached = false;      // a refresh took its name away (no children_ key)
        std::optional<std::string> symlinkTarget;
        std::chrono::steady_clock::time_point listedAt{};  // last readdir; epoch = never
        bool listingPrefetchClaimed = true;
        std::chrono::steady_clock::time_point firstMissAt{};  // start of the current miss burst
        uint32_t missesInBurst = 0;
    };

    struct ChildKey {
        fuse_ino_t parent;
        std::string_view name;
        bool operator==(const ChildKey&) const = default;
    };
    struct ChildKeyHash {
        size_t operator()(const ChildKey& key) const noexcept {
            return hashChildKey(key.parent, key.name);
        }
    };

    static InodeInfo infoOf(fuse_ino_t ino, const Inode& inode);
    // lookup's work; caller holds mutex_.
    InodeInfo lookupLocked(fuse_ino_t parent, const store::TreeEntry& entry, uint64_t size);
    // The named children of dir; caller holds mutex_.
    [[nodiscard]] std::vector<fuse_ino_t> childrenLocked(fuse_ino_t dir,
                                                         const store::Tree* names) const;
    // Erases ino and then any ancestor it was the last thing keeping. Caller holds mutex_.
    void eraseIfUnused(fuse_ino_t ino);

    // Lock order: leaf. Never held while calling the store, libfuse or the logger.
    mutable std::mutex mutex_;
    // std::unordered_map never moves its nodes, so children_ may view Inode::name.
    std::unordered_map<fuse_ino_t, Inode> inodes_;
    std::unordered_map<ChildKey, fuse_ino_t, ChildKeyHash> children_;
    fuse_ino_t nextIno_ = FUSE_ROOT_ID + 1;
};

}  // namespace megafuse::fs
