// ChangeWalk: merge-walks of sorted entry lists — the overlay's (a materialized directory) or a
// base tree's — against the base tree at the same path.
#include "changes/ChangeWalk.hpp"

#include <git2.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <map>
#include <memory>

#include "changes/ChangeSet.hpp"
#include "store/Libgit2.hpp"

namespace megafuse::changes {
namespace {

using overlay::DirEntry;
using overlay::NodeType;
using store::EntryKind;
using store::TreeEntry;

bool isTree(const TreeEntry& entry) {
    return entry.kind == EntryKind::Directory;
}

std::optional<TreeEntry> asTreeEntry(const DirEntry& entry) {
    return TreeEntry{entry.name, entry.baseId, entry.baseKind};
}

Leaf leafOf(const TreeEntry& entry) {
    return Leaf{entry.id, entry.kind};
}

// A base tree's entries in byte order of name (Git orders a directory "a" as "a/"), pointing
// into tree, which the caller keeps: every walk passes through every materialized directory's
// base tree, so no entry is copied.
std::vector<const TreeEntry*> byName(const store::Tree& tree) {
    std::vector<const TreeEntry*> out;
    out.reserve(tree.entries().size());
    for (const auto& entry : tree.entries()) {
        out.push_back(&entry);
    }
    std::sort(out.begin(), out.end(),
              [](const TreeEntry* a, const TreeEntry* b) { return a->name < b->name; });
    return out;
}

}  // namespace

std::string gitModeString(EntryKind kind) {
    return fmt::format("{:06o}", store::gitModeOf(kind));  // "040000", as git diff prints it
}

std::string joinPath(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "/" + name;
}

std::optional<Leaf> leafOfNode(const overlay::OverlayStore& overlay, overlay::NodeId node) {
    return leafOfNode(overlay, node, overlay.attributes(node));
}

std::optional<Leaf> leafOfNode(const overlay::OverlayStore& overlay, overlay::NodeId node,
                               const overlay::NodeAttributes& attributes,
                               ContentHashCache* hashes) {
    git_oid oid;
    if (attributes.type == NodeType::File) {
        const auto path = overlay.contentPath(node);
        // Git keeps one executable bit: the owner's. The mode lives in the database, not in the
        // content file, so it is never cached with the id.
        const EntryKind kind =
            (attributes.permissions & 0100U) != 0 ? EntryKind::Executable : EntryKind::Regular;
        if (hashes != nullptr) {
            return Leaf{hashes->blobId(node, path), kind};
        }
        if (git_odb_hashfile(&oid, path.c_str(), GIT_OBJECT_BLOB) != 0) {
            throw ChangeSetError(ChangeSetErrc::Failed,
                                 store::gitErrorText("hash " + path.string()));
        }
        return Leaf{store::fromGitOid(oid), kind};
    }
    if (attributes.type == NodeType::Symlink) {
        const std::string& target = attributes.symlinkTarget;
        if (git_odb_hash(&oid, target.data(), target.size(), GIT_OBJECT_BLOB) != 0) {
            throw ChangeSetError(ChangeSetErrc::Failed, store::gitErrorText("hash a symlink"));
        }
        return Leaf{store::fromGitOid(oid), EntryKind::Symlink};
    }
    return std::nullopt;  // directories are walked; fifos have no Git form
}

std::vector<RawChange> ChangeWalk::all(const store::ObjectId& baseRoot) {
    std::vector<RawChange> out;
    if (!overlay_.empty()) {
        directory(overlay::kRootNode, baseRoot, "", out);
    }
    pairRenames(out);
    return out;
}

void ChangeWalk::everyLeaf(const TreeEntry& entry, const std::string& path, bool asBefore,
                           std::vector<RawChange>& out) {
    if (!isTree(entry)) {
        RawChange change;
        change.path = path;
        (asBefore ? change.before : change.after) = leafOf(entry);
        out.push_back(std::move(change));
        return;
    }
    const auto tree = store_.readTree(entry.id);
    for (const auto& child : tree->entries()) {
        everyLeaf(child, joinPath(path, child.name), asBefore, out);
    }
}

void ChangeWalk::entries(const std::optional<TreeEntry>& before,
                         const std::optional<TreeEntry>& after, const std::string& path,
                         std::vector<RawChange>& out) {
    if (before && after && before->id == after->id && before->kind == after->kind) {
        return;
    }
    if (before && after && isTree(*before) && isTree(*after)) {
        trees(before->id, after->id, path, out);
        return;
    }
    if (before && after && !isTree(*before) && !isTree(*after)) {
        out.push_back(RawChange{path, "", leafOf(*before), leafOf(*after), 0});
        return;
    }
    if (before) {
        everyLeaf(*before, path, true, out);
    }
    if (after) {
        everyLeaf(*after, path, false, out);
    }
}

void ChangeWalk::trees(const store::ObjectId& before, const store::ObjectId& after,
                       const std::string& prefix, std::vector<RawChange>& out) {
    const auto beforeTree = store_.readTree(before);
    const auto afterTree = store_.readTree(after);
    const auto left = byName(*beforeTree);
    const auto right = byName(*afterTree);
    auto l = left.begin();
    auto r = right.begin();
    while (l != left.end() || r != right.end()) {
        if (r == right.end() || (l != left.end() && (*l)->name < (*r)->name)) {
            entries(**l, std::nullopt, joinPath(prefix, (*l)->name), out);
            ++l;
        } else if (l == left.end() || (*r)->name < (*l)->name) {
            entries(std::nullopt, **r, joinPath(prefix, (*r)->name), out);
            ++r;
        } else {
            entries(**l, **r, joinPath(prefix, (*l)->name), out);
            ++l;
            ++r;
        }
    }
}

void ChangeWalk::directory(overlay::NodeId dir, const std::optional<store::ObjectId>& baseTree,
                           const std::string& prefix, std::vector<RawChange>& out) {
    std::shared_ptr<const store::Tree> tree;  // keeps base's entries alive
    std::vector<const TreeEntry*> base;
    if (baseTree) {
        tree = store_.readTree(*baseTree);
        base = byName(*tree);
    }
    const std::vector<DirEntry> now = overlay_.list(dir);
    auto visit = [&](const DirEntry* entry, const TreeEntry* was, const std::string& path) {
        std::optional<TreeEntry> before;
        if (was != nullptr) {
            before = *was;
        }
        if (entry == nullptr) {
            entries(before, std::nullopt, path, out);
            return;
        }
        if (entry->isBase()) {
            entries(before, asTreeEntry(*entry), path, out);
            return;
        }
        const overlay::NodeAttributes attributes = overlay_.attributes(entry->node);
        if (attributes.type == NodeType::Directory) {
            if (before && isTree(*before)) {
                directory(entry->node, before->id, path, out);
                return;
            }
            if (before) {
                everyLeaf(*before, path, true, out);
            }
            directory(entry->node, std::nullopt, path, out);
            return;
        }
        const std::optional<Leaf> leaf = leafOfNode(overlay_, entry->node, attributes, hashes_);
        if (!leaf) {  // a fifo: Git cannot hold it, so it reads as absent
            entries(before, std::nullopt, path, out);
            return;
        }
        if (before && !isTree(*before)) {
            if (leafOf(*before) != *leaf) {
                out.push_back(RawChange{path, "", leafOf(*before), *leaf, entry->node});
            }
            return;
        }
        if (before) {
            everyLeaf(*before, path, true, out);
        }
        out.push_back(RawChange{path, "", std::nullopt, *leaf, entry->node});
    };
    // Both lists are in byte order of name: one merge pass.
    auto b = base.begin();
    auto n = now.begin();
    while (b != base.end() || n != now.end()) {
        if (n == now.end() || (b != base.end() && (*b)->name < n->name)) {
            visit(nullptr, *b, joinPath(prefix, (*b)->name));
            ++b;
        } else if (b == base.end() || n->name < (*b)->name) {
            visit(&*n, nullptr, joinPath(prefix, n->name));
            ++n;
        } else {
            visit(&*n, *b, joinPath(prefix, n->name));
            ++b;
            ++n;
        }
    }
}

void pairRenames(std::vector<RawChange>& changes) {
    // Deleted blobs by id, in path order, so the first deletion pairs with the first addition.
    std::sort(changes.begin(), changes.end(),
              [](const RawChange& a, const RawChange& b) { return a.path < b.path; });
    std::multimap<store::ObjectId, size_t> deleted;
    for (size_t i = 0; i < changes.size(); ++i) {
        const auto& change = changes[i];
        if (change.before && !change.after && change.before->kind != EntryKind::Gitlink) {
            deleted.emplace(change.before->id, i);
        }
    }
    std::vector<bool> consumed(changes.size(), false);
    for (size_t i = 0; i < changes.size() && !deleted.empty(); ++i) {
        auto& change = changes[i];
        if (change.before || !change.after || change.after->kind == EntryKind::Gitlink) {
            continue;
        }
        auto it = deleted.find(change.after->id);
        if (it == deleted.end()) {
            continue;
        }
        const RawChange& gone = changes[it->second];
        change.oldPath = gone.path;
        change.before = gone.before;
        consumed[it->second] = true;
        deleted.erase(it);
    }
    std::vector<RawChange> kept;
    kept.reserve(changes.size());
    for (size_t i = 0; i < changes.size(); ++i) {
        if (!consumed[i]) {
            kept.push_back(std::move(changes[i]));
        }
    }
    changes = std::move(kept);
}

}  // namespace megafuse::changes
