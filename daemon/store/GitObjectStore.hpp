// GitObjectStore: the ObjectStore of a Git repository read with libgit2 — a local repository in
// place, or a remote source through its bare partial clone, missing blobs fetched by BlobFetcher.
//
// Threads: any thread may call any method. libgit2 handles come from a RepositoryPool and are
// held only for local reads; network waits happen with no handle held. A remote source's
// fetcher runs its rounds on threads of its own, and its PackConsolidator repacks on another.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "store/BlobFetcher.hpp"
#include "store/ContentCache.hpp"
#include "store/ObjectStore.hpp"
#include "store/PackConsolidator.hpp"
#include "store/PartialClone.hpp"
#include "store/RepositoryPool.hpp"
#include "store/TreeCache.hpp"

namespace megafuse::store {

class GitObjectStore final : public ObjectStore {
public:
    // Opens a LocalRepository in place, or clones/opens the partial clone of a GitRemote
    // (cloneProgress hears a first clone's progress). Throws StoreError(BadSource | Timeout | Io).
    GitObjectStore(const SourceSpec& source, StoreOptions options,
                   std::shared_ptr<ContentCache> contentCache, std::shared_ptr<TreeCache> trees,
                   const CloneProgressFn& cloneProgress = {});
    ~GitObjectStore() override;

    ObjectId resolveCommit(const std::string& revision) override;
    ObjectId treeAtPath(const ObjectId& commit, std::string_view subPath) override;
    int64_t commitTime(const ObjectId& commit) override;
    std::shared_ptr<const Tree> readTree(const ObjectId& id) override;
    bool hasBlob(const ObjectId& id) override;
    uint64_t blobSize(const ObjectId& id) override;
    void prefetchBlobs(const std::vector<ObjectId>& ids) override;
    [[nodiscard]] bool fetchesInBatches() const override { return isRemote(); }
    UniqueFd openBlob(const ObjectId& id) override;
    std::string readBlob(const ObjectId& id, size_t maxBytes) override;
    [[nodiscard]] StoreStats stats() const override;
    [[nodiscard]] std::string describe() const override;

    // Writing (GitObjectWriter.cpp): into the repository libgit2 reads.
    ObjectId writeBlob(std::string_view bytes) override;
    ObjectId writeBlobFromFile(const std::filesystem::path& file) override;
    ObjectId writeTree(const std::vector<TreeEntry>& entries) override;
    ObjectId writeCommit(const NewCommit& commit) override;
    void updateRef(const std::string& ref, const ObjectId& commit,
                   const std::string& logMessage) override;
    PushOutcome push(const ObjectId& commit, const std::string& remoteRef,
                     std::chrono::milliseconds timeout) override;
    std::optional<GitSignature> configuredIdentity() override;

    // The repository libgit2 reads: the source itself, or the partial clone.
    [[nodiscard]] const std::filesystem::path& repositoryPath() const { return repoPath_; }

    // Returns once no pack consolidation is due or running (tests; at once for a local source).
    void waitForPackConsolidation();
    // Repacks of the partial clone so far (tests; 0 for a local source).
    [[nodiscard]] uint64_t packConsolidations() const;

private:
    [[nodiscard]] bool isRemote() const { return fetcher_ != nullptr; }
    // Size and type of an object in the local object database (never fetches); nullopt when it
    // is not there. The two size accessors below are this plus, for blobs, a type check.
    struct LocalHeader {
        size_t size = 0;
        git_object_t type = GIT_OBJECT_INVALID;
    };
    std::optional<LocalHeader> localHeader(const ObjectId& id);
    // Size of any object in the local object database; nullopt when it is not there.
    std::optional<uint64_t> localObjectSize(const ObjectId& id);
    // As above, and NotFound when the object is there but not a blob.
    std::optional<uint64_t> localBlobSize(const ObjectId& id);
    // Fetches ids (remote) or throws NotFound (local: nothing can bring them).
    void fetchMissing(const std::vector<ObjectId>& ids, const char* what);
    std::optional<ObjectId> peelToCommit(const ObjectId& id);
    std::optional<ObjectId> revparseToCommit(const std::string& revision);
    std::shared_ptr<const Tree> parseTree(const ObjectId& id);

    // The reads above, without healing (each public one is withHealing of its ...Once).
    uint64_t blobSizeOnce(const ObjectId& id);
    void prefetchBlobsOnce(const std::vector<ObjectId>& ids);
    UniqueFd openBlobOnce(const ObjectId& id);
    std::string readBlobOnce(const ObjectId& id, size_t maxBytes);
    std::shared_ptr<const Tree> readTreeOnce(const ObjectId& id);

    // Self-healing (issue 7): the partial clone deleted under a running daemon. Runs attempt;
    // when it throws a StoreError and the clone is no longer usable, clones it anew and runs
    // attempt once more (the retried read works; one that fails again reports its own error).
    template <typename Attempt>
    auto withHealing(const Attempt& attempt) -> decltype(attempt());
    // True when the clone was made anew since healsSeen (by this call or another thread) and
    // the failed read is worth retrying; false when the clone is fine or could not be healed.
    bool healClone(uint64_t healsSeen);
    bool contentMatches(int fd, const ObjectId& id);
    // A fetch may have added a pack: handles refresh, and the pack count is kept bounded.
    void objectsFetched();

    const SourceSpec source_;
    const StoreOptions options_;
    const std::string displayName_;  // credentials redacted
    const std::shared_ptr<ContentCache> contentCache_;
    const std::shared_ptr<TreeCache> trees_;
    std::filesystem::path repoPath_;
    std::unique_ptr<RepositoryPool> pool_;
    // Remote sources only; destroyed after fetcher_ (whose rounds report packs to it) and
    // before pool_ (which it reopens after a repack).
    std::unique_ptr<PackConsolidator> consolidator_;
    std::unique_ptr<BlobFetcher> fetcher_;  // remote sources only; destroyed before pool_

    // Serializes healing within the store (the clone's FileLock serializes it between
    // processes): one reader heals with healing_ set, outside the mutex; the others wait on
    // healDone_ and give up after fetchTimeout (EIO), as a read would. Lock order: a leaf,
    // taken with no pool lease held.
    std::mutex healMutex_;
    std::condition_variable healDone_;  // healing_ went false
    bool healing_ = false;              // a reader is cloning anew (under healMutex_)
    std::atomic<uint64_t> heals_{0};    // times the clone was made anew under this store

    std::atomic<bool> refsJustFetched_{false};  // the clone was made by this store's constructor
    std::atomic<uint64_t> cacheHits_{0};
    std::atomic<uint64_t> cacheMisses_{0};
};

}  // namespace megafuse::store
