// ObjectStore: Git trees and blobs by id, whatever the source (a local repository, a partial
// clone of a Git server, later Mega's HTTP API). The filesystem sees only this interface.
//
// Thread-safety: every method may be called from any FUSE worker thread at once.
// Blocking: readTree/blobSize/openBlob may fetch over the network; they return or throw within
// StoreOptions::fetchTimeout, never hang. Concurrent requests for one object share one fetch.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/UniqueFd.hpp"
#include "store/CloneProgress.hpp"
#include "store/ObjectId.hpp"
#include "store/StoreError.hpp"
#include "store/Tree.hpp"

namespace megafuse::store {

// Every fetch round leaves one pack file in a source's partial clone, which runs no git
// maintenance of its own; each pack costs libgit2 an index map and per-pack structures, and an
// object lookup that misses scans every pack's index. When a clone holds more packs than this
// after a round, PackConsolidator repacks them into one in the background (git's own
// gc.autoPackLimit is 50 too). 0 = never. YAML key: repository_max_packs.
inline constexpr size_t kMaxPacksPerClone = 50;

// libgit2 keeps, per pack file, a cache of inflated delta bases (up to 16 MiB each, fixed at
// libgit2's build) for as long as any handle of the process has that pack open. A partial clone
// gains a pack with every fetch round, so the caches of packs nobody reads any more add up
// (reading the linux corpus: ~100 KiB per pack, a pack per ~70 files, 40 MiB at a third of it).
// After this many fetch rounds (RepositoryPool::objectsChanged) a source's pool closes all its
// handles and opens fresh ones, which frees those caches with the packs; the bound is then this
// many packs' caches plus those of the packs read since. 0 = never. YAML:
// repository_recycle_after_fetches.
inline constexpr uint64_t kRecycleAfterObjectChanges = 32;

// Bounds and knobs; every one is a YAML setting (config reference in docs/config.md).
struct StoreOptions {
    std::filesystem::path cacheDir;                   // partial clones + content cache live here
    uint64_t contentCacheBytes = 10ULL << 30U;        // on-disk blob cache budget (LRU)
    uint64_t treeCacheBytes = 64ULL << 20U;           // in-memory parsed-tree budget (LRU)
    std::chrono::milliseconds fetchTimeout{30'000};   // one fetch round trip, at most
    size_t fetchBatchMaxObjects = 4096;               // ids per `git fetch --stdin`
    size_t fetchConcurrency = 2;                      // fetch processes at once per source
    std::chrono::milliseconds cloneTimeout{600'000};  // first clone of a source, at most
    size_t repositoryHandles = 4;                     // libgit2 handles per source (readers
                                                      // beyond this wait for a free one)
    size_t maxPacks = kMaxPacksPerClone;              // packs per partial clone before
                                                      // they are consolidated into one
    uint64_t recycleAfterFetches = kRecycleAfterObjectChanges;  // see there
    // libgit2's limits are process-wide: applied by the StoreRegistry when it is made (once, at
    // the daemon's start); why each default, in Libgit2.cpp.
    size_t gitPackFilesMax = 128;                 // pack files open at once
    uint64_t gitMappedPackMax = 64ULL << 20U;     // bytes of packs mmap'ed at once
    uint64_t gitObjectCacheBytes = 16ULL << 20U;  // libgit2's parsed commits and trees
};

// Counters for status/stats; monotonic since the store was opened.
struct StoreStats {
    uint64_t objectsFetched = 0;  // blobs (and trees) brought over the network
    uint64_t bytesFetched = 0;    // their sizes
    uint64_t fetchBatches = 0;    // round trips (git fetch processes) run
    uint64_t fetchFailures = 0;
    uint64_t contentCacheHits = 0;    // openBlob served from the content cache
    uint64_t contentCacheMisses = 0;  // openBlob had to materialize the blob
};

// Who made a commit, and when (seconds since the epoch, the zone as minutes east of UTC).
struct GitSignature {
    std::string name;
    std::string email;
    int64_t time = 0;
    int offsetMinutes = 0;
};

// A commit to write: writable mounts commit the overlay on top of their base revision.
struct NewCommit {
    ObjectId tree;
    std::vector<ObjectId> parents;
    GitSignature author;
    GitSignature committer;
    std::string message;
};

// What `git push` reported for an accepted push, for the user.
struct PushOutcome {
    std::string serverMessage;
};

class ObjectStore {
public:
    virtual ~ObjectStore() = default;

    // Branch, tag, "HEAD" or (abbreviated) commit id → the commit's id. For a remote source a
    // branch or tag is looked up at the server first (fetch of refs), falling back to the local
    // clone when the server is unreachable. Throws NotFound with the revision in the message.
    virtual ObjectId resolveCommit(const std::string& revision) = 0;

    // The tree at subPath ("" or "/" = the root; "a/b" otherwise) of a commit. NotFound when the
    // path does not exist or is not a directory.
    virtual ObjectId treeAtPath(const ObjectId& commit, std::string_view subPath) = 0;

    // The commit's committer time, seconds since the epoch: a mount shows it as every inode's
    // atime/mtime/ctime (one revision, one time). NotFound when commit is not a local commit.
    virtual int64_t commitTime(const ObjectId& commit) = 0;

    virtual std::shared_ptr<const Tree> readTree(const ObjectId& id) = 0;

    // True when the blob's bytes are local: reading it costs no round trip.
    virtual bool hasBlob(const ObjectId& id) = 0;

    // Size in bytes; fetches the blob when it is not local (one round trip).
    virtual uint64_t blobSize(const ObjectId& id) = 0;

    // Fetches whichever of ids are not local, in as few round trips as the batch bound allows,
    // and waits for them. Used for a directory's worth of sizes (ls -l) and prefetch.
    virtual void prefetchBlobs(const std::vector<ObjectId>& ids) = 0;

    // True when fetching many missing blobs costs about what fetching one costs (a Git partial
    // clone: one `git fetch --stdin` round trip), so a reader's neighbours are worth asking for
    // with what it needs. False (the default) when each blob is its own request.
    [[nodiscard]] virtual bool fetchesInBatches() const { return false; }

    // A read-only fd on a content-cache file holding exactly the blob's bytes (materialized on
    // first use). Callers pread/splice from it; the fd stays valid even if the cache evicts it.
    virtual UniqueFd openBlob(const ObjectId& id) = 0;

    // The whole blob in memory, for small blobs such as symlink targets. Throws Corrupt when the
    // blob is larger than maxBytes.
    virtual std::string readBlob(const ObjectId& id, size_t maxBytes) = 0;

    [[nodiscard]] virtual StoreStats stats() const = 0;

    // Refresh of a source whose revision moves upstream (a Mega path mounted at HEAD): the tree
    // at subPath of the latest upstream commit when it is not `shown`, nullopt while unchanged.
    // Cheap when nothing changed (Mega: one dir-hash request); a mount's refresh poll asks it.
    // A source that cannot tell throws StoreError(Unsupported), which is what the default does.
    virtual std::optional<ObjectId> changedTree(std::string_view subPath, const ObjectId& shown);

    // --- writing (writable mounts). New objects go into the local object database (the
    // source repository itself, or the partial clone); nothing reaches a server before push().
    // A store that cannot write throws StoreError(Unsupported), which is what these defaults do.

    // A blob of these bytes / of this file's bytes (streamed, never read whole into memory).
    virtual ObjectId writeBlob(std::string_view bytes);
    virtual ObjectId writeBlobFromFile(const std::filesystem::path& file);
    // A tree of these entries (any order: Git's order is applied here; modes from EntryKind).
    // Throws Corrupt for a name Git cannot store ("", ".", "..", '/' or NUL inside).
    virtual ObjectId writeTree(const std::vector<TreeEntry>& entries);
    virtual ObjectId writeCommit(const NewCommit& commit);
    // Points ref (refs/mega-fuse/<mount>) at commit, so gc never drops it.
    virtual void updateRef(const std::string& ref, const ObjectId& commit,
                           const std::string& logMessage);
    // `git push <remote> <commit>:<remoteRef>` to the source's server (a local repository: its
    // 'origin' remote, else Unsupported). A refusal is PushRejected with the server's words;
    // a transport failure FetchFailed, Timeout after timeout.
    virtual PushOutcome push(const ObjectId& commit, const std::string& remoteRef,
                             std::chrono::milliseconds timeout);
    // user.name and user.email from Git's configuration (the repository's, then the user's
    // global one); nullopt when either is missing.
    virtual std::optional<GitSignature> configuredIdentity();

    // One line for logs and status: "git://127.0.0.1:9418/repo.git (cache ~/.cache/...)".
    [[nodiscard]] virtual std::string describe() const = 0;
};

// Where a source lives, parsed from what a user types.
struct SourceSpec {
    enum class Kind {
        LocalRepository,  // a path to a repository (bare or with a work tree): read in place
        GitRemote,        // file://, git://, http://, https:// — cached as a bare partial clone
        Mega,             // a Mega monorepo server's REST API (MegaObjectStore), one path of it
    };
    Kind kind = Kind::LocalRepository;
    std::string location;        // absolute path for LocalRepository, the URL for GitRemote, the
                                 // server's base URL (no trailing '/') for Mega
    std::string megaPath = "/";  // Mega: the repository's path in the monorepo, "/a/b"
    std::filesystem::path tokenFile{};  // Mega: bearer token file (0600), empty = anonymous

    // Throws StoreError(BadSource) with a reason for anything else (ssh:// is not supported yet).
    // "mega+http://host:port/a/b" (or mega+https) is a Mega source: base URL + path /a/b.
    static SourceSpec parse(const std::string& text);
    // A Mega source; throws StoreError(BadSource) unless baseUrl is http(s):// and path is
    // absolute without "." or ".." parts. Normalizes both (no trailing '/').
    static SourceSpec mega(const std::string& baseUrl, const std::string& path,
                           const std::filesystem::path& tokenFile = {});
};

// StoreRegistry: one per process. Owns the caches every source shares (the content cache is
// keyed by blob id, so the same file in two repositories is stored once) and hands out one store
// per source, shared by every mount of that source.
class StoreRegistry {
public:
    explicit StoreRegistry(StoreOptions options);
    ~StoreRegistry();
    StoreRegistry(const StoreRegistry&) = delete;
    StoreRegistry& operator=(const StoreRegistry&) = delete;

    // What one mount asks of its source's store.
    struct Request {
        // The mount's fetch_timeout and fetch_concurrency; nullopt: the registry's options.
        std::optional<std::chrono::milliseconds> fetchTimeout;
        std::optional<size_t> fetchConcurrency;
        // Hears a first clone's progress (git's receiving and resolving phases).
        std::function<void(const CloneProgressUpdate& update)> cloneProgress;
    };

    // Opens (cloning on first use) the store for a source; the same source with the same fetch
    // limits gives the same store while anyone holds it. Mounts asking other limits get a store
    // of their own (its own fetch queue and workers) over the same clone and the same caches,
    // so each mount's readers wait as long as that mount says. Blocking: a first clone can
    // take a while. Throws StoreError.
    std::shared_ptr<ObjectStore> open(const SourceSpec& source, const Request& request);
    std::shared_ptr<ObjectStore> open(const SourceSpec& source) { return open(source, {}); }

    [[nodiscard]] const StoreOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace megafuse::store
