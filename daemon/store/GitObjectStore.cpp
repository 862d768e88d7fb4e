// GitObjectStore: libgit2 reads, network only through PartialClone and BlobFetcher.
#include "store/GitObjectStore.hpp"

#include "common/Log.hpp"
#include "store/GitCli.hpp"
#include "store/GitObjectFormat.hpp"
#include "store/Libgit2.hpp"
#include "store/PartialClone.hpp"

namespace megafuse::store {
namespace {

// Blobs above this size are copied into the content cache by `git cat-file` (streamed), not
// through libgit2 (whole in memory): the daemon's memory stays bounded whatever the file size.
constexpr uint64_t kStreamedBlobBytes = 8ULL << 20U;

std::vector<std::string_view> splitPath(std::string_view path) {
    std::vector<std::string_view> parts;
    while (!path.empty()) {
        size_t slash = path.find('/');
        std::string_view part = path.substr(0, slash);
        if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return parts;
}

}  // namespace

GitObjectStore::GitObjectStore(const SourceSpec& source, StoreOptions options,
                               std::shared_ptr<ContentCache> contentCache,
                               std::shared_ptr<TreeCache> trees,
                               const CloneProgressFn& cloneProgress)
    : source_(source),
      options_(std::move(options)),
      displayName_(redactCredentials(source.location)),
      contentCache_(std::move(contentCache)),
      trees_(std::move(trees)) {
    ensureLibgit2();
    if (source_.kind == SourceSpec::Kind::LocalRepository) {
        repoPath_ = source_.location;
        pool_ = std::make_unique<RepositoryPool>(repoPath_, options_.repositoryHandles,
                                                 options_.recycleAfterFetches);
        return;
    }
    // A clone made here and now holds the server's refs as of now: the first resolve need not
    // ask again (a round trip of the same cost as a blob fetch, on every first mount).
    std::error_code ec;
    refsJustFetched_ =
        !std::filesystem::exists(partialClonePath(options_.cacheDir, source_.location), ec);
    repoPath_ = ensurePartialClone(options_.cacheDir, source_.location, options_.cloneTimeout,
                                   cloneProgress);
    pool_ = std::make_unique<RepositoryPool>(repoPath_, options_.repositoryHandles,
                                             options_.recycleAfterFetches);
    PackConsolidator::Options packOptions;
    packOptions.repository = repoPath_;
    packOptions.sourceName = displayName_;
    packOptions.maxPacks = options_.maxPacks;
    // A repack rewrites what the clone holds, like the local half of a first clone.
    packOptions.timeout = options_.cloneTimeout;
    consolidator_ = std::make_unique<PackConsolidator>(packOptions, [this] { pool_->reopen(); });
    BlobFetcher::Options fetchOptions;
    fetchOptions.repository = repoPath_;
    fetchOptions.sourceName = displayName_;
    fetchOptions.timeout = options_.fetchTimeout;
    fetchOptions.batchMaxObjects = options_.fetchBatchMaxObjects;
    fetchOptions.concurrency = options_.fetchConcurrency;
    fetcher_ = std::make_unique<BlobFetcher>(
        fetchOptions, [this](const ObjectId& id) { return localObjectSize(id); },
        [this] { objectsFetched(); });
}

GitObjectStore::~GitObjectStore() = default;

void GitObjectStore::objectsFetched() {
    pool_->objectsChanged();
    if (consolidator_) {
        consolidator_->packAdded();
    }
}

void GitObjectStore::waitForPackConsolidation() {
    if (consolidator_) {
        consolidator_->waitUntilIdle();
    }
}

uint64_t GitObjectStore::packConsolidations() const {
    return consolidator_ ? consolidator_->counters().consolidations : 0;
}

std::string GitObjectStore::describe() const {
    if (isRemote()) {
        return displayName_ + " (cache " + repoPath_.string() + ")";
    }
    return displayName_;
}

StoreStats GitObjectStore::stats() const {
    StoreStats s;
    if (fetcher_) {
        auto c = fetcher_->counters();
        s.objectsFetched = c.objects;
        s.bytesFetched = c.bytes;
        s.fetchBatches = c.rounds;
        s.fetchFailures = c.failures;
    }
    s.contentCacheHits = cacheHits_.load();
    s.contentCacheMisses = cacheMisses_.load();
    return s;
}

std::optional<GitObjectStore::LocalHeader> GitObjectStore::localHeader(const ObjectId& id) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(id);
    LocalHeader header;
    int rc = git_odb_read_header(&header.size, &header.type, lease.odb(), &oid);
    if (rc == GIT_ENOTFOUND) {
        return std::nullopt;
    }
    if (rc != 0) {
        throw StoreError(StoreErrc::Corrupt, gitErrorText("read header of " + id.hex()));
    }
    return header;
}

std::optional<uint64_t> GitObjectStore::localObjectSize(const ObjectId& id) {
    auto header = localHeader(id);
    if (!header) {
        return std::nullopt;
    }
    return header->size;
}

std::optional<uint64_t> GitObjectStore::localBlobSize(const ObjectId& id) {
    auto header = localHeader(id);
    if (!header) {
        return std::nullopt;
    }
    if (header->type != GIT_OBJECT_BLOB) {
        throw StoreError(StoreErrc::NotFound, "object " + id.hex() + " in " + displayName_ +
                                                  " is a " + git_object_type2string(header->type) +
                                                  ", not a blob");
    }
    return header->size;
}

void GitObjectStore::fetchMissing(const std::vector<ObjectId>& ids, const char* what) {
    if (!isRemote()) {
        throw StoreError(StoreErrc::NotFound, std::string(what) + " " + ids.front().hex() +
                                                  " not found in " + displayName_);
    }
    fetcher_->fetch(ids);
}

bool GitObjectStore::hasBlob(const ObjectId& id) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(id);
    // NO_REFRESH: a miss is the common case in a partial clone, and rescanning the pack folder
    // for each would make readdir slow; our own fetches refresh the handles.
    return git_odb_exists_ext(lease.odb(), &oid, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
}

uint64_t GitObjectStore::blobSizeOnce(const ObjectId& id) {
    if (auto size = localBlobSize(id)) {
        return *size;
    }
    fetchMissing({id}, "blob");
    if (auto size = localBlobSize(id)) {
        return *size;
    }
    throw StoreError(StoreErrc::FetchFailed,
                     "blob " + id.hex() + " still missing after a fetch from " + displayName_);
}

void GitObjectStore::prefetchBlobsOnce(const std::vector<ObjectId>& ids) {
    if (!isRemote()) {
        return;  // everything a local repository has is already local
    }
    std::vector<ObjectId> missing;
    for (const ObjectId& id : ids) {
        if (!hasBlob(id)) {
            missing.push_back(id);
        }
    }
    if (!missing.empty()) {
        fetcher_->fetch(missing);
    }
}

bool GitObjectStore::contentMatches(int fd, const ObjectId& id) {
    // The blob is not in this repository (the file came from another source sharing the
    // cache): hashing the file proves it without a round trip.
    git_oid actual;
    std::string procPath = "/proc/self/fd/" + std::to_string(fd);
    if (git_odb_hashfile(&actual, procPath.c_str(), GIT_OBJECT_BLOB) != 0) {
        return false;
    }
    git_oid expected = toGitOid(id);
    return git_oid_equal(&actual, &expected) != 0;
}

UniqueFd GitObjectStore::openBlobOnce(const ObjectId& id) {
    std::optional<uint64_t> localSize = localBlobSize(id);
    // A file this process wrote is trusted when its size is the blob's; any other file (left by
    // an earlier run, or when this repository lacks the blob to compare sizes) is hashed once.
    auto isValid = [&](int fd, uint64_t fileSize, bool checkBytes) {
        if (localSize && *localSize != fileSize) {
            return false;
        }
        return (localSize && !checkBytes) || contentMatches(fd, id);
    };
    if (!localSize) {
        if (UniqueFd cached = contentCache_->lookup(id, isValid)) {
            cacheHits_.fetch_add(1);
            return cached;
        }
        // Fetched here, not inside the cache's materialization, so readers of the same blob
        // wait on the fetcher (single-flight, bounded by fetchTimeout) and nowhere else.
        fetchMissing({id}, "blob");
        localSize = localBlobSize(id);
        if (!localSize) {
            throw StoreError(
                StoreErrc::FetchFailed,
                "blob " + id.hex() + " still missing after a fetch from " + displayName_);
        }
    }
    if (*localSize > kStreamedBlobBytes) {
        // libgit2 inflates a packed blob whole into memory (twice, with the pack's pages
        // mapped): git streams it straight into the cache file instead.
        auto opened = contentCache_->open(id, isValid, [&](int fd) {
            writeBlobWithGit(repoPath_, id, *localSize, fd, options_.fetchTimeout);
        });
        (opened.hit ? cacheHits_ : cacheMisses_).fetch_add(1);
        return std::move(opened.fd);
    }
    auto materialize = [&](const ContentCache::Sink& sink) {
        auto lease = pool_->acquire();
        git_oid oid = toGitOid(id);
        git_odb_object* raw = nullptr;
        int rc = git_odb_read(&raw, lease.odb(), &oid);
        GitOdbObjectPtr object(raw);
        if (rc == GIT_ENOTFOUND) {
            throw StoreError(isRemote() ? StoreErrc::FetchFailed : StoreErrc::NotFound,
                             "blob " + id.hex() + " missing from " + displayName_);
        }
        if (rc != 0) {
            throw StoreError(StoreErrc::Corrupt, gitErrorText("read blob " + id.hex()));
        }
        if (git_odb_object_type(object.get()) != GIT_OBJECT_BLOB) {
            throw StoreError(StoreErrc::NotFound, "object " + id.hex() + " is not a blob");
        }
        sink(git_odb_object_data(object.get()), git_odb_object_size(object.get()));
    };
    auto opened = contentCache_->open(id, isValid, materialize);
    (opened.hit ? cacheHits_ : cacheMisses_).fetch_add(1);
    return std::move(opened.fd);
}

std::string GitObjectStore::readBlobOnce(const ObjectId& id, size_t maxBytes) {
    uint64_t size = blobSize(id);  // fetches when missing
    if (size > maxBytes) {
        throw StoreError(StoreErrc::Corrupt, "blob " + id.hex() + " has " + std::to_string(size) +
                                                 " bytes, more than the " +
                                                 std::to_string(maxBytes) + " allowed here");
    }
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(id);
    git_odb_object* raw = nullptr;
    int rc = git_odb_read(&raw, lease.odb(), &oid);
    GitOdbObjectPtr object(raw);
    if (rc != 0) {
        throw StoreError(rc == GIT_ENOTFOUND ? StoreErrc::NotFound : StoreErrc::Corrupt,
                         gitErrorText("read blob " + id.hex()));
    }
    return {static_cast<const char*>(git_odb_object_data(object.get())),
            git_odb_object_size(object.get())};
}

std::shared_ptr<const Tree> GitObjectStore::parseTree(const ObjectId& id) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(id);
    git_tree* raw = nullptr;
    int rc = git_tree_lookup(&raw, lease.repo(), &oid);
    GitTreePtr tree(raw);
    if (rc == GIT_ENOTFOUND) {
        return nullptr;
    }
    if (rc != 0) {
        throw StoreError(StoreErrc::Corrupt, gitErrorText("read tree " + id.hex()));
    }
    size_t count = git_tree_entrycount(tree.get());
    std::vector<TreeEntry> entries;
    entries.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
        TreeEntry entry;
        if (!entryKindFromGitMode(git_tree_entry_filemode_raw(e), entry.kind)) {
            spdlog::warn(
                "tree {} in {}: entry '{}' has mode {:o}, which Git never writes; "
                "hidden",
                id.hex(), displayName_, git_tree_entry_name(e),
                static_cast<unsigned>(git_tree_entry_filemode_raw(e)));
            continue;
        }
        entry.name = git_tree_entry_name(e);
        if (!isEntryName(entry.name)) {
            // libgit2 reads such a tree as it is; shown, "." or "a/b" would name another place.
            spdlog::warn("tree {} in {}: entry '{}' is not a file name; hidden", id.hex(),
                         displayName_, entry.name);
            continue;
        }
        entry.id = fromGitOid(*git_tree_entry_id(e));
        entries.push_back(std::move(entry));
    }
    return std::make_shared<const Tree>(id, std::move(entries));
}

std::shared_ptr<const Tree> GitObjectStore::readTreeOnce(const ObjectId& id) {
    if (auto cached = trees_->get(id)) {
        return cached;
    }
    auto tree = parseTree(id);
    if (!tree && isRemote()) {
        // A blob:none clone has every tree; this covers a tree a later ref refresh announced
        // but did not bring, and keeps a treeless clone possible.
        fetcher_->fetch({id});
        tree = parseTree(id);
    }
    if (!tree) {
        throw StoreError(StoreErrc::NotFound, "tree " + id.hex() + " not found in " + displayName_);
    }
    trees_->put(tree);
    return tree;
}

std::optional<ObjectId> GitObjectStore::peelToCommit(const ObjectId& id) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(id);
    git_object* raw = nullptr;
    if (git_object_lookup(&raw, lease.repo(), &oid, GIT_OBJECT_ANY) != 0) {
        return std::nullopt;
    }
    GitObjectPtr object(raw);
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0) {
        return std::nullopt;
    }
    GitObjectPtr commit(peeled);
    return fromGitOid(*git_object_id(commit.get()));
}

std::optional<ObjectId> GitObjectStore::revparseToCommit(const std::string& revision) {
    auto lease = pool_->acquire();
    git_object* raw = nullptr;
    int rc = git_revparse_single(&raw, lease.repo(), revision.c_str());
    GitObjectPtr object(raw);
    if (rc == GIT_EAMBIGUOUS) {
        throw StoreError(StoreErrc::NotFound,
                         "ambiguous revision '" + revision + "' in " + displayName_);
    }
    if (rc != 0) {
        return std::nullopt;  // GIT_ENOTFOUND, GIT_EINVALIDSPEC: both read as unknown
    }
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0) {
        return std::nullopt;  // a tree or blob revision does not name a commit
    }
    GitObjectPtr commit(peeled);
    return fromGitOid(*git_object_id(commit.get()));
}

ObjectId GitObjectStore::resolveCommit(const std::string& revision) {
    const auto fullId = ObjectId::fromHex(revision);
    if (fullId) {
        if (auto commit = peelToCommit(*fullId)) {
            return *commit;  // immutable: no need to ask the server
        }
    }
    if (revision.empty()) {
        throw StoreError(StoreErrc::NotFound, "empty revision for " + displayName_);
    }
    if (isRemote() && !refsJustFetched_.exchange(false)) {
        try {
            fetchRefs(repoPath_, options_.fetchTimeout);
            objectsFetched();
        } catch (const StoreError& e) {
            spdlog::warn("{}: cannot refresh refs, resolving '{}' with the refs cached locally: {}",
                         displayName_, revision, e.what());
        }
    }
    if (auto commit = revparseToCommit(revision)) {
        return *commit;
    }
    if (isRemote() && fullId) {
        try {
            fetchCommitById(repoPath_, *fullId, options_.fetchTimeout);
            objectsFetched();
        } catch (const StoreError& e) {
            spdlog::warn("{}: {}", displayName_, e.what());
        }
        if (auto commit = peelToCommit(*fullId)) {
            return *commit;
        }
    }
    throw StoreError(StoreErrc::NotFound, "unknown revision '" + revision + "' in " + displayName_);
}

int64_t GitObjectStore::commitTime(const ObjectId& commitId) {
    auto lease = pool_->acquire();
    git_oid oid = toGitOid(commitId);
    git_commit* raw = nullptr;
    int rc = git_commit_lookup(&raw, lease.repo(), &oid);
    GitCommitPtr commit(raw);
    if (rc != 0) {
        throw StoreError(StoreErrc::NotFound,
                         "commit " + commitId.hex() + " not found in " + displayName_);
    }
    return static_cast<int64_t>(git_commit_time(commit.get()));
}

ObjectId GitObjectStore::treeAtPath(const ObjectId& commitId, std::string_view subPath) {
    ObjectId treeId;
    {
        auto lease = pool_->acquire();
        git_oid oid = toGitOid(commitId);
        git_commit* raw = nullptr;
        int rc = git_commit_lookup(&raw, lease.repo(), &oid);
        GitCommitPtr commit(raw);
        if (rc != 0) {
            throw StoreError(StoreErrc::NotFound,
                             "commit " + commitId.hex() + " not found in " + displayName_);
        }
        treeId = fromGitOid(*git_commit_tree_id(commit.get()));
    }
    const std::vector<std::string_view> parts = splitPath(subPath);
    std::string wanted;  // the path as asked for, normalized: every message names it whole
    for (std::string_view part : parts) {
        wanted += wanted.empty() ? "" : "/";
        wanted += part;
    }
    std::string walked;
    for (std::string_view part : parts) {
        walked += walked.empty() ? "" : "/";
        walked += part;
        auto tree = readTree(treeId);
        const TreeEntry* entry = part == ".." ? nullptr : tree->find(part);
        const std::string where =
            "path '" + wanted + "' in commit " + commitId.hex() + " of " + displayName_;
        if (entry == nullptr) {
            throw StoreError(StoreErrc::NotFound,
                             where + " does not exist" +
                                 (walked == wanted ? "" : " ('" + walked + "' is missing)"));
        }
        if (entry->kind != EntryKind::Directory) {
            throw StoreError(StoreErrc::NotFound,
                             where + " is not a directory" +
                                 (walked == wanted ? "" : " ('" + walked + "' is not one)"));
        }
        treeId = entry->id;
    }
    return treeId;
}

// Healing: the reads FUSE makes, each retried once after the clone was made anew. libgit2 keeps
// the deleted clone's packs open, so what was parsed before goes on working meanwhile; what
// needs the clone on disk (a fetch, `git cat-file`, a pack refresh) fails, and that failure is
// what sends us here.

template <typename Attempt>
auto GitObjectStore::withHealing(const Attempt& attempt) -> decltype(attempt()) {
    const uint64_t healsSeen = heals_.load();
    try {
        return attempt();
    } catch (const StoreError&) {
        if (!healClone(healsSeen)) {
            throw;
        }
    }
    return attempt();
}

bool GitObjectStore::healClone(uint64_t healsSeen) {
    if (!isRemote()) {
        return false;  // a local repository is the user's: never re-created behind their back
    }
    // A flag under a plain mutex rather than a timed_mutex: TSan (GCC 12) does not see
    // timed_mutex's pthread_mutex_clocklock and reports every unlock as foreign.
    std::unique_lock lock(healMutex_);
    if (!healDone_.wait_for(lock, options_.fetchTimeout, [&] { return !healing_; })) {
        return false;  // another reader heals and takes longer than a read may wait
    }
    if (heals_.load() != healsSeen) {
        return true;  // healed by another reader since this one started
    }
    if (partialCloneUsable(repoPath_)) {
        return false;  // the failure was something else: it stands
    }
    healing_ = true;
    lock.unlock();
    const auto finish = [&] {
        lock.lock();
        healing_ = false;
        healDone_.notify_all();
    };
    spdlog::warn(
        "{}: partial clone {} vanished (deleted under the running daemon); cloning it again",
        displayName_, repoPath_.string());
    try {
        recreatePartialClone(options_.cacheDir, source_.location, options_.cloneTimeout);
    } catch (const StoreError& e) {
        spdlog::error("{}: cannot clone {} again: {}", displayName_, repoPath_.string(), e.what());
        finish();
        return false;
    } catch (...) {
        finish();
        throw;
    }
    pool_->reopen();
    heals_.fetch_add(1);
    finish();
    spdlog::info("{}: partial clone {} made anew", displayName_, repoPath_.string());
    return true;
}

uint64_t GitObjectStore::blobSize(const ObjectId& id) {
    return withHealing([&] { return blobSizeOnce(id); });
}

void GitObjectStore::prefetchBlobs(const std::vector<ObjectId>& ids) {
    withHealing([&] { prefetchBlobsOnce(ids); });
}

UniqueFd GitObjectStore::openBlob(const ObjectId& id) {
    return withHealing([&] { return openBlobOnce(id); });
}

std::string GitObjectStore::readBlob(const ObjectId& id, size_t maxBytes) {
    return withHealing([&] { return readBlobOnce(id, maxBytes); });
}

std::shared_ptr<const Tree> GitObjectStore::readTree(const ObjectId& id) {
    return withHealing([&] { return readTreeOnce(id); });
}

}  // namespace megafuse::store
