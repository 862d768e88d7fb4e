// ChangeWalk: the overlay compared with the base tree it applies to — every leaf (file, symlink,
// gitlink) whose id or mode differs, found by walking materialized directories only. Base
// subtrees the overlay moved are compared tree against tree; overlay files are hashed as Git
// would store them, so a file edited back to its base bytes is not a change.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "changes/ContentHashCache.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"
#include "store/Tree.hpp"

namespace megafuse::changes {

// A Git leaf: a blob (file or symlink) or a gitlink, by id and mode.
struct Leaf {
    store::ObjectId id;
    store::EntryKind kind = store::EntryKind::Regular;
    bool operator==(const Leaf&) const = default;
};

// One changed leaf path (mount-relative). before/after absent: added/deleted.
struct RawChange {
    std::string path;
    std::string oldPath;  // set when an exact rename paired a deletion with this addition
    std::optional<Leaf> before;
    std::optional<Leaf> after;
    overlay::NodeId afterNode = 0;  // != 0: after's bytes are this overlay File/Symlink node's
};

// "100644", "100755", "120000", "040000", "160000".
std::string gitModeString(store::EntryKind kind);

// The Git leaf an overlay File or Symlink node would be committed as (its bytes hashed, or the
// id hashes remembers for them when given); nullopt for a directory or fifo. Throws
// ChangeSetError(Failed) when the bytes are unreadable.
std::optional<Leaf> leafOfNode(const overlay::OverlayStore& overlay, overlay::NodeId node);
std::optional<Leaf> leafOfNode(const overlay::OverlayStore& overlay, overlay::NodeId node,
                               const overlay::NodeAttributes& attributes,
                               ContentHashCache* hashes = nullptr);

class ChangeWalk {
public:
    // hashes (may be null: every file is hashed) outlives the walk; one per overlay.
    ChangeWalk(const overlay::OverlayStore& overlay, store::ObjectStore& store,
               ContentHashCache* hashes = nullptr)
        : overlay_(overlay), store_(store), hashes_(hashes) {}

    // Changes of the whole overlay against baseRoot (the tree at the mount's sub-path), sorted
    // by path, exact renames paired. Empty when the overlay is.
    std::vector<RawChange> all(const store::ObjectId& baseRoot);

    // Changes below one materialized directory against a base tree (nullopt: none there).
    void directory(overlay::NodeId dir, const std::optional<store::ObjectId>& baseTree,
                   const std::string& prefix, std::vector<RawChange>& out);
    // Changes between two base entries at one path (either may be absent).
    void entries(const std::optional<store::TreeEntry>& before,
                 const std::optional<store::TreeEntry>& after, const std::string& path,
                 std::vector<RawChange>& out);

private:
    // Every leaf below (or at) a base entry, as deleted (before) or added (after).
    void everyLeaf(const store::TreeEntry& entry, const std::string& path, bool asBefore,
                   std::vector<RawChange>& out);
    void trees(const store::ObjectId& before, const store::ObjectId& after,
               const std::string& prefix, std::vector<RawChange>& out);

    const overlay::OverlayStore& overlay_;
    store::ObjectStore& store_;
    ContentHashCache* hashes_;
};

// Pairs deletions and additions of the same blob id into renames (git's exact rename detection),
// then sorts by path.
void pairRenames(std::vector<RawChange>& changes);

// path joined below prefix ("" + "a" = "a").
std::string joinPath(const std::string& prefix, const std::string& name);

}  // namespace megafuse::changes
