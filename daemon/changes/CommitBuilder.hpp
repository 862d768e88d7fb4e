// CommitBuilder: the Git tree of base + overlay — materialized directories become new trees,
// untouched base subtrees are reused by id, overlay files become blobs (streamed from their
// content files), symlinks blobs of their targets; empty directories and fifos vanish, as Git has
// no form for them. A mount of a sub-path grafts its new subtree into the base commit's full tree.
#pragma once

#include <optional>
#include <string>

#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::changes {

class CommitBuilder {
public:
    CommitBuilder(const overlay::OverlayStore& overlay, store::ObjectStore& store)
        : overlay_(overlay), store_(store) {}

    // The tree of a materialized directory (written with everything below it); nullopt when it
    // holds nothing Git can store.
    std::optional<store::ObjectId> directoryTree(overlay::NodeId dir);

    // The commit's full root tree: baseRootTree (the base commit's root) with the tree at
    // subPath replaced by subtree ("" = the root itself).
    store::ObjectId graft(const store::ObjectId& baseRootTree, const std::string& subPath,
                          const store::ObjectId& subtree);

private:
    store::ObjectId graftBelow(const store::ObjectId& tree, const std::vector<std::string>& parts,
                               size_t index, const store::ObjectId& subtree);

    const overlay::OverlayStore& overlay_;
    store::ObjectStore& store_;
};

// "a//b/./c/" → {"a", "b", "c"}.
std::vector<std::string> splitPath(const std::string& path);

}  // namespace megafuse::changes
