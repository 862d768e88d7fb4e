// Config: the daemon's configuration as plain values (global settings + one entry per mount),
// comparable so a reload can tell which mounts were added, removed or changed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/Paths.hpp"

namespace megafuse::config {

// Bounds of every user-supplied number; docs/config.md lists the same values. A budget below the
// minimum would thrash; above the maximum it is almost surely a typo (an extra digit or unit).
inline constexpr uint64_t kMinContentCacheBytes = 64ULL << 20U;
inline constexpr uint64_t kMaxContentCacheBytes = 16ULL << 40U;
inline constexpr uint64_t kMinTreeCacheBytes = 1ULL << 20U;
inline constexpr uint64_t kMaxTreeCacheBytes = 16ULL << 30U;
inline constexpr std::chrono::milliseconds kMinFetchTimeout = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kMaxFetchTimeout = std::chrono::hours(1);
inline constexpr size_t kMinFetchConcurrency = 1;
inline constexpr size_t kMaxFetchConcurrency = 32;
inline constexpr size_t kMinFetchBatchMax = 1;
inline constexpr size_t kMaxFetchBatchMax = 100'000;
inline constexpr std::chrono::milliseconds kMinAttrTimeout{0};
inline constexpr std::chrono::milliseconds kMaxAttrTimeout = std::chrono::hours(24);
inline constexpr size_t kMaxMountNameLength = 64;
// Mega refresh poll: 0 = off, else from kMinRefreshInterval (a server is not a busy loop).
inline constexpr std::chrono::milliseconds kMinRefreshInterval = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kMaxRefreshInterval = std::chrono::hours(24);
inline constexpr size_t kMinWorkerThreads = 1;
inline constexpr size_t kMaxWorkerThreads = 64;
inline constexpr size_t kMinMaxMounts = 1;
inline constexpr size_t kMaxMaxMounts = 4096;
inline constexpr size_t kMinMaxQueuedOperations = 1;
inline constexpr size_t kMaxMaxQueuedOperations = 4096;
inline constexpr uint64_t kMinMaxDiffBytes = 64ULL << 10U;
inline constexpr uint64_t kMaxMaxDiffBytes = 4ULL << 30U;
inline constexpr std::chrono::milliseconds kMinPushTimeout = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kMaxPushTimeout = std::chrono::hours(24);
// Size prefetch of a read-only mount (fs::FsOptions, docs/filesystem.md). The window may be 0
// (a listing never batches its sizes, Mega never batches a walk); beyond an hour a listing is
// long forgotten by whoever ran `ls -l`.
inline constexpr std::chrono::milliseconds kMinPrefetchWindow{0};
inline constexpr std::chrono::milliseconds kMaxPrefetchWindow = std::chrono::hours(1);
// Blobs in one size-prefetch batch: at least the wanted one; fetch_batch_max's ceiling, since
// one batch is one prefetch call (the store splits it into fetch_batch_max rounds).
inline constexpr size_t kMinPrefetchBatchBlobs = 1;
inline constexpr size_t kMaxPrefetchBatchBlobs = kMaxFetchBatchMax;
// Remembered fully prefetched directories (tree ids, ~100 bytes each): 0 remembers none (a miss
// there batches again); a million is ~100 MB per mount, past any tree a person walks.
inline constexpr size_t kMinPrefetchRememberedDirectories = 0;
inline constexpr size_t kMaxPrefetchRememberedDirectories = 1'000'000;
// Extended attributes in a writable mount's overlay (overlay::XattrLimits, docs/overlay.md). The
// kernel refuses names over 255 bytes, values over 64KiB and lists over 64KiB before they reach
// us (XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX), so those are the ceilings: a larger value
// would promise what no call can use. The names' floor fits one longest name with its NUL.
inline constexpr size_t kMinXattrNameMax = 1;
inline constexpr size_t kMaxXattrNameMax = 255;
inline constexpr uint64_t kMinXattrValueMax = 0;
inline constexpr uint64_t kMaxXattrValueMax = 64ULL << 10U;
inline constexpr uint64_t kMinXattrNamesMax = 256;
inline constexpr uint64_t kMaxXattrNamesMax = 64ULL << 10U;
// Names + values of one entry, kept in the overlay's database and read whole by listxattr: ext4's
// one 4KiB block at least; 16MiB is far beyond what any tool stores on a file.
inline constexpr uint64_t kMinXattrEntryMax = 4ULL << 10U;
inline constexpr uint64_t kMaxXattrEntryMax = 16ULL << 20U;
// Content hashes kept per writable mount (changes::ContentHashCache, ~120 bytes each): 0 keeps
// none (every `megactl changes` hashes every modified file); 1Mi entries is ~128MiB.
inline constexpr size_t kMinChangesHashCacheEntries = 0;
inline constexpr size_t kMaxChangesHashCacheEntries = 1ULL << 20U;
// libgit2's process-wide limits (store::StoreOptions, daemon/store/Libgit2.cpp). Pack files open
// at once: libgit2 closes the least recently used beyond it, so 1 works (slowly); past 10,000 the
// daemon nears its 20,000 open-file limit.
inline constexpr size_t kMinGitPackFilesMax = 1;
inline constexpr size_t kMaxGitPackFilesMax = 10'000;
// Bytes of packs mmap'ed at once: libgit2 maps 32MiB windows and unmaps the least recently used
// beyond the cap; 64GiB is past libgit2's own default (8GiB on 64-bit).
inline constexpr uint64_t kMinGitMappedPackMax = 1ULL << 20U;
inline constexpr uint64_t kMaxGitMappedPackMax = 64ULL << 30U;
// libgit2's parsed-object cache: 0 keeps (nearly) nothing, the TreeCache has the trees anyway.
inline constexpr uint64_t kMinGitObjectCacheBytes = 0;
inline constexpr uint64_t kMaxGitObjectCacheBytes = 4ULL << 30U;
// Fetch rounds after which a source's libgit2 handles are reopened (RepositoryPool): 0 = never.
inline constexpr uint64_t kMinRepositoryRecycleAfterFetches = 0;
inline constexpr uint64_t kMaxRepositoryRecycleAfterFetches = 1'000'000;
inline constexpr uint64_t kMinRepositoryMaxPacks = 0;  // 0 = never consolidate
inline constexpr uint64_t kMaxRepositoryMaxPacks = 100'000;

// Commit author for writable mounts; when absent the overlay asks git config.
struct Author {
    std::string name;
    std::string email;

    bool operator==(const Author&) const = default;
};

// Top-level settings. Defaults are the documented ones, so a default-constructed value equals
// what an empty config.yaml loads to (paths follow the XDG variables at construction time).
struct GlobalSettings {
    std::filesystem::path cacheDir = defaultCacheDir();                   // cache_dir
    std::filesystem::path stateDir = defaultStateDir();                   // state_dir
    std::string logLevel = "info";                                        // log_level: trace..off
    uint64_t contentCacheBytes = 10ULL << 30U;                            // content_cache_size
    uint64_t treeCacheBytes = 64ULL << 20U;                               // tree_cache_size
    std::chrono::milliseconds fetchTimeout = std::chrono::seconds(30);    // fetch_timeout
    size_t fetchConcurrency = 2;                                          // fetch_concurrency
    size_t fetchBatchMax = 4096;                                          // fetch_batch_max
    std::chrono::milliseconds attrTimeout = std::chrono::hours(1);        // attr_timeout
    size_t workerThreads = 4;                                             // worker_threads
    size_t maxMounts = 256;                                               // max_mounts
    size_t maxQueuedOperations = 64;                                      // max_queued_operations
    uint64_t maxDiffBytes = 64ULL << 20U;                                 // max_diff_bytes
    std::chrono::milliseconds pushTimeout = std::chrono::minutes(10);     // push_timeout
    std::chrono::milliseconds prefetchWindow = std::chrono::seconds(10);  // prefetch_window
    size_t prefetchListingMaxBlobs = 4096;         // prefetch_listing_max_blobs
    size_t prefetchDirectoryMaxBlobs = 256;        // prefetch_directory_max_blobs
    size_t prefetchRememberedDirectories = 16384;  // prefetch_remembered_directories
    size_t xattrNameMax = 255;                     // xattr_name_max
    uint64_t xattrValueMax = 64ULL << 10U;         // xattr_value_max
    uint64_t xattrNamesMax = 64ULL << 10U;         // xattr_names_max
    uint64_t xattrEntryMax = 256ULL << 10U;        // xattr_entry_max
    size_t changesHashCacheEntries = 65536;        // changes_hash_cache_entries
    size_t gitPackFilesMax = 128;                  // git_pack_files_max
    uint64_t gitMappedPackMax = 64ULL << 20U;      // git_mapped_pack_max
    uint64_t gitObjectCacheBytes = 16ULL << 20U;   // git_object_cache_size
    uint64_t repositoryRecycleAfterFetches = 32;   // repository_recycle_after_fetches
    uint64_t repositoryMaxPacks = 50;              // repository_max_packs
    std::optional<Author> author;                  // author

    bool operator==(const GlobalSettings&) const = default;
};

// Where a mount's objects come from. A string in YAML is a local path or a Git URL; a map with
// "mega" is a Mega server spoken to over its REST API.
struct SourceConfig {
    enum class Kind {
        LocalPath,  // an absolute path to a repository, read in place
        GitUrl,     // file://, git://, http://, https:// — cached as a bare partial clone
        Mega,       // a Mega monorepo server (http:// or https://)
    };
    Kind kind = Kind::LocalPath;
    // LocalPath: absolute, normalized path ("~" expanded). GitUrl: the URL as written but with
    // its scheme in lower case, as store::SourceSpec::parse takes it. Mega: the server's base URL.
    std::string location;
    std::string megaPath = "/";       // Mega: the repository's path inside the monorepo
    std::filesystem::path tokenFile;  // Mega: bearer token file, empty = anonymous; its
                                      // permissions are checked at mount time, not at load
    // Mega: how often a mount at HEAD asks dir-hash whether its tree moved upstream; 0 = never.
    std::chrono::milliseconds refreshInterval = std::chrono::seconds(60);

    // For logs, status and D-Bus: the location with any URL password replaced by "***", and
    // for Mega the monorepo path: "https://mega.example.com (path /project)".
    [[nodiscard]] std::string describe() const;

    bool operator==(const SourceConfig&) const = default;
};

struct MountConfig {
    std::string name;  // [A-Za-z0-9._-]{1,64}, not "." or "..": a D-Bus path and folder name
    SourceConfig source;
    std::string revision = "HEAD";     // branch, tag or commit id
    std::string subPath;               // "path": "" for the repository root, else "a/b"
    std::filesystem::path mountpoint;  // absolute, normalized, no trailing slash
    bool writable = false;
    bool automount = true;
    // Per-mount overrides; nullopt = use the global value (kept apart so a reload that changes
    // only the global value still shows which mounts it reaches).
    std::optional<std::chrono::milliseconds> fetchTimeout;
    std::optional<size_t> fetchConcurrency;
    std::optional<std::chrono::milliseconds> attrTimeout;

    [[nodiscard]] std::chrono::milliseconds effectiveFetchTimeout(const GlobalSettings& g) const {
        return fetchTimeout.value_or(g.fetchTimeout);
    }
    [[nodiscard]] size_t effectiveFetchConcurrency(const GlobalSettings& g) const {
        return fetchConcurrency.value_or(g.fetchConcurrency);
    }
    [[nodiscard]] std::chrono::milliseconds effectiveAttrTimeout(const GlobalSettings& g) const {
        return attrTimeout.value_or(g.attrTimeout);
    }

    bool operator==(const MountConfig&) const = default;
};

struct Config {
    GlobalSettings global;
    std::vector<MountConfig> mounts;  // in file order; names and mountpoints are unique

    // nullptr when there is no mount of that name.
    [[nodiscard]] const MountConfig* findMount(std::string_view name) const;

    bool operator==(const Config&) const = default;
};

// What a reload has to do. Mounts are matched by name; every list keeps the order of the config
// the name comes from (removed: the old one, the others: the new one).
struct ConfigDiff {
    std::vector<std::string> added;      // only in the new config: mount them (if automount)
    std::vector<std::string> removed;    // only in the old config: unmount them
    std::vector<std::string> changed;    // in both, some field differs: remount or update
    std::vector<std::string> unchanged;  // in both, equal: leave them alone
    bool globalChanged = false;          // GlobalSettings differ (cache budgets, log level, ...)

    // True when the reload has nothing to do.
    [[nodiscard]] bool empty() const {
        return added.empty() && removed.empty() && changed.empty() && !globalChanged;
    }

    bool operator==(const ConfigDiff&) const = default;
};

ConfigDiff diffConfigs(const Config& before, const Config& after);

// The YAML keys of the global settings that differ, in schema order ("log_level",
// "max_mounts", ...; "author" for any part of it). A reload applies log_level at once; the
// others are read at start, so the service names them as waiting for a restart.
std::vector<std::string> changedGlobalKeys(const GlobalSettings& before,
                                           const GlobalSettings& after);

// "https://user:secret@host/x" → "https://user:***@host/x"; anything without a password is
// returned unchanged. Configs end up in logs and bug reports; tokens must not.
std::string redactUrlPassword(std::string_view url);

}  // namespace megafuse::config
