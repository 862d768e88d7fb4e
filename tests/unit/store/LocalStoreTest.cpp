// GitObjectStore on a local repository: revisions, trees with every entry kind, blob reads
// through the content cache — all read in place, nothing cloned or fetched.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <thread>

#include "StoreTestSupport.hpp"
#include "store/ObjectStore.hpp"

namespace megafuse::store {
namespace {

using test::readAll;

class LocalStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        repo_ = test::makeSampleRepo(dir_.path() / "repo");
        StoreOptions options;
        options.cacheDir = dir_.path() / "cache";
        registry_ = std::make_unique<StoreRegistry>(options);
        store_ = registry_->open(SourceSpec::parse(repo_.path.string()));
    }

    ObjectId id(const std::string& hex) { return ObjectId::fromHex(hex).value(); }
    std::shared_ptr<const Tree> rootTree(const std::string& rev = "main") {
        return store_->readTree(store_->treeAtPath(store_->resolveCommit(rev), ""));
    }
    const TreeEntry& entry(const std::string& name) {
        tree_ = rootTree();
        const TreeEntry* e = tree_->find(name);
        if (e == nullptr) {
            throw std::runtime_error("no entry " + name);
        }
        return *e;
    }
    test::TempDir dir_;
    test::SampleRepo repo_;
    std::unique_ptr<StoreRegistry> registry_;
    std::shared_ptr<ObjectStore> store_;
    std::shared_ptr<const Tree> tree_;
};

TEST_F(LocalStoreTest, ResolvesBranchesTagsAndIds) {
    EXPECT_EQ(store_->resolveCommit("main").hex(), repo_.secondCommit);
    EXPECT_EQ(store_->resolveCommit("HEAD").hex(), repo_.secondCommit);
    EXPECT_EQ(store_->resolveCommit("feature").hex(), repo_.featureCommit);
    EXPECT_EQ(store_->resolveCommit("v1").hex(), repo_.firstCommit);
    EXPECT_EQ(store_->resolveCommit("v1-annotated").hex(), repo_.secondCommit);  // peeled
    EXPECT_EQ(store_->resolveCommit(repo_.firstCommit.substr(0, 10)).hex(), repo_.firstCommit);
    EXPECT_EQ(store_->resolveCommit(repo_.firstCommit).hex(), repo_.firstCommit);
}

TEST_F(LocalStoreTest, UnknownRevisionIsNotFoundAndNamesIt) {
    for (const std::string rev :
         {"no-such-branch", "0123456789012345678901234567890123456789", "main:README.md", ""}) {
        try {
            store_->resolveCommit(rev);
            ADD_FAILURE() << rev;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrc::NotFound) << rev;
            EXPECT_EQ(e.toErrno(), ENOENT);
            if (!rev.empty()) {
                EXPECT_NE(std::string(e.what()).find("'" + rev + "'"), std::string::npos)
                    << e.what();
            }
        }
    }
}

TEST_F(LocalStoreTest, CommitTimeIsTheCommittersTime) {
    EXPECT_EQ(store_->commitTime(store_->resolveCommit("main")), 1704067200);  // 2024-01-01Z
    try {
        store_->commitTime(store_->treeAtPath(store_->resolveCommit("main"), ""));
        ADD_FAILURE() << "a tree id has no commit time";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::NotFound);
    }
}

TEST_F(LocalStoreTest, TreeHasEveryEntryKind) {
    auto tree = rootTree();
    EXPECT_EQ(entry("README.md").kind, EntryKind::Regular);
    EXPECT_EQ(entry("empty.txt").kind, EntryKind::Regular);
    EXPECT_EQ(entry("link").kind, EntryKind::Symlink);
    EXPECT_EQ(entry("a").kind, EntryKind::Directory);
    EXPECT_EQ(entry("sub").kind, EntryKind::Gitlink);
    EXPECT_TRUE(entry("sub").isDirectory());
    EXPECT_EQ(entry("sub").id.hex(), "1111111111111111111111111111111111111111");
    EXPECT_EQ(entry("odd name \xc3\xbc #1.txt").kind, EntryKind::Regular);
    EXPECT_EQ(entry("-dash").kind, EntryKind::Regular);
    EXPECT_EQ(entry("tab\tname").kind, EntryKind::Regular);
    auto bin = store_->readTree(entry("bin").id);
    ASSERT_NE(bin->find("run.sh"), nullptr);
    EXPECT_EQ(bin->find("run.sh")->kind, EntryKind::Executable);
    EXPECT_EQ(rootTree("v1")->find("second.txt"), nullptr);
    EXPECT_NE(rootTree("main")->find("second.txt"), nullptr);
}

TEST_F(LocalStoreTest, TreeAtPathWalksDirectoriesOnly) {
    ObjectId commit = store_->resolveCommit("main");
    EXPECT_EQ(store_->treeAtPath(commit, "/"), store_->treeAtPath(commit, ""));
    auto deep = store_->readTree(store_->treeAtPath(commit, "a/b/c"));
    ASSERT_NE(deep->find("deep.txt"), nullptr);
    EXPECT_EQ(store_->treeAtPath(commit, "/a//b/"), store_->treeAtPath(commit, "a/b"));
    for (const char* bad : {"missing", "README.md", "a/b/c/deep.txt", "sub", "a/..", "a/x"}) {
        try {
            store_->treeAtPath(commit, bad);
            ADD_FAILURE() << bad;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrc::NotFound) << bad;
        }
    }
    EXPECT_THROW(store_->treeAtPath(id(repo_.firstCommit.substr(0, 38) + "00"), ""), StoreError);
    try {
        store_->treeAtPath(commit, "no/such/dir");
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(std::string(e.what()), "path 'no/such/dir' in commit " + commit.hex() + " of " +
                                             repo_.path.string() +
                                             " does not exist ('no' is missing)");
    }
    try {
        store_->treeAtPath(commit, "README.md/");
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(std::string(e.what()), "path 'README.md' in commit " + commit.hex() + " of " +
                                             repo_.path.string() + " is not a directory");
    }
}

TEST_F(LocalStoreTest, ReadsBlobsThroughTheContentCache) {
    const ObjectId readme = entry("README.md").id;
    EXPECT_TRUE(store_->hasBlob(readme));
    EXPECT_EQ(store_->blobSize(readme), 6U);
    UniqueFd fd = store_->openBlob(readme);
    ASSERT_TRUE(fd.valid());
    EXPECT_EQ(readAll(fd), "hello\n");
    EXPECT_EQ(store_->stats().contentCacheMisses, 1U);
    UniqueFd again = store_->openBlob(readme);
    EXPECT_EQ(readAll(again), "hello\n");
    EXPECT_EQ(store_->stats().contentCacheHits, 1U);
    EXPECT_EQ(store_->stats().fetchBatches, 0U);

    const auto cached =
        dir_.path() / "cache" / "blobs" / readme.hex().substr(0, 2) / readme.hex().substr(2);
    struct stat st {};
    ASSERT_EQ(::stat(cached.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U);
    ASSERT_EQ(::stat(cached.parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700U);

    UniqueFd empty = store_->openBlob(entry("empty.txt").id);
    EXPECT_EQ(readAll(empty), "");
    EXPECT_EQ(store_->blobSize(entry("empty.txt").id), 0U);
}

TEST_F(LocalStoreTest, ReadBlobForSymlinkTargets) {
    EXPECT_EQ(store_->readBlob(entry("link").id, 4096), "README.md");
    try {
        store_->readBlob(entry("link").id, 3);
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::Corrupt);
    }
}

TEST_F(LocalStoreTest, MissingOrWrongObjectsAreNotFound) {
    ObjectId missing = id("0123456789012345678901234567890123456789");
    EXPECT_FALSE(store_->hasBlob(missing));
    EXPECT_NO_THROW(store_->prefetchBlobs({missing}));  // a local source has nothing to fetch
    using Call = void (*)(ObjectStore&, const ObjectId&);
    const std::array<Call, 3> calls = {[](ObjectStore& s, const ObjectId& i) { s.blobSize(i); },
                                       [](ObjectStore& s, const ObjectId& i) { s.openBlob(i); },
                                       [](ObjectStore& s, const ObjectId& i) { s.readTree(i); }};
    for (Call call : calls) {
        try {
            call(*store_, missing);
            ADD_FAILURE();
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrc::NotFound) << e.what();
        }
    }
    // A tree id is not a blob, a blob id is not a tree.
    EXPECT_THROW(store_->blobSize(entry("a").id), StoreError);
    EXPECT_THROW(store_->readTree(entry("README.md").id), StoreError);
}

TEST_F(LocalStoreTest, RegistryHandsOutOneStorePerSource) {
    auto same = registry_->open(SourceSpec::parse(repo_.path.string() + "/"));
    EXPECT_EQ(same.get(), store_.get());
    EXPECT_EQ(store_->describe(), repo_.path.string());
    std::weak_ptr<ObjectStore> weak = store_;
    store_.reset();
    same.reset();
    EXPECT_TRUE(weak.expired());
    store_ = registry_->open(SourceSpec::parse(repo_.path.string()));
    EXPECT_NE(store_, nullptr);
}

TEST_F(LocalStoreTest, ConcurrentReadersGetTheSameBytes) {
    const ObjectId readme = entry("README.md").id;
    const ObjectId deepTree = store_->treeAtPath(store_->resolveCommit("main"), "a/b/c");
    std::vector<std::thread> threads;
    threads.reserve(8);
    std::atomic<int> good{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                UniqueFd fd = store_->openBlob(readme);
                if (readAll(fd) == "hello\n" && store_->readTree(deepTree)->find("deep.txt")) {
                    ++good;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(good.load(), 400);
    EXPECT_EQ(store_->stats().contentCacheMisses, 1U);
}

}  // namespace
}  // namespace megafuse::store
