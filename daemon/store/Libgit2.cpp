// Libgit2: one-time global options; kept in one place because they affect every repository.
#include "store/Libgit2.hpp"

#include <sys/types.h>

#include <mutex>

namespace megafuse::store {

namespace {
// libgit2 reads packs through mmap'ed windows (1 GiB each, up to 8 GiB mapped by default), and
// every page it touched counts in the daemon's RSS until the window is unmapped. Smaller windows
// under a cap keep reading every file of a large repository within the daemon's memory budget.
constexpr size_t kPackWindowBytes = 32U << 20U;

// The limits' defaults (StoreOptions) and why:
// - gitPackFilesMax (git_pack_files_max, 128): libgit2 keeps one fd per open pack file, shared by
//   every handle of the process; each fetch round adds a pack. 128 keeps the daemon far from the
//   20,000 open-file limit.
// - gitMappedPackMax (git_mapped_pack_max, 64 MiB): the cap on mmap'ed windows. The mapped pages
//   are file-backed but still count in VmRSS; 64 MiB leaves room under the 200 MB budget
//   (issue 2) for the heap and libraries.
// - gitObjectCacheBytes (git_object_cache_size, 16 MiB): libgit2's object cache (parsed commits
//   and trees of at most 4 KiB each) holds up to 256 MiB by default, counted over every handle
//   of the process; each pooled handle keeps its own copy of the same objects. Our TreeCache
//   already keeps the parsed trees the filesystem reads, so this cache only spares re-parsing of
//   commits and path walks.
void setLimits(const StoreOptions& options) {
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, options.gitPackFilesMax);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT,
                     static_cast<size_t>(options.gitMappedPackMax));
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, static_cast<ssize_t>(options.gitObjectCacheBytes));
}
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
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, kPackWindowBytes);
        setLimits(StoreOptions{});
    });
}

void applyLibgit2Limits(const StoreOptions& options) {
    ensureLibgit2();
    setLimits(options);
}

std::string gitErrorText(const std::string& what) {
    const git_error* error = git_error_last();
    if (error == nullptr || error->message == nullptr) {
        return what;
    }
    return what + ": " + error->message;
}

}  // namespace megafuse::store
