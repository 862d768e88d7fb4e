// Libgit2: one-time global options; kept in one place because they affect every repository.
#include "store/Libgit2.hpp"

#include <mutex>

namespace megafuse::store {

namespace {
// libgit2 keeps one fd per open pack file, shared by every handle of the process; each fetch
// round adds a pack. This cap keeps the daemon far from the 20,000 open-file limit.
constexpr size_t kMaxOpenPackFiles = 128;
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
