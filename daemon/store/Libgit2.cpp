// Libgit2: one-time global options; kept in one place because they affect every repository.
#include "store/Libgit2.hpp"

#include <sys/types.h>

#include <mutex>

namespace megafuse::store {

namespace {
// libgit2 keeps one fd per open pack file, shared by every handle of the process; each fetch
// round adds a pack. This cap keeps the daemon far from the 20,000 open-file limit.
constexpr size_t kMaxOpenPackFiles = 128;
// libgit2 reads packs through mmap'ed windows (1 GiB each, up to 8 GiB mapped by default), and
// every page it touched counts in the daemon's RSS until the window is unmapped. Smaller windows
// under a cap keep reading every file of a large repository within the daemon's memory budget.
constexpr size_t kPackWindowBytes = 32U << 20U;
// Proposed config key: pack_mapped_limit. The mapped pages are file-backed but still count in
// VmRSS; 64 MiB leaves room under the 200 MB budget (issue 2) for the heap and libraries.
constexpr size_t kMaxMappedPackBytes = 64U << 20U;
// libgit2's object cache (parsed commits and trees of at most 4 KiB each) holds up to 256 MiB by
// default, counted over every handle of the process; each pooled handle keeps its own copy of
// the same objects. Our TreeCache already keeps the parsed trees the filesystem reads, so this
// cache only spares re-parsing of commits and path walks. Proposed config key:
// object_cache_size.
constexpr ssize_t kObjectCacheBytes = 16 << 20;
}  // namespace

void ensureLibgit2() {
    static std::once_flag once;
    std::call_once(once, [] {
        git_libgit2_init();  // never shut down: the store lives as long as the process
        // A blob:none clone has repositoryformatversion 1 + extensions.partialclone; libgit2
        // reads it fine (missing blobs read as GIT_ENOTFOUND) once told the extension is known.
        // worktreeConfig / preciousObjects only matter to writers, and we only read.
        const char* extensions[] = {"partialclone", "worktreeconfig", "preciousobjects"};
        git_libgit2_opts(GIT_OPT_SET_EXTENSIONS, extensions,
                         sizeof extensions / sizeof *extensions);
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, kMaxOpenPackFiles);
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, kPackWindowBytes);
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, kMaxMappedPackBytes);
        git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, kObjectCacheBytes);
    });
}

std::string gitErrorText(const std::string& what) {
    const git_error* error = git_error_last();
    if (error == nullptr || error->message == nullptr) {
        return what;
    }
    return what + ": " + error->message;
}

}  // namespace megafuse::store
