// PartialClone: the on-disk cache of one Git server source — a bare blob:none clone at
// <cacheDir>/sources/<sanitized host+path>-<8 hex FNV-1a of the URL>.git (a contract: tests and
// tools find clones there) — and the git commands that keep it current.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "store/CloneProgress.hpp"
#include "store/ObjectId.hpp"

namespace megafuse::store {

// Where the clone of url lives (whether or not it exists yet).
std::filesystem::path partialClonePath(const std::filesystem::path& cacheDir,
                                       const std::string& url);

// Called on the cloning thread with git's progress as it reports it (CloneProgress.hpp).
using CloneProgressFn = std::function<void(const CloneProgressUpdate& update)>;

// Returns the clone's path, cloning first when it does not exist: `git clone --bare
// --filter=blob:none --progress` into a temp folder next to it (progress, when given, hears
// every update git prints: about one per percent), fetch refspecs for heads and tags, then an
// atomic rename. Serialized across processes by flock on <clone>.lock. Throws
// StoreError(BadSource) when the clone fails (with git's lines other than progress),
// StoreError(Timeout) after timeout.
std::filesystem::path ensurePartialClone(const std::filesystem::path& cacheDir,
                                         const std::string& url, std::chrono::milliseconds timeout,
                                         const CloneProgressFn& progress = {});

// Whether clone looks like a repository libgit2 and git can use: HEAD and objects/pack in place.
// False once the cache folder (or the clone in it) was deleted under a running daemon.
bool partialCloneUsable(const std::filesystem::path& clone);

// Makes the clone of url anew (same path, same blob:none filter) when it is not usable, under the
// same lock as ensurePartialClone: the remains are removed first. Returns false when it was
// usable once the lock was held (another process healed it first). Throws as ensurePartialClone.
bool recreatePartialClone(const std::filesystem::path& cacheDir, const std::string& url,
                          std::chrono::milliseconds timeout);

// `git fetch --prune origin` (branches and tags; the clone's filter keeps blobs out), under the
// clone's lock. Throws StoreError(FetchFailed | Timeout) with git's (redacted) message.
void fetchRefs(const std::filesystem::path& clone, std::chrono::milliseconds timeout);

// `git fetch origin <id>` for a commit no ref names (servers allow it with
// uploadpack.allowAnySHA1InWant). Throws StoreError(FetchFailed | Timeout).
void fetchCommitById(const std::filesystem::path& clone, const ObjectId& id,
                     std::chrono::milliseconds timeout);

}  // namespace megafuse::store
