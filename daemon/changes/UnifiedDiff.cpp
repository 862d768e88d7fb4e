// UnifiedDiff: headers written here in git's order (builtin_diff + fill_metainfo), hunks from
// git_patch_from_buffers (libgit2's xdiff, the same algorithm and context as git's).
#include "changes/UnifiedDiff.hpp"

#include <git2.h>

#include <memory>
#include <string_view>

#include "changes/ChangeSet.hpp"
#include "common/GitText.hpp"
#include "store/Libgit2.hpp"

namespace megafuse::changes {
namespace {

using store::EntryKind;
using GitPatchPtr = std::unique_ptr<git_patch, store::GitDeleter<git_patch, git_patch_free>>;

constexpr size_t kAbbrev = 7;
constexpr size_t kBinaryProbeBytes = 8000;  // git's buffer_is_binary window

std::string abbrev(const std::optional<Leaf>& leaf) {
    return leaf ? leaf->id.hex().substr(0, kAbbrev) : std::string(kAbbrev, '0');
}

bool isBinary(const std::string& bytes) {
    return std::string_view(bytes).substr(0, kBinaryProbeBytes).find('\0') !=
           std::string_view::npos;
}

// Text kinds: a file's bytes; a symlink's target; a gitlink as "Subproject commit <id>".
bool isFileLike(EntryKind kind) {
    return kind == EntryKind::Regular || kind == EntryKind::Executable;
}

std::string contentOf(const Leaf& leaf, const std::string& bytes) {
    if (leaf.kind == EntryKind::Gitlink) {
        return "Subproject commit " + leaf.id.hex() + "\n";
    }
    return bytes;
}

void appendHunks(std::string& out, const std::string& before, const std::string& after,
                 const std::string& oldLabel, const std::string& newLabel) {
    if (isBinary(before) || isBinary(after)) {
        out += "Binary files " + oldLabel + " and " + newLabel + " differ\n";
        return;
    }
    git_diff_options options = GIT_DIFF_OPTIONS_INIT;
    options.context_lines = 3;
    options.flags = GIT_DIFF_FORCE_TEXT;
    git_patch* raw = nullptr;
    if (git_patch_from_buffers(&raw, before.data(), before.size(), nullptr, after.data(),
                               after.size(), nullptr, &options) != 0) {
        throw ChangeSetError(ChangeSetErrc::Failed, store::gitErrorText("diff " + newLabel));
    }
    GitPatchPtr patch(raw);
    const size_t hunks = git_patch_num_hunks(patch.get());
    if (hunks == 0) {
        return;
    }
    out += "--- " + oldLabel + "\n";
    out += "+++ " + newLabel + "\n";
    for (size_t h = 0; h < hunks; ++h) {
        const git_diff_hunk* hunk = nullptr;
        size_t lines = 0;
        if (git_patch_get_hunk(&hunk, &lines, patch.get(), h) != 0) {
            throw ChangeSetError(ChangeSetErrc::Failed, store::gitErrorText("diff " + newLabel));
        }
        out.append(hunk->header, hunk->header_len);
        for (size_t l = 0; l < lines; ++l) {
            const git_diff_line* line = nullptr;
            if (git_patch_get_line_in_hunk(&line, patch.get(), h, l) != 0) {
                throw ChangeSetError(ChangeSetErrc::Failed,
                                     store::gitErrorText("diff " + newLabel));
            }
            switch (line->origin) {
                case GIT_DIFF_LINE_CONTEXT:
                case GIT_DIFF_LINE_ADDITION:
                case GIT_DIFF_LINE_DELETION:
                    out += line->origin;
                    out.append(line->content, line->content_len);
                    if (line->content_len == 0 || line->content[line->content_len - 1] != '\n') {
                        out += '\n';  // the marker line below follows on its own line
                    }
                    break;
                case GIT_DIFF_LINE_CONTEXT_EOFNL:
                case GIT_DIFF_LINE_ADD_EOFNL:
                case GIT_DIFF_LINE_DEL_EOFNL:
                    out += "\\ No newline at end of file\n";
                    break;
                default:
                    break;
            }
        }
    }
}

void appendOne(std::string& out, const std::string& oldPath, const std::string& newPath,
               const std::optional<Leaf>& before, const std::optional<Leaf>& after,
               const std::string& beforeBytes, const std::string& afterBytes) {
    out += "diff --git " + quotedPath("a/", oldPath) + " " + quotedPath("b/", newPath) + "\n";
    const bool renamed = before && after && oldPath != newPath;
    if (!before) {
        out += "new file mode " + gitModeString(after->kind) + "\n";
    } else if (!after) {
        out += "deleted file mode " + gitModeString(before->kind) + "\n";
    } else if (before->kind != after->kind) {
        out += "old mode " + gitModeString(before->kind) + "\n";
        out += "new mode " + gitModeString(after->kind) + "\n";
    }
    if (renamed) {
        out += "similarity index 100%\n";  // renames are exact: pairRenames pairs equal ids
        out += "rename from " + quotedPath("", oldPath) + "\n";
        out += "rename to " + quotedPath("", newPath) + "\n";
    }
    const bool sameId = before && after && before->id == after->id;
    if (sameId) {
        return;  // a mode change or a pure rename: no index line, no hunks
    }
    out += "index " + abbrev(before) + ".." + abbrev(after);
    if (before && after && before->kind == after->kind) {
        out += " " + gitModeString(after->kind);
    }
    out += "\n";
    const std::string oldText = before ? contentOf(*before, beforeBytes) : std::string();
    const std::string newText = after ? contentOf(*after, afterBytes) : std::string();
    appendHunks(out, oldText, newText, before ? quotedPath("a/", oldPath) : "/dev/null",
                after ? quotedPath("b/", newPath) : "/dev/null");
}

}  // namespace

std::string quotedPath(const std::string& prefix, const std::string& path) {
    return quoteGitPath(prefix + path, NonAscii::Octal);
}

void appendUnifiedDiff(std::string& out, const RawChange& change, const std::string& beforeBytes,
                       const std::string& afterBytes) {
    const std::string& oldPath = change.oldPath.empty() ? change.path : change.oldPath;
    const auto& before = change.before;
    const auto& after = change.after;
    // Git shows a change of type (file ↔ symlink ↔ gitlink) as a deletion and an addition.
    if (before && after && isFileLike(before->kind) != isFileLike(after->kind)) {
        appendOne(out, oldPath, oldPath, before, std::nullopt, beforeBytes, "");
        appendOne(out, change.path, change.path, std::nullopt, after, "", afterBytes);
        return;
    }
    appendOne(out, oldPath, change.path, before, after, beforeBytes, afterBytes);
}

}  // namespace megafuse::changes
