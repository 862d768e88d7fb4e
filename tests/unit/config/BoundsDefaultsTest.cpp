// BoundsDefaultsTest: each YAML bound's default is written twice — in config::GlobalSettings (what
// an empty config.yaml loads to) and in the daemon's own struct that FuseMountBackend fills from
// it (fs::FsOptions, overlay::XattrLimits, changes::ChangeSetOptions, store::StoreOptions), which
// tests and the one-mount command use as they are. Nothing else ties the two; this does, so a
// default changed on one side only fails here instead of making the two paths differ.
#include <gtest/gtest.h>

#include "TestEnvironment.hpp"
#include "changes/ChangeSet.hpp"
#include "config/ConfigLoader.hpp"
#include "config/StoreSettings.hpp"
#include "fs/Filesystem.hpp"
#include "overlay/OverlayStore.hpp"
#include "store/ObjectStore.hpp"
#include "store/RepositoryPool.hpp"

namespace megafuse::config {
namespace {

using BoundsDefaultsTest = FixedHomeTest;

GlobalSettings emptyConfig() {
    return parseConfig("", "config.yaml").global;
}

TEST_F(BoundsDefaultsTest, SizePrefetchDefaultsMatchTheFilesystemsOwn) {
    const GlobalSettings global = emptyConfig();
    const fs::FsOptions daemon;
    EXPECT_EQ(global.prefetchWindow, daemon.listingPrefetchWindow);
    EXPECT_EQ(global.prefetchListingMaxBlobs, daemon.listingPrefetchMaxBlobs);
    EXPECT_EQ(global.prefetchDirectoryMaxBlobs, daemon.directoryPrefetchMaxBlobs);
    EXPECT_EQ(global.prefetchRememberedDirectories, daemon.prefetchedDirectoriesMax);
}

TEST_F(BoundsDefaultsTest, XattrDefaultsMatchTheOverlaysOwn) {
    const GlobalSettings global = emptyConfig();
    const overlay::XattrLimits daemon;
    EXPECT_EQ(global.xattrNameMax, daemon.maxNameBytes);
    EXPECT_EQ(global.xattrValueMax, daemon.maxValueBytes);
    EXPECT_EQ(global.xattrNamesMax, daemon.maxListBytes);
    EXPECT_EQ(global.xattrEntryMax, daemon.maxBytesPerEntry);
}

TEST_F(BoundsDefaultsTest, ChangesDefaultsMatchTheChangeSetsOwn) {
    const GlobalSettings global = emptyConfig();
    const changes::ChangeSetOptions daemon;
    EXPECT_EQ(global.changesHashCacheEntries, daemon.maxHashCacheEntries);
    EXPECT_EQ(global.maxDiffBytes, daemon.maxDiffBytes);
    EXPECT_EQ(global.pushTimeout, daemon.pushTimeout);
}

TEST_F(BoundsDefaultsTest, Libgit2AndPoolDefaultsMatchTheStoresOwn) {
    const store::StoreOptions fromConfig = toStoreOptions(emptyConfig());
    const store::StoreOptions daemon;
    EXPECT_EQ(fromConfig.gitPackFilesMax, daemon.gitPackFilesMax);
    EXPECT_EQ(fromConfig.gitMappedPackMax, daemon.gitMappedPackMax);
    EXPECT_EQ(fromConfig.gitObjectCacheBytes, daemon.gitObjectCacheBytes);
    EXPECT_EQ(fromConfig.recycleAfterFetches, daemon.recycleAfterFetches);
    EXPECT_EQ(fromConfig.maxPacks, daemon.maxPacks);
    EXPECT_EQ(fromConfig.maxPacks, store::kMaxPacksPerClone);
    // RepositoryPool's own default (its constructor's, used by the store's tests).
    EXPECT_EQ(fromConfig.recycleAfterFetches, store::kRecycleAfterObjectChanges);
}

}  // namespace
}  // namespace megafuse::config
