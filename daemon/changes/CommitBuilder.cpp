// CommitBuilder: a post-order walk of materialized directories writing one tree per directory.
#include "changes/CommitBuilder.hpp"

#include "changes/ChangeSet.hpp"

namespace megafuse::changes {

using overlay::NodeType;
using store::EntryKind;
using store::TreeEntry;

std::vector<std::string> splitPath(const std::string& path) {
    std::vector<std::string> parts;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t slash = path.find('/', pos);
        if (slash == std::string::npos) {
            slash = path.size();
        }
        std::string part = path.substr(pos, slash - pos);
        if (!part.empty() && part != ".") {
            parts.push_back(std::move(part));
        }
        pos = slash + 1;
    }
    return parts;
}

std::optional<store::ObjectId> CommitBuilder::directoryTree(overlay::NodeId dir) {
    std::vector<TreeEntry> entries;
    for (const auto& entry : overlay_.list(dir)) {
        if (entry.isBase()) {
            entries.push_back(TreeEntry{entry.name, entry.baseId, entry.baseKind});
            continue;
        }
        const overlay::NodeAttributes attributes = overlay_.attributes(entry.node);
        switch (attributes.type) {
            case NodeType::Directory:
                if (auto tree = directoryTree(entry.node)) {
                    entries.push_back(TreeEntry{entry.name, *tree, EntryKind::Directory});
                }
                break;
            case NodeType::File: {
                const EntryKind kind = (attributes.permissions & 0100U) != 0 ? EntryKind::Executable
                                                                             : EntryKind::Regular;
                entries.push_back(TreeEntry{
                    entry.name, store_.writeBlobFromFile(overlay_.contentPath(entry.node)), kind});
                break;
            }
            case NodeType::Symlink:
                entries.push_back(TreeEntry{entry.name, store_.writeBlob(attributes.symlinkTarget),
                                            EntryKind::Symlink});
                break;
            case NodeType::Fifo:
                break;  // Git has no fifos
        }
    }
    if (entries.empty()) {
        return std::nullopt;
    }
    return store_.writeTree(entries);
}

store::ObjectId CommitBuilder::graft(const store::ObjectId& baseRootTree,
                                     const std::string& subPath, const store::ObjectId& subtree) {
    const std::vector<std::string> parts = splitPath(subPath);
    if (parts.empty()) {
        return subtree;
    }
    return graftBelow(baseRootTree, parts, 0, subtree);
}

store::ObjectId CommitBuilder::graftBelow(const store::ObjectId& tree,
                                          const std::vector<std::string>& parts, size_t index,
                                          const store::ObjectId& subtree) {
    std::vector<TreeEntry> entries = store_.readTree(tree)->entries();
    for (auto& entry : entries) {
        if (entry.name != parts[index]) {
            continue;
        }
        if (entry.kind != EntryKind::Directory) {
            throw ChangeSetError(ChangeSetErrc::Failed,
                                 "the mount's path '" + entry.name + "' is not a directory");
        }
        entry.id =
            index + 1 == parts.size() ? subtree : graftBelow(entry.id, parts, index + 1, subtree);
        return store_.writeTree(entries);
    }
    throw ChangeSetError(ChangeSetErrc::NotFound,
                         "the mount's path component '" + parts[index] + "' is missing");
}

}  // namespace megafuse::changes
