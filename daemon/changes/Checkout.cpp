// Checkout: one three-way walk (local, old base, new base) serves both the dry run that lists
// conflicts and the rewrite.
#include "changes/Checkout.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "changes/ChangeWalk.hpp"

namespace megafuse::changes {
namespace {

using overlay::DirEntry;
using overlay::NodeType;
using store::EntryKind;
using store::TreeEntry;

bool sameEntry(const std::optional<TreeEntry>& a, const std::optional<TreeEntry>& b) {
    if (!a || !b) {
        return !a && !b;
    }
    return a->id == b->id && a->kind == b->kind;
}

std::optional<store::ObjectId> treeOf(const std::optional<TreeEntry>& entry) {
    if (entry && entry->kind == EntryKind::Directory) {
        return entry->id;
    }
    return std::nullopt;
}

}  // namespace

std::vector<std::string> Checkout::conflicts(const store::ObjectId& oldRoot,
                                             const store::ObjectId& newRoot) {
    apply_ = false;
    conflicts_.clear();
    if (!overlay_.empty() && oldRoot != newRoot) {
        directory(overlay::kRootNode, oldRoot, newRoot, "");
    }
    std::sort(conflicts_.begin(), conflicts_.end());
    return conflicts_;
}

void Checkout::apply(const store::ObjectId& oldRoot, const store::ObjectId& newRoot) {
    apply_ = true;
    conflicts_.clear();
    if (!overlay_.empty() && oldRoot != newRoot) {
        directory(overlay::kRootNode, oldRoot, newRoot, "");
    }
}

bool Checkout::localEquals(const DirEntry* local, const std::optional<TreeEntry>& base) {
    if (local == nullptr) {
        return !base;
    }
    if (local->isBase()) {
        return base && base->id == local->baseId && base->kind == local->baseKind;
    }
    const overlay::NodeAttributes attributes = overlay_.attributes(local->node);
    if (attributes.type == NodeType::Directory) {
        if (!base || base->kind != EntryKind::Directory) {
            return false;
        }
        std::vector<RawChange> below;
        ChangeWalk(overlay_, store_).directory(local->node, base->id, "", below);
        return below.empty();
    }
    const std::optional<Leaf> leaf = leafOfNode(overlay_, local->node, attributes);
    if (!leaf) {
        return !base;  // a fifo is invisible to Git
    }
    return base && base->kind != EntryKind::Directory && Leaf{base->id, base->kind} == *leaf;
}

void Checkout::take(overlay::NodeId dir, const std::string& name,
                    const std::optional<TreeEntry>& base) {
    if (!apply_) {
        return;
    }
    if (base) {
        overlay_.put(dir, DirEntry::base(*base));
    } else {
        overlay_.remove(dir, name);
    }
}

void Checkout::directory(overlay::NodeId dir, const std::optional<store::ObjectId>& oldTree,
                         const std::optional<store::ObjectId>& newTree, const std::string& prefix) {
    std::map<std::string, TreeEntry> before;
    std::map<std::string, TreeEntry> after;
    if (oldTree) {
        for (const auto& entry : store_.readTree(*oldTree)->entries()) {
            before.emplace(entry.name, entry);
        }
    }
    if (newTree) {
        for (const auto& entry : store_.readTree(*newTree)->entries()) {
            after.emplace(entry.name, entry);
        }
    }
    std::map<std::string, DirEntry> local;
    for (auto& entry : overlay_.list(dir)) {
        local.emplace(entry.name, entry);
    }
    std::set<std::string> names;
    for (const auto& [name, entry] : before) {
        names.insert(name);
    }
    for (const auto& [name, entry] : after) {
        names.insert(name);
    }
    for (const auto& [name, entry] : local) {
        names.insert(name);
    }
    for (const std::string& name : names) {
        const std::string path = joinPath(prefix, name);
        std::optional<TreeEntry> o;
        std::optional<TreeEntry> n;
        if (auto it = before.find(name); it != before.end()) {
            o = it->second;
        }
        if (auto it = after.find(name); it != after.end()) {
            n = it->second;
        }
        const DirEntry* l = nullptr;
        if (auto it = local.find(name); it != local.end()) {
            l = &it->second;
        }
        if (sameEntry(o, n)) {
            continue;  // upstream did not touch it: the local state stays, whatever it is
        }
        const bool localDirectory = l != nullptr && !l->isBase() &&
                                    overlay_.attributes(l->node).type == NodeType::Directory;
        if (localDirectory && treeOf(n)) {
            directory(l->node, treeOf(o), treeOf(n), path);
            continue;
        }
        if (localEquals(l, o) || localEquals(l, n)) {
            take(dir, name, n);
            continue;
        }
        conflicts_.push_back(path);
        take(dir, name, n);  // only when forced: apply() runs after the caller accepted them
    }
}

}  // namespace megafuse::changes
