// Tree: one parsed Git tree (a directory of one revision). Immutable once built and shared
// between threads through std::shared_ptr<const Tree>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/ObjectId.hpp"

namespace megafuse::store {

// Git's five entry modes, and what the filesystem shows for each.
enum class EntryKind : uint8_t {
    Regular,     // 100644: file, 0644
    Executable,  // 100755: file, 0755
    Symlink,     // 120000: symlink, blob holds the target
    Directory,   // 040000: directory, id names a tree
    Gitlink,     // 160000: submodule commit: shown as an empty directory
};

struct TreeEntry {
    std::string name;  // any bytes but '/' and NUL, as Git stores them
    ObjectId id;
    EntryKind kind = EntryKind::Regular;

    [[nodiscard]] bool isDirectory() const {
        return kind == EntryKind::Directory || kind == EntryKind::Gitlink;
    }
    [[nodiscard]] bool isBlob() const { return !isDirectory(); }
};

class Tree {
public:
    // Sorts entries by plain byte order of name so find() can bisect (Git's own order sorts
    // directories as "name/", which is not what a lookup by name needs).
    Tree(const ObjectId& id, std::vector<TreeEntry> entries);

    [[nodiscard]] const ObjectId& id() const { return id_; }
    [[nodiscard]] const std::vector<TreeEntry>& entries() const { return entries_; }
    [[nodiscard]] const TreeEntry* find(std::string_view name) const;
    // Approximate heap bytes, for the tree cache's byte budget.
    [[nodiscard]] size_t memoryBytes() const { return memoryBytes_; }

private:
    ObjectId id_;
    std::vector<TreeEntry> entries_;
    size_t memoryBytes_ = 0;
};

// EntryKind from a Git file mode (0100644 …); nullopt-like false for modes Git never writes.
bool entryKindFromGitMode(uint32_t mode, EntryKind& kind);
// The Git file mode Git writes for kind (0100644, 0100755, 0120000, 040000, 0160000).
uint32_t gitModeOf(EntryKind kind);

}  // namespace megafuse::store
