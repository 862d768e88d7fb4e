// Tree: sorting and lookup.
#include "store/Tree.hpp"

#include <algorithm>

namespace megafuse::store {

Tree::Tree(const ObjectId& id, std::vector<TreeEntry> entries)
    : id_(id), entries_(std::move(entries)) {
    std::sort(entries_.begin(), entries_.end(),
              [](const TreeEntry& a, const TreeEntry& b) { return a.name < b.name; });
    memoryBytes_ = sizeof(Tree) + entries_.capacity() * sizeof(TreeEntry);
    for (const auto& e : entries_) {
        if (e.name.capacity() >= sizeof(std::string)) {
            memoryBytes_ += e.name.capacity() + 1;
        }
    }
}

const TreeEntry* Tree::find(std::string_view name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const TreeEntry& e, std::string_view n) { return e.name < n; });
    if (it == entries_.end() || it->name != name) {
        return nullptr;
    }
    return &*it;
}

uint32_t gitModeOf(EntryKind kind) {
    switch (kind) {
        case EntryKind::Regular:
            return 0100644;
        case EntryKind::Executable:
            return 0100755;
        case EntryKind::Symlink:
            return 0120000;
        case EntryKind::Directory:
            return 0040000;
        case EntryKind::Gitlink:
            return 0160000;
    }
    return 0100644;
}

bool entryKindFromGitMode(uint32_t mode, EntryKind& kind) {
    switch (mode) {
        case 0100644:
        case 0100664:  // written by very old Git versions; still read as a plain file
            kind = EntryKind::Regular;
            return true;
        case 0100755:
            kind = EntryKind::Executable;
            return true;
        case 0120000:
            kind = EntryKind::Symlink;
            return true;
        case 0040000:
            kind = EntryKind::Directory;
            return true;
        case 0160000:
            kind = EntryKind::Gitlink;
            return true;
        default:
            return false;
    }
}

}  // namespace megafuse::store
