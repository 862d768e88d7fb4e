// Libgit2: process-wide libgit2 setup and RAII owners for the libgit2 objects the store uses, so
// no code path frees a git_* object by hand.
#pragma once

#include <git2.h>

#include <memory>
#include <string>

#include "store/ObjectId.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {

// Initializes libgit2 once per process (idempotent, thread-safe): allows the partialclone
// extension (libgit2 refuses such repositories otherwise) and bounds open pack files.
void ensureLibgit2();

// Sets libgit2's process-wide limits (open pack files, mmap'ed pack bytes, object cache) from
// options, after ensureLibgit2(). The StoreRegistry calls it when made: once, at the daemon's
// start, so a reload cannot change them (docs/config.md).
void applyLibgit2Limits(const StoreOptions& options);

// "what failed: libgit2's last error message" for exceptions and logs.
std::string gitErrorText(const std::string& what);

template <typename T, void (*Free)(T*)>
struct GitDeleter {
    void operator()(T* p) const noexcept { Free(p); }
};

using GitRepositoryPtr =
    std::unique_ptr<git_repository, GitDeleter<git_repository, git_repository_free>>;
using GitOdbPtr = std::unique_ptr<git_odb, GitDeleter<git_odb, git_odb_free>>;
using GitOdbObjectPtr =
    std::unique_ptr<git_odb_object, GitDeleter<git_odb_object, git_odb_object_free>>;
using GitObjectPtr = std::unique_ptr<git_object, GitDeleter<git_object, git_object_free>>;
using GitCommitPtr = std::unique_ptr<git_commit, GitDeleter<git_commit, git_commit_free>>;
using GitTreePtr = std::unique_ptr<git_tree, GitDeleter<git_tree, git_tree_free>>;
using GitTreeEntryPtr =
    std::unique_ptr<git_tree_entry, GitDeleter<git_tree_entry, git_tree_entry_free>>;

inline git_oid toGitOid(const ObjectId& id) {
    git_oid oid;
    git_oid_fromraw(&oid, id.raw().data());
    return oid;
}

inline ObjectId fromGitOid(const git_oid& oid) {
    return ObjectId::fromRaw(oid.id);
}

}  // namespace megafuse::store
