// The shipped config/example.yaml must load clean, show every key of the schema, and every key
// must have an entry in docs/config.md, so the example and the reference cannot drift apart.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "TestEnvironment.hpp"
#include "config/ConfigLoader.hpp"

namespace megafuse::config {
namespace {

// The schema, as dotted paths ("[]" for a list entry).
const std::set<std::string> kSchemaKeys = {
    "cache_dir",
    "state_dir",
    "log_level",
    "content_cache_size",
    "tree_cache_size",
    "fetch_timeout",
    "fetch_concurrency",
    "fetch_batch_max",
    "attr_timeout",
    "worker_threads",
    "max_mounts",
    "max_queued_operations",
    "max_diff_bytes",
    "push_timeout",
    "prefetch_window",
    "prefetch_listing_max_blobs",
    "prefetch_directory_max_blobs",
    "prefetch_remembered_directories",
    "xattr_name_max",
    "xattr_value_max",
    "xattr_names_max",
    "xattr_entry_max",
    "changes_hash_cache_entries",
    "git_pack_files_max",
    "git_mapped_pack_max",
    "git_object_cache_size",
    "repository_recycle_after_fetches",
    "repository_max_packs",
    "author",
    "author.name",
    "author.email",
    "mounts",
    "mounts[].name",
    "mounts[].source",
    "mounts[].source.mega",
    "mounts[].source.path",
    "mounts[].source.token_file",
    "mounts[].source.refresh_interval",
    "mounts[].revision",
    "mounts[].path",
    "mounts[].mountpoint",
    "mounts[].writable",
    "mounts[].automount",
    "mounts[].fetch_timeout",
    "mounts[].fetch_concurrency",
    "mounts[].attr_timeout",
};

void collectKeys(const YAML::Node& node, const std::string& prefix, std::set<std::string>& keys) {
    if (node.IsMap()) {
        for (const auto& entry : node) {
            std::string key = (prefix.empty() ? "" : prefix + ".") + entry.first.Scalar();
            keys.insert(key);
            collectKeys(entry.second, key, keys);
        }
    } else if (node.IsSequence()) {
        for (const auto& item : node) {
            collectKeys(item, prefix + "[]", keys);
        }
    }
}

std::string readFile(const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

using ExampleConfigTest = FixedHomeTest;

TEST_F(ExampleConfigTest, LoadsClean) {
    Config config = loadConfigFile(MEGAFUSE_EXAMPLE_CONFIG);
    EXPECT_EQ(config.global.author, (Author{"Ada Lovelace", "ada@example.com"}));
    ASSERT_EQ(config.mounts.size(), 3U);
    EXPECT_EQ(config.mounts[0].name, "linux");
    EXPECT_EQ(config.mounts[0].subPath, "drivers/net");
    EXPECT_EQ(config.mounts[1].source.location, "/home/tester/git/tools");
    EXPECT_EQ(config.mounts[1].fetchTimeout, std::chrono::minutes(2));
    EXPECT_EQ(config.mounts[2].source.kind, SourceConfig::Kind::Mega);
    EXPECT_EQ(config.mounts[2].source.tokenFile, "/home/tester/.config/mega-fuse/mega.token");

    // The global values shown are the defaults, as the example's header says.
    Config defaults;
    defaults.global.author = config.global.author;
    EXPECT_EQ(config.global, defaults.global);
}

TEST_F(ExampleConfigTest, ShowsEveryKey) {
    std::set<std::string> keys;
    collectKeys(YAML::LoadFile(MEGAFUSE_EXAMPLE_CONFIG), "", keys);
    EXPECT_EQ(keys, kSchemaKeys);
}

TEST_F(ExampleConfigTest, EveryKeyIsDocumented) {
    std::string doc = readFile(MEGAFUSE_CONFIG_DOC);
    ASSERT_FALSE(doc.empty()) << MEGAFUSE_CONFIG_DOC;
    for (const auto& key : kSchemaKeys) {
        EXPECT_NE(doc.find("`" + key + "`"), std::string::npos) << key << " missing in config.md";
    }
}

}  // namespace
}  // namespace megafuse::config
