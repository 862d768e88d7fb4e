// MegaObjectStore: the ObjectStore of one path of a Mega monorepo, spoken to over Mega's REST API
// (what its own FUSE client, Scorpio, uses): one directory's raw Git tree per request, blobs by
// id, nothing cloned. Trees go into the shared TreeCache and blobs into the shared ContentCache,
// both keyed by object id, so content a Git source already brought is never fetched again.
//
// Mega serves trees by path, but ObjectStore reads them by id: each tree read records the path
// of every subdirectory it names (a bounded map), and readTree(id) asks for that path with
// `oid=<id>`. Every tree's and blob's bytes are hashed and must equal the id they were asked for.
//
// Threads: any thread may call any method. Concurrent requests for one tree or blob share one
// HTTP request (single flight); at most fetchConcurrency requests run at once.
#pragma once

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "store/ContentCache.hpp"
#include "store/HttpClient.hpp"
#include "store/ObjectStore.hpp"
#include "store/TreeCache.hpp"

namespace megafuse::store {

// The bearer token in a token file: the file must be a regular file with no permissions for
// group or others (0600 or 0400), else StoreError(BadSource) naming the file and its mode. The
// token is the first line without surrounding whitespace; an empty token is an error too.
std::string readTokenFile(const std::filesystem::path& file);

class MegaObjectStore final : public ObjectStore {
public:
    // Reads the token file (if any); does not contact the server. Throws StoreError(BadSource).
    MegaObjectStore(const SourceSpec& source, const StoreOptions& options,
                    std::shared_ptr<ContentCache> contentCache, std::shared_ptr<TreeCache> trees);
    ~MegaObjectStore() override;

    // "HEAD" or "": the latest commit of the path (latest-commit). A full commit id is accepted
    // only while it is that latest commit: Mega's API serves trees of the latest commit by path.
    ObjectId resolveCommit(const std::string& revision) override;
    // The tree at the mount's Mega path + subPath, of the latest commit (see resolveCommit).
    ObjectId treeAtPath(const ObjectId& commit, std::string_view subPath) override;
    int64_t commitTime(const ObjectId& commit) override;
    std::shared_ptr<const Tree> readTree(const ObjectId& id) override;
    bool hasBlob(const ObjectId& id) override;
    uint64_t blobSize(const ObjectId& id) override;
    void prefetchBlobs(const std::vector<ObjectId>& ids) override;
    UniqueFd openBlob(const ObjectId& id) override;
    std::string readBlob(const ObjectId& id, size_t maxBytes) override;
    [[nodiscard]] StoreStats stats() const override;
    [[nodiscard]] std::string describe() const override;
    // dir-hash of the mounted directory (latest-commit for the monorepo's root, which has no
    // parent to list it); only when that differs from shown: latest-commit, then the directory's
    // tree by path (verified, cached, its subdirectories' paths recorded for readTree).
    std::optional<ObjectId> changedTree(std::string_view subPath, const ObjectId& shown) override;

    // Writing (MegaObjectWriter.cpp): into a local bare repository of this source in the cache
    // (made on first use), read back from there before anything is asked of the server.
    ObjectId writeBlob(std::string_view bytes) override;
    ObjectId writeBlobFromFile(const std::filesystem::path& file) override;
    ObjectId writeTree(const std::vector<TreeEntry>& entries) override;
    // Written as raw bytes: the parent (the served commit) is not local until push fetches it.
    ObjectId writeCommit(const NewCommit& commit) override;
    void updateRef(const std::string& ref, const ObjectId& commit,
                   const std::string& logMessage) override;
    // `git push {base}{path}.git <commit>:<remoteRef>`, after a shallow tree-less fetch of the
    // base commit and copying the base trees of every changed directory into the local
    // repository, so only new objects are sent. The token goes to git in its environment.
    PushOutcome push(const ObjectId& commit, const std::string& remoteRef,
                     std::chrono::milliseconds timeout) override;
    std::optional<GitSignature> configuredIdentity() override;

    // Where written objects live: <cacheDir>/mega-objects/sources/<host+path>-<hash>.git.
    [[nodiscard]] const std::filesystem::path& localRepositoryPath() const { return localPath_; }

    // The `dir-hash` of a directory below the mount path ("" = the mount path itself): Mega's
    // id of that directory's tree, which changes when anything below it changes. Refresh polls
    // it. nullopt when the server lists no such entry.
    std::optional<ObjectId> directoryHash(std::string_view subPath);

private:
    struct Flights;

    [[nodiscard]] std::string fullPath(std::string_view subPath) const;
    std::shared_ptr<const Tree> fetchTree(const std::string& path,
                                          const std::optional<ObjectId>& expected);
    void rememberPaths(const Tree& tree, const std::string& path);
    std::optional<std::string> pathOf(const ObjectId& treeId);
    void fetchBlobIntoCache(const ObjectId& id);
    void downloadBlob(const ObjectId& id);
    std::optional<uint64_t> knownSize(const ObjectId& id);
    void rememberSize(const ObjectId& id, uint64_t size);
    ContentCache::Validator validatorFor(const ObjectId& id);
    // The body of a GET answered 200 (JSON listings), token-free; NotFound on 404, FetchFailed
    // otherwise.
    std::string getBody(const std::string& url, const std::string& what);
    ObjectId fetchLatestCommit();

    // The local repository's store; nullptr when it does not exist and create is false.
    std::shared_ptr<ObjectStore> localStore(bool create);
    // A commit written here (not one served by Mega): its tree and time come from the local
    // repository.
    bool isLocalCommit(const ObjectId& commit);
    // Push helpers (MegaObjectWriter.cpp).
    [[nodiscard]] std::string pushUrl() const;
    [[nodiscard]] std::map<std::string, std::string> gitEnvironment() const;
    void copyBaseTrees(const ObjectId& newTree, const ObjectId& baseTree, int depth);
    void ensureTreeLocal(const ObjectId& id);

    const SourceSpec source_;
    const StoreOptions options_;
    const std::string displayName_;  // "http://host:8000 (path /a/b)"; never the token
    const std::shared_ptr<ContentCache> contentCache_;
    const std::shared_ptr<TreeCache> trees_;
    const std::filesystem::path downloadDir_;  // unnamed temp files of blobs being verified
    const size_t maxKnownEntries_;             // bound of pathOf_ and sizes_ each
    std::unique_ptr<HttpClient> http_;
    std::string bearerToken_;  // for git's HTTP requests too (push); never logged
    const std::filesystem::path localPath_;
    std::unique_ptr<Flights> flights_;

    // Lock order: a leaf; never held during a request.
    std::mutex mutex_;
    // Tree id → the path it was found at; oldest forgotten first beyond maxKnownEntries_.
    std::unordered_map<ObjectId, std::string, ObjectIdHash> pathOf_;
    std::deque<ObjectId> pathOrder_;
    // Blob id → size (HEAD or download); cleared whole when it reaches maxKnownEntries_.
    std::unordered_map<ObjectId, uint64_t, ObjectIdHash> sizes_;
    // Commit id → committer time from latest-commit (bounded like sizes_).
    std::map<ObjectId, int64_t> commitTimes_;
    std::optional<ObjectId> latestCommit_;

    // Lock order: localMutex_ before nothing; pushMutex_ before localMutex_ (push writes trees).
    std::mutex localMutex_;
    std::shared_ptr<ObjectStore> local_;  // a GitObjectStore over localPath_, once it exists
    std::mutex pushMutex_;                // one push (fetch, copy, git push) at a time

    std::atomic<uint64_t> objectsFetched_{0};
    std::atomic<uint64_t> bytesFetched_{0};
    std::atomic<uint64_t> fetchFailures_{0};
    std::atomic<uint64_t> cacheHits_{0};
    std::atomic<uint64_t> cacheMisses_{0};
};

}  // namespace megafuse::store
