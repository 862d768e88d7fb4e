// GitObjectFormat: Git's object encoding for bytes that arrive from a server rather than from a
// local object database (Mega's raw tree objects, blob bodies): parse them, name them by hash.
// Anything that does not decode is StoreError(Corrupt), never a half-read tree.
#pragma once

#include <string_view>
#include <vector>

#include "store/ObjectId.hpp"
#include "store/Tree.hpp"

namespace megafuse::store {

// Git's object id of a tree or blob with these contents ("tree <n>\0" / "blob <n>\0" + bytes).
ObjectId hashTreeObject(std::string_view bytes);
ObjectId hashBlobObject(std::string_view bytes);
// The blob id of a file's bytes (streamed by libgit2, never read whole); fd stays open.
// Throws StoreError(Io) when it cannot be read.
ObjectId hashBlobFile(int fd);

// True for a name a tree entry may have: one path component, so nothing built from it can name
// a place outside its directory. Git never writes others; a hostile repository or server can.
bool isEntryName(std::string_view name);

// The entries of a raw tree object: repeated "<octal mode> <name>\0<20-byte id>". Throws
// StoreError(Corrupt) naming `what` for a truncated or malformed object (bad mode digits, empty
// name, a name with '/', ".", "..", a missing id). Entries with a mode Git never writes are
// dropped (as GitObjectStore does) and counted in *skipped when given.
std::vector<TreeEntry> parseTreeObject(std::string_view bytes, std::string_view what,
                                       size_t* skipped = nullptr);

}  // namespace megafuse::store
