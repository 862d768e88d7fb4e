// InodeNames: what the read-only and the writable inode tables share about names — the hash of a
// (parent, name) directory entry and an inode's mount-relative path for log lines.
#pragma once

#include <fuse_lowlevel.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace megafuse::fs {

// Hash of the directory entry name in parent. Inline: it runs on every lookup.
inline size_t hashChildKey(fuse_ino_t parent, std::string_view name) noexcept {
    return std::hash<std::string_view>{}(name) ^ (parent * 0x9e3779b97f4a7c15ULL);
}

// The mount-relative path of ino ("" for the root, "a/b" below it), "?" parts for inodes already
// forgotten. inodes maps an inode number to a record with parent and name; the caller holds the
// table's lock.
template <typename InodeMap>
std::string mountRelativePath(const InodeMap& inodes, fuse_ino_t ino) {
    std::string path;
    // Bounded by the depth of the tree: parents always exist while a child does.
    while (ino != FUSE_ROOT_ID) {
        auto it = inodes.find(ino);
        if (it == inodes.end()) {
            return path.insert(0, "?/");
        }
        if (!path.empty()) {
            path.insert(0, "/");
        }
        path.insert(0, it->second.name);
        ino = it->second.parent;
    }
    return path;
}

}  // namespace megafuse::fs
