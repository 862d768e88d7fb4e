// Checkout: moves an overlay from one base tree to another keeping its changes — what `git
// checkout` does to a dirty work tree. Per name, with L the local entry, O the old base's and N
// the new base's: O == N keeps L; L == O (unchanged here) or L == N takes N; otherwise the path
// conflicts (changed locally and upstream), and force takes N, dropping the local change. A
// materialized directory is walked when N is a tree too; else it conflicts only when something
// below it changed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::changes {

class Checkout {
public:
    Checkout(overlay::OverlayStore& overlay, store::ObjectStore& store)
        : overlay_(overlay), store_(store) {}

    // The paths that conflict (sorted); changes nothing.
    std::vector<std::string> conflicts(const store::ObjectId& oldRoot,
                                       const store::ObjectId& newRoot);
    // Rewrites the overlay for newRoot: conflicting paths take newRoot's state (call inside
    // an overlay transaction, after conflicts() said none or the caller forces).
    void apply(const store::ObjectId& oldRoot, const store::ObjectId& newRoot);

private:
    void directory(overlay::NodeId dir, const std::optional<store::ObjectId>& oldTree,
                   const std::optional<store::ObjectId>& newTree, const std::string& prefix);
    // L == E: the local entry (nullptr = absent) equals a base entry (nullopt = absent).
    bool localEquals(const overlay::DirEntry* local, const std::optional<store::TreeEntry>& base);
    void take(overlay::NodeId dir, const std::string& name,
              const std::optional<store::TreeEntry>& base);

    overlay::OverlayStore& overlay_;
    store::ObjectStore& store_;
    bool apply_ = false;
    std::vector<std::string> conflicts_;
};

}  // namespace megafuse::changes
