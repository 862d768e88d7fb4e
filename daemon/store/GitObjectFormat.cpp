// GitObjectFormat: libgit2 does the hashing; the tree decoder is ours because the bytes are not
// in any object database libgit2 could parse them from.
#include "store/GitObjectFormat.hpp"

#include <string>

#include "store/Libgit2.hpp"
#include "store/StoreError.hpp"

namespace megafuse::store {
namespace {

ObjectId hashObject(std::string_view bytes, git_object_t type) {
    ensureLibgit2();
    git_oid oid;
    if (git_odb_hash(&oid, bytes.data(), bytes.size(), type) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("hash object"));
    }
    return fromGitOid(oid);
}

[[noreturn]] void corrupt(std::string_view what, size_t offset, const std::string& problem) {
    throw StoreError(StoreErrc::Corrupt, std::string(what) + ": not a Git tree object (" + problem +
                                             " at byte " + std::to_string(offset) + ")");
}

}  // namespace

ObjectId hashTreeObject(std::string_view bytes) {
    return hashObject(bytes, GIT_OBJECT_TREE);
}

ObjectId hashBlobObject(std::string_view bytes) {
    return hashObject(bytes, GIT_OBJECT_BLOB);
}

ObjectId hashBlobFile(int fd) {
    ensureLibgit2();
    git_oid oid;
    const std::string procPath = "/proc/self/fd/" + std::to_string(fd);
    if (git_odb_hashfile(&oid, procPath.c_str(), GIT_OBJECT_BLOB) != 0) {
        throw StoreError(StoreErrc::Io, gitErrorText("hash downloaded blob"));
    }
    return fromGitOid(oid);
}

bool isEntryName(std::string_view name) {
    return !name.empty() && name != "." && name != ".." &&
           name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

std::vector<TreeEntry> parseTreeObject(std::string_view bytes, std::string_view what,
                                       size_t* skipped) {
    std::vector<TreeEntry> entries;
    size_t pos = 0;
    while (pos < bytes.size()) {
        const size_t start = pos;
        uint32_t mode = 0;
        size_t digits = 0;
        while (pos < bytes.size() && bytes[pos] >= '0' && bytes[pos] <= '7' && digits < 7) {
            mode = mode * 8 + static_cast<uint32_t>(bytes[pos] - '0');
            ++pos;
            ++digits;
        }
        if (digits == 0 || pos >= bytes.size() || bytes[pos] != ' ') {
            corrupt(what, start, "bad mode");
        }
        ++pos;
        const size_t nul = bytes.find('\0', pos);
        if (nul == std::string_view::npos) {
            corrupt(what, pos, "name without its NUL");
        }
        std::string_view name = bytes.substr(pos, nul - pos);
        if (!isEntryName(name)) {
            corrupt(what, pos, "invalid name");
        }
        pos = nul + 1;
        if (bytes.size() - pos < ObjectId::kRawSize) {
            corrupt(what, pos, "truncated object id");
        }
        TreeEntry entry;
        entry.name = std::string(name);
        entry.id = ObjectId::fromRaw(reinterpret_cast<const uint8_t*>(bytes.data() + pos));
        pos += ObjectId::kRawSize;
        if (!entryKindFromGitMode(mode, entry.kind)) {
            if (skipped != nullptr) {
                ++*skipped;
            }
            continue;
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace megafuse::store
