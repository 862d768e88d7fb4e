// StoreSettings: GlobalSettings → store::StoreOptions, field by field in one place.
#include "config/StoreSettings.hpp"

namespace megafuse::config {

store::StoreOptions toStoreOptions(const GlobalSettings& global) {
    store::StoreOptions options;
    options.cacheDir = global.cacheDir;
    options.contentCacheBytes = global.contentCacheBytes;
    options.treeCacheBytes = global.treeCacheBytes;
    options.fetchTimeout = global.fetchTimeout;
    options.fetchBatchMaxObjects = global.fetchBatchMax;
    options.fetchConcurrency = global.fetchConcurrency;
    options.recycleAfterFetches = global.repositoryRecycleAfterFetches;
    options.maxPacks = global.repositoryMaxPacks;
    options.gitPackFilesMax = global.gitPackFilesMax;
    options.gitMappedPackMax = global.gitMappedPackMax;
    options.gitObjectCacheBytes = global.gitObjectCacheBytes;
    return options;
}

store::StoreRegistry::Request toStoreRequest(const GlobalSettings& global,
                                             const MountConfig& mount) {
    store::StoreRegistry::Request request;
    request.fetchTimeout = mount.effectiveFetchTimeout(global);
    request.fetchConcurrency = mount.effectiveFetchConcurrency(global);
    return request;
}

}  // namespace megafuse::config
