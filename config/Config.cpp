// Config: value helpers and the reload diff. The diff compares whole MountConfig values, so a
// new field in the schema is covered by the defaulted operator== without touching this file.
#include "config/Config.hpp"

#include <algorithm>
#include <unordered_map>

namespace megafuse::config {
std::string redactUrlPassword(std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return std::string(url);
    }
    auto authorityStart = scheme + 3;
    // The password ends at the last '@' before the path; it may itself contain '@'.
    auto at = url.rfind('@', url.find('/', authorityStart));
    if (at == std::string_view::npos || at < authorityStart) {
        return std::string(url);
    }
    auto colon = url.find(':', authorityStart);
    if (colon == std::string_view::npos || colon > at) {
        return std::string(url);
    }
    return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

std::string SourceConfig::describe() const {
    switch (kind) {
        case Kind::LocalPath:
            return location;
        case Kind::GitUrl:
            return redactUrlPassword(location);
        case Kind::Mega:
            return redactUrlPassword(location) + " (path " + megaPath + ")";
    }
    return location;
}

const MountConfig* Config::findMount(std::string_view name) const {
    auto it = std::find_if(mounts.begin(), mounts.end(),
                           [&](const MountConfig& m) { return m.name == name; });
    return it == mounts.end() ? nullptr : &*it;
}

ConfigDiff diffConfigs(const Config& before, const Config& after) {
    ConfigDiff diff;
    diff.globalChanged = before.global != after.global;
    std::unordered_map<std::string_view, const MountConfig*> old;
    for (const auto& m : before.mounts) {
        old.emplace(m.name, &m);
    }
    for (const auto& m : after.mounts) {
        auto it = old.find(m.name);
        if (it == old.end()) {
            diff.added.push_back(m.name);
        } else if (*it->second == m) {
            diff.unchanged.push_back(m.name);
        } else {
            diff.changed.push_back(m.name);
        }
    }
    for (const auto& m : before.mounts) {
        if (after.findMount(m.name) == nullptr) {
            diff.removed.push_back(m.name);
        }
    }
    return diff;
}

std::vector<std::string> changedGlobalKeys(const GlobalSettings& before,
                                           const GlobalSettings& after) {
    std::vector<std::string> keys;
    auto compare = [&](const char* key, const auto& a, const auto& b) {
        if (!(a == b)) {
            keys.emplace_back(key);
        }
    };
    compare("cache_dir", before.cacheDir, after.cacheDir);
    compare("state_dir", before.stateDir, after.stateDir);
    compare("log_level", before.logLevel, after.logLevel);
    compare("content_cache_size", before.contentCacheBytes, after.contentCacheBytes);
    compare("tree_cache_size", before.treeCacheBytes, after.treeCacheBytes);
    compare("fetch_timeout", before.fetchTimeout, after.fetchTimeout);
    compare("fetch_concurrency", before.fetchConcurrency, after.fetchConcurrency);
    compare("fetch_batch_max", before.fetchBatchMax, after.fetchBatchMax);
    compare("attr_timeout", before.attrTimeout, after.attrTimeout);
    compare("worker_threads", before.workerThreads, after.workerThreads);
    compare("max_mounts", before.maxMounts, after.maxMounts);
    compare("max_queued_operations", before.maxQueuedOperations, after.maxQueuedOperations);
    compare("max_diff_bytes", before.maxDiffBytes, after.maxDiffBytes);
    compare("push_timeout", before.pushTimeout, after.pushTimeout);
    compare("prefetch_window", before.prefetchWindow, after.prefetchWindow);
    compare("prefetch_listing_max_blobs", before.prefetchListingMaxBlobs,
            after.prefetchListingMaxBlobs);
    compare("prefetch_directory_max_blobs", before.prefetchDirectoryMaxBlobs,
            after.prefetchDirectoryMaxBlobs);
    compare("prefetch_remembered_directories", before.prefetchRememberedDirectories,
            after.prefetchRememberedDirectories);
    compare("xattr_name_max", before.xattrNameMax, after.xattrNameMax);
    compare("xattr_value_max", before.xattrValueMax, after.xattrValueMax);
    compare("xattr_names_max", before.xattrNamesMax, after.xattrNamesMax);
    compare("xattr_entry_max", before.xattrEntryMax, after.xattrEntryMax);
    compare("changes_hash_cache_entries", before.changesHashCacheEntries,
            after.changesHashCacheEntries);
    compare("git_pack_files_max", before.gitPackFilesMax, after.gitPackFilesMax);
    compare("git_mapped_pack_max", before.gitMappedPackMax, after.gitMappedPackMax);
    compare("git_object_cache_size", before.gitObjectCacheBytes, after.gitObjectCacheBytes);
    compare("repository_recycle_after_fetches", before.repositoryRecycleAfterFetches,
            after.repositoryRecycleAfterFetches);
    compare("repository_max_packs", before.repositoryMaxPacks, after.repositoryMaxPacks);
    compare("author", before.author, after.author);
    return keys;
}

}  // namespace megafuse::config
