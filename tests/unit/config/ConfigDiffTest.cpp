// diffConfigs: what a reload must do, mount by mount, and value equality of the config types.
#include <gtest/gtest.h>

#include "TestEnvironment.hpp"
#include "config/Config.hpp"
#include "config/ConfigLoader.hpp"

namespace megafuse::config {
namespace {

Config load(const std::string& yaml) {
    return parseConfig(yaml, "config.yaml");
}

constexpr const char* kBase =
    "mounts:\n"
    "  - {name: a, source: /r, mountpoint: /m/a}\n"
    "  - {name: b, source: /r, mountpoint: /m/b}\n"
    "  - {name: c, source: /r, mountpoint: /m/c}\n";

using DiffTest = FixedHomeTest;

TEST_F(DiffTest, IdenticalConfigsHaveNothingToDo) {
    ConfigDiff diff = diffConfigs(load(kBase), load(kBase));
    EXPECT_TRUE(diff.empty());
    EXPECT_EQ(diff.unchanged, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(diffConfigs(Config{}, Config{}).empty());
}

TEST_F(DiffTest, AddedRemovedChangedUnchanged) {
    Config after = load(
        "mounts:\n"
        "  - {name: d, source: /r, mountpoint: /m/d}\n"
        "  - {name: c, source: /r, mountpoint: /m/c, writable: true}\n"
        "  - {name: a, source: /r, mountpoint: /m/a}\n"
        "  - {name: e, source: /r, mountpoint: /m/e}\n");
    ConfigDiff diff = diffConfigs(load(kBase), after);
    EXPECT_EQ(diff.added, (std::vector<std::string>{"d", "e"}));
    EXPECT_EQ(diff.removed, (std::vector<std::string>{"b"}));
    EXPECT_EQ(diff.changed, (std::vector<std::string>{"c"}));
    EXPECT_EQ(diff.unchanged, (std::vector<std::string>{"a"}));
    EXPECT_FALSE(diff.globalChanged);
    EXPECT_FALSE(diff.empty());
}

TEST_F(DiffTest, EveryMountFieldCountsAsAChange) {
    const std::string prefix = "mounts:\n  - {name: a, mountpoint: /m/a, source: /r";
    const Config before = load(prefix + "}\n");
    for (const char* extra : {", source: /other", ", revision: main", ", path: sub",
                              ", writable: true", ", automount: false", ", fetch_timeout: 10s",
                              ", fetch_concurrency: 3", ", attr_timeout: 1s"}) {
        std::string yaml = prefix + extra + "}\n";
        if (std::string(extra).find("source") != std::string::npos) {
            yaml = "mounts:\n  - {name: a, mountpoint: /m/a" + std::string(extra) + "}\n";
        }
        ConfigDiff diff = diffConfigs(before, load(yaml));
        EXPECT_EQ(diff.changed, (std::vector<std::string>{"a"})) << extra;
    }
    ConfigDiff moved = diffConfigs(before, load("mounts:\n  - {name: a, mountpoint: /m/z, "
                                                "source: /r}\n"));
    EXPECT_EQ(moved.changed, (std::vector<std::string>{"a"}));
}

TEST_F(DiffTest, OverrideEqualToGlobalIsStillAChange) {
    // Explicit overrides survive a later change of the global value, so they are not the same.
    ConfigDiff diff =
        diffConfigs(load(kBase), load("mounts:\n"
                                      "  - {name: a, source: /r, mountpoint: /m/a, "
                                      "fetch_timeout: 30s}\n"
                                      "  - {name: b, source: /r, mountpoint: /m/b}\n"
                                      "  - {name: c, source: /r, mountpoint: /m/c}\n"));
    EXPECT_EQ(diff.changed, (std::vector<std::string>{"a"}));
}

TEST_F(DiffTest, ReorderingIsNoChange) {
    ConfigDiff diff =
        diffConfigs(load(kBase), load("mounts:\n"
                                      "  - {name: c, source: /r, mountpoint: /m/c}\n"
                                      "  - {name: a, source: /r, mountpoint: /m/a}\n"
                                      "  - {name: b, source: /r, mountpoint: /m/b}\n"));
    EXPECT_TRUE(diff.empty());
    EXPECT_EQ(diff.unchanged, (std::vector<std::string>{"c", "a", "b"}));
}

TEST_F(DiffTest, GlobalChange) {
    ConfigDiff diff = diffConfigs(load(kBase), load(std::string("log_level: debug\n") + kBase));
    EXPECT_TRUE(diff.globalChanged);
    EXPECT_FALSE(diff.empty());
    EXPECT_TRUE(diff.changed.empty());
    EXPECT_EQ(diff.unchanged.size(), 3U);

    Config withAuthor = load("author: {name: A, email: a@b}\n");
    EXPECT_TRUE(diffConfigs(Config{}, withAuthor).globalChanged);
}

TEST_F(DiffTest, ChangedGlobalKeysAreNamedInSchemaOrder) {
    EXPECT_TRUE(changedGlobalKeys(GlobalSettings{}, GlobalSettings{}).empty());
    const Config after = load(
        "push_timeout: 1m\n"
        "max_mounts: 2\n"
        "log_level: debug\n"
        "worker_threads: 1\n"
        "max_queued_operations: 3\n"
        "max_diff_bytes: 1MiB\n"
        "changes_hash_cache_entries: 7\n"
        "xattr_value_max: 1KiB\n"
        "prefetch_window: 1s\n"
        "repository_recycle_after_fetches: 4\n"
        "repository_max_packs: 5\n"
        "git_object_cache_size: 1MiB\n"
        "author: {name: A, email: a@b}\n");
    EXPECT_EQ(changedGlobalKeys(Config{}.global, after.global),
              (std::vector<std::string>{
                  "log_level", "worker_threads", "max_mounts", "max_queued_operations",
                  "max_diff_bytes", "push_timeout", "prefetch_window", "xattr_value_max",
                  "changes_hash_cache_entries", "git_object_cache_size",
                  "repository_recycle_after_fetches", "repository_max_packs", "author"}));
    EXPECT_EQ(changedGlobalKeys(Config{}.global,
                                load("fetch_timeout: 5s\nfetch_concurrency: 3\n").global),
              (std::vector<std::string>{"fetch_timeout", "fetch_concurrency"}));
}

TEST_F(DiffTest, EverythingRemoved) {
    ConfigDiff diff = diffConfigs(load(kBase), Config{});
    EXPECT_EQ(diff.removed, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(diff.added.empty());
    EXPECT_TRUE(diff.unchanged.empty());
}

}  // namespace
}  // namespace megafuse::config
