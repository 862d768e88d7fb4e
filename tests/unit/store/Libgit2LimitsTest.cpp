// libgit2's process-wide limits come from the config: the YAML keys git_pack_files_max,
// git_mapped_pack_max and git_object_cache_size reach libgit2 when the daemon makes its
// StoreRegistry, and repository_recycle_after_fetches reaches the stores' options.
#include <git2.h>
#include <gtest/gtest.h>

#include "StoreTestSupport.hpp"
#include "config/ConfigLoader.hpp"
#include "config/StoreSettings.hpp"
#include "store/Libgit2.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {
namespace {

TEST(Libgit2LimitsTest, ConfiguredLimitsReachLibgit2WhenTheRegistryIsMade) {
    test::TempDir dir;
    const config::Config config =
        config::parseConfig("cache_dir: \"" + (dir.path() / "cache").string() +
                                "\"\n"
                                "git_pack_files_max: 7\n"
                                "git_mapped_pack_max: 3MiB\n"
                                "git_object_cache_size: 5MiB\n"
                                "repository_recycle_after_fetches: 9\n"
                                "repository_max_packs: 11\n",
                            "config.yaml");
    {
        const StoreRegistry registry(config::toStoreOptions(config.global));
        size_t packFiles = 0;
        ASSERT_EQ(git_libgit2_opts(GIT_OPT_GET_MWINDOW_FILE_LIMIT, &packFiles), 0);
        EXPECT_EQ(packFiles, 7U);
        size_t mapped = 0;
        ASSERT_EQ(git_libgit2_opts(GIT_OPT_GET_MWINDOW_MAPPED_LIMIT, &mapped), 0);
        EXPECT_EQ(mapped, 3U << 20U);
        ssize_t cached = 0;
        ssize_t allowed = 0;
        ASSERT_EQ(git_libgit2_opts(GIT_OPT_GET_CACHED_MEMORY, &cached, &allowed), 0);
        EXPECT_EQ(allowed, 5 << 20);
        // GitObjectStore hands it to its RepositoryPool (RepositoryPoolTest: recycling after N).
        EXPECT_EQ(registry.options().recycleAfterFetches, 9U);
        // GitObjectStore hands it to its PackConsolidator (PackConsolidationTest: N = 4).
        EXPECT_EQ(registry.options().maxPacks, 11U);
    }
    applyLibgit2Limits(StoreOptions{});  // the process's other tests see the defaults again
}

}  // namespace
}  // namespace megafuse::store
