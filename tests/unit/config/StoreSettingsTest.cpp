// StoreSettings: the store gets the configured budgets and limits, with per-mount overrides.
#include <gtest/gtest.h>

#include "TestEnvironment.hpp"
#include "config/ConfigLoader.hpp"
#include "config/StoreSettings.hpp"

namespace megafuse::config {
namespace {

using StoreSettingsTest = FixedHomeTest;

TEST_F(StoreSettingsTest, GlobalSettingsBecomeStoreOptions) {
    Config config = parseConfig(
        "cache_dir: /c\n"
        "content_cache_size: 1GiB\n"
        "tree_cache_size: 2MiB\n"
        "fetch_timeout: 5s\n"
        "fetch_concurrency: 3\n"
        "fetch_batch_max: 100\n"
        "mounts:\n"
        "  - {name: a, source: /r, mountpoint: /m, fetch_timeout: 1m, fetch_concurrency: 8}\n"
        "  - {name: b, source: /r, mountpoint: /n}\n",
        "config.yaml");
    store::StoreOptions options = toStoreOptions(config.global);
    EXPECT_EQ(options.cacheDir, "/c");
    EXPECT_EQ(options.contentCacheBytes, 1ULL << 30U);
    EXPECT_EQ(options.treeCacheBytes, 2ULL << 20U);
    EXPECT_EQ(options.fetchTimeout, std::chrono::seconds(5));
    EXPECT_EQ(options.fetchConcurrency, 3U);
    EXPECT_EQ(options.fetchBatchMaxObjects, 100U);

    store::StoreRegistry::Request a = toStoreRequest(config.global, config.mounts[0]);
    EXPECT_EQ(a.fetchTimeout, std::chrono::minutes(1));
    EXPECT_EQ(a.fetchConcurrency, 8U);

    store::StoreRegistry::Request b = toStoreRequest(config.global, config.mounts[1]);
    EXPECT_EQ(b.fetchTimeout, std::chrono::seconds(5));
    EXPECT_EQ(b.fetchConcurrency, 3U);
}

TEST_F(StoreSettingsTest, DefaultsMatchTheStoresOwnDefaults) {
    store::StoreOptions fromConfig = toStoreOptions(GlobalSettings{});
    store::StoreOptions storeDefaults;
    EXPECT_EQ(fromConfig.contentCacheBytes, storeDefaults.contentCacheBytes);
    EXPECT_EQ(fromConfig.treeCacheBytes, storeDefaults.treeCacheBytes);
    EXPECT_EQ(fromConfig.fetchTimeout, storeDefaults.fetchTimeout);
    EXPECT_EQ(fromConfig.fetchBatchMaxObjects, storeDefaults.fetchBatchMaxObjects);
    EXPECT_EQ(fromConfig.fetchConcurrency, storeDefaults.fetchConcurrency);
}

}  // namespace
}  // namespace megafuse::config
