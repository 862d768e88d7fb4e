// UnifiedDiff: one changed path as `git diff` prints it — the "diff --git" header with its mode,
// rename and index lines, then libgit2's hunks — so `git apply` takes the result. Paths are
// quoted as Git quotes them (core.quotePath); binary content (a NUL in the first 8000 bytes, git's
// rule) is "Binary files a/x and b/x differ".
#pragma once

#include <string>

#include "changes/ChangeWalk.hpp"

namespace megafuse::changes {

// Appends the diff of one change to out. beforeBytes/afterBytes: the blobs' contents (ignored
// for a side the change does not have). A change between a file and a symlink (or gitlink) is a
// deletion followed by an addition, as Git prints it.
void appendUnifiedDiff(std::string& out, const RawChange& change, const std::string& beforeBytes,
                       const std::string& afterBytes);

// A path as Git shows it in a diff header: as is, or C-quoted when it holds control bytes, '"',
// '\\' or bytes >= 0x80.
std::string quotedPath(const std::string& prefix, const std::string& path);

}  // namespace megafuse::changes
