// GitObjectStore on a Git server (file:// with partial-clone support, a silent TCP server):
// the clone layout, blobs fetched only when asked, batched and single-flight fetch rounds,
// ref refresh, fetch by id, timeouts and failures that never hang a reader.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <thread>

#include "StoreTestSupport.hpp"
#include "store/ObjectStore.hpp"
#include "store/PartialClone.hpp"

namespace megafuse::store {
namespace {

using test::readAll;

class RemoteStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        repo_ = test::makeSampleRepo(dir_.path() / "server");
        options_.cacheDir = dir_.path() / "cache";
        options_.fetchTimeout = std::chrono::seconds(30);
    }
    std::shared_ptr<ObjectStore> open(const std::string& url) {
        if (!registry_) {
            registry_ = std::make_unique<StoreRegistry>(options_);
        }
        return registry_->open(SourceSpec::parse(url));
    }
    [[nodiscard]] std::filesystem::path clonePath() const {
        return partialClonePath(options_.cacheDir, repo_.url());
    }
    // Every blob id reachable from the tree (each once).
    static void collectBlobs(ObjectStore& store, const ObjectId& tree, std::set<ObjectId>& out) {
        for (const auto& e : store.readTree(tree)->entries()) {
            if (e.kind == EntryKind::Directory) {
                collectBlobs(store, e.id, out);
            } else if (e.isBlob()) {
                out.insert(e.id);
            }
        }
    }
    std::vector<ObjectId> allBlobs(ObjectStore& store) {
        std::set<ObjectId> ids;
        collectBlobs(store, store.treeAtPath(store.resolveCommit("main"), ""), ids);
        return {ids.begin(), ids.end()};
    }
    ObjectId rootEntry(ObjectStore& store, const std::string& name) {
        auto tree = store.readTree(store.treeAtPath(store.resolveCommit("main"), ""));
        return tree->find(name)->id;
    }

    test::TempDir dir_;
    test::SampleRepo repo_;
    StoreOptions options_;
    std::unique_ptr<StoreRegistry> registry_;
};

TEST_F(RemoteStoreTest, ClonesIntoTheDocumentedLayout) {
    auto store = open(repo_.url());
    const auto clone = clonePath();
    EXPECT_TRUE(std::filesystem::exists(clone / "HEAD"));
    EXPECT_EQ(clone.parent_path(), options_.cacheDir / "sources");
    EXPECT_TRUE(std::regex_match(clone.filename().string(),
                                 std::regex("tmp_megafuse-store-test-[A-Za-z0-9]+_server-"
                                            "[0-9a-f]{8}\\.git")))
        << clone.filename();
    EXPECT_EQ(test::git(clone, {"config", "--get-all", "remote.origin.fetch"}),
              "+refs/heads/*:refs/heads/*\n+refs/tags/*:refs/tags/*");
    EXPECT_EQ(test::git(clone, {"config", "remote.origin.partialclonefilter"}), "blob:none");
    EXPECT_EQ(test::git(clone, {"config", "--type=int", "gc.auto"}), "0");
    EXPECT_EQ(test::git(clone, {"config", "--type=bool", "maintenance.auto"}), "false");
    EXPECT_NE(store->describe().find(repo_.url()), std::string::npos);
    EXPECT_NE(store->describe().find(clone.string()), std::string::npos);
    // Nothing temporary is left next to it.
    size_t entries = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(options_.cacheDir / "sources")) {
        ++entries;
    }
    EXPECT_EQ(entries, 2U);  // the clone and its lock file

    // A second registry (another daemon run) reuses the clone instead of cloning again.
    test::writeFile(clone / "marker", "x");
    StoreRegistry again(options_);
    auto reopened = again.open(SourceSpec::parse(repo_.url()));
    EXPECT_TRUE(std::filesystem::exists(clone / "marker"));
    EXPECT_EQ(reopened->resolveCommit("main").hex(), repo_.secondCommit);
}

TEST_F(RemoteStoreTest, NoBlobIsLocalUntilAskedForThenExactlyThatOne) {
    auto store = open(repo_.url());
    const auto blobs = allBlobs(*store);
    ASSERT_GE(blobs.size(), 8U);
    for (const auto& id : blobs) {
        EXPECT_FALSE(store->hasBlob(id)) << id.hex();
    }
    const ObjectId readme = rootEntry(*store, "README.md");
    EXPECT_EQ(store->blobSize(readme), 6U);
    for (const auto& id : blobs) {
        EXPECT_EQ(store->hasBlob(id), id == readme) << id.hex();
    }
    auto stats = store->stats();
    EXPECT_EQ(stats.fetchBatches, 1U);
    EXPECT_EQ(stats.objectsFetched, 1U);
    EXPECT_EQ(stats.bytesFetched, 6U);
    EXPECT_EQ(store->blobSize(readme), 6U);  // now local: no second round
    EXPECT_EQ(store->stats().fetchBatches, 1U);
}

TEST_F(RemoteStoreTest, PrefetchOfManyBlobsIsOneRound) {
    auto store = open(repo_.url());
    const auto blobs = allBlobs(*store);
    store->prefetchBlobs(blobs);
    EXPECT_EQ(store->stats().fetchBatches, 1U);
    EXPECT_EQ(store->stats().objectsFetched, blobs.size());
    for (const auto& id : blobs) {
        EXPECT_TRUE(store->hasBlob(id)) << id.hex();
    }
    store->prefetchBlobs(blobs);  // all local: nothing to do
    EXPECT_EQ(store->stats().fetchBatches, 1U);
}

TEST_F(RemoteStoreTest, BatchesAreBoundedByFetchBatchMaxObjects) {
    options_.fetchBatchMaxObjects = 3;
    auto store = open(repo_.url());
    const auto blobs = allBlobs(*store);
    store->prefetchBlobs(blobs);
    EXPECT_EQ(store->stats().fetchBatches, (blobs.size() + 2) / 3);
    EXPECT_EQ(store->stats().objectsFetched, blobs.size());
}

TEST_F(RemoteStoreTest, ConcurrentRequestsForOneBlobShareOneRound) {
    auto store = open(repo_.url());
    const ObjectId readme = rootEntry(*store, "README.md");
    std::atomic<int> ready{0};
    std::atomic<int> correct{0};
    std::vector<std::thread> threads;
    threads.reserve(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            ++ready;
            while (ready.load() < 8) {
                std::this_thread::yield();
            }
            if (store->blobSize(readme) == 6) {
                ++correct;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(correct.load(), 8);
    EXPECT_EQ(store->stats().fetchBatches, 1U);
    EXPECT_EQ(store->stats().objectsFetched, 1U);
}

TEST_F(RemoteStoreTest, OpenBlobFetchesAndMaterializes) {
    auto store = open(repo_.url());
    const ObjectId deepTree = store->treeAtPath(store->resolveCommit("main"), "a/b/c");
    const ObjectId deep = store->readTree(deepTree)->find("deep.txt")->id;
    EXPECT_EQ(readAll(store->openBlob(deep)), "deep\n");
    EXPECT_EQ(readAll(store->openBlob(deep)), "deep\n");
    EXPECT_EQ(store->readBlob(rootEntry(*store, "link"), 100), "README.md");
    auto stats = store->stats();
    EXPECT_EQ(stats.contentCacheMisses, 1U);
    EXPECT_EQ(stats.contentCacheHits, 1U);
    EXPECT_EQ(stats.fetchBatches, 2U);  // deep.txt, then the symlink target
}

TEST_F(RemoteStoreTest, ContentCacheIsSharedAcrossSources) {
    // The local repository materializes README.md; the remote store, whose clone lacks the
    // blob, serves the same cache file (verified by hashing it) without a round trip.
    auto local = open(repo_.path.string());
    auto remote = open(repo_.url());
    const ObjectId readme = rootEntry(*local, "README.md");
    EXPECT_EQ(readAll(local->openBlob(readme)), "hello\n");
    EXPECT_FALSE(remote->hasBlob(readme));
    EXPECT_EQ(readAll(remote->openBlob(readme)), "hello\n");
    EXPECT_EQ(remote->stats().fetchBatches, 0U);
    EXPECT_EQ(remote->stats().contentCacheHits, 1U);
}

TEST_F(RemoteStoreTest, ResolvesRevisionsAtTheServer) {
    auto store = open(repo_.url());
    EXPECT_EQ(store->resolveCommit("main").hex(), repo_.secondCommit);
    EXPECT_EQ(store->resolveCommit("HEAD").hex(), repo_.secondCommit);
    EXPECT_EQ(store->resolveCommit("feature").hex(), repo_.featureCommit);
    EXPECT_EQ(store->resolveCommit("v1").hex(), repo_.firstCommit);
    EXPECT_EQ(store->resolveCommit("v1-annotated").hex(), repo_.secondCommit);
    EXPECT_EQ(store->resolveCommit(repo_.firstCommit.substr(0, 12)).hex(), repo_.firstCommit);

    // The server moves on: the next resolve sees the new commit and tag, and its new tree.
    test::writeFile(repo_.path / "later.txt", "later\n");
    test::git(repo_.path, {"add", "later.txt"});
    test::git(repo_.path, {"commit", "--quiet", "-m", "later"});
    test::git(repo_.path, {"tag", "v2"});
    const std::string later = test::git(repo_.path, {"rev-parse", "HEAD"});
    EXPECT_EQ(store->resolveCommit("main").hex(), later);
    EXPECT_EQ(store->resolveCommit("v2").hex(), later);
    auto root = store->readTree(store->treeAtPath(store->resolveCommit("main"), ""));
    ASSERT_NE(root->find("later.txt"), nullptr);
    EXPECT_FALSE(store->hasBlob(root->find("later.txt")->id));
}

TEST_F(RemoteStoreTest, FirstResolveAfterTheCloneAsksTheServerNoMore) {
    auto store = open(repo_.url());  // clones: its refs are the server's as of now
    // The server moves on after the clone; only another round trip to it could see that.
    test::writeFile(repo_.path / "later.txt", "later\n");
    test::git(repo_.path, {"add", "later.txt"});
    test::git(repo_.path, {"commit", "--quiet", "-m", "later"});
    const std::string later = test::git(repo_.path, {"rev-parse", "HEAD"});
    EXPECT_EQ(store->resolveCommit("main").hex(), repo_.secondCommit);
    // Every later resolve asks the server, as does the first one of a store that found the
    // clone already there (another daemon run).
    EXPECT_EQ(store->resolveCommit("main").hex(), later);
    test::git(repo_.path, {"commit", "--quiet", "--allow-empty", "-m", "latest"});
    const std::string latest = test::git(repo_.path, {"rev-parse", "HEAD"});
    StoreRegistry again(options_);
    EXPECT_EQ(again.open(SourceSpec::parse(repo_.url()))->resolveCommit("main").hex(), latest);
}

TEST_F(RemoteStoreTest, FetchesACommitNoRefNamesById) {
    auto store = open(repo_.url());
    const std::string tree = test::git(repo_.path, {"rev-parse", "HEAD^{tree}"});
    const std::string dangling =
        test::git(repo_.path, {"commit-tree", tree, "-p", "HEAD", "-m", "dangling"});
    ObjectId commit = store->resolveCommit(dangling);
    EXPECT_EQ(commit.hex(), dangling);
    EXPECT_EQ(store->treeAtPath(commit, "").hex(), tree);
}

TEST_F(RemoteStoreTest, UnknownRevisionIsNotFound) {
    auto store = open(repo_.url());
    for (const std::string rev : {"nope", "0123456789012345678901234567890123456789"}) {
        try {
            store->resolveCommit(rev);
            ADD_FAILURE() << rev;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.code(), StoreErrc::NotFound);
            EXPECT_NE(
                std::string(e.what()).find("unknown revision '" + rev + "' in " + repo_.url()),
                std::string::npos)
                << e.what();
        }
    }
}

TEST_F(RemoteStoreTest, FailedFetchIsFetchFailedWithGitsMessage) {
    auto store = open(repo_.url());
    const ObjectId readme = rootEntry(*store, "README.md");
    std::filesystem::rename(repo_.path, dir_.path() / "gone");
    try {
        store->blobSize(readme);
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::FetchFailed);
        EXPECT_NE(std::string(e.what()).find("exit 128"), std::string::npos) << e.what();
    }
    EXPECT_EQ(store->stats().fetchFailures, 1U);
    // The server is gone: refs cannot be refreshed, the cached ones still resolve.
    EXPECT_EQ(store->resolveCommit("main").hex(), repo_.secondCommit);
}

TEST_F(RemoteStoreTest, SilentServerGivesTimeoutNotAHang) {
    options_.fetchTimeout = std::chrono::milliseconds(1500);
    auto store = open(repo_.url());
    const ObjectId readme = rootEntry(*store, "README.md");
    test::SilentServer silent;
    test::git(clonePath(), {"config", "remote.origin.url",
                            "git://127.0.0.1:" + std::to_string(silent.port()) + "/x"});
    try {
        store->blobSize(readme);
        ADD_FAILURE() << "a fetch from a silent server returned";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::Timeout) << e.what();
        EXPECT_EQ(e.toErrno(), EIO);
    }
    // Ref refresh times out too; resolving falls back to the refs cached locally.
    EXPECT_EQ(store->resolveCommit("main").hex(), repo_.secondCommit);
}

TEST_F(RemoteStoreTest, CloneFromSilentServerTimesOut) {
    options_.cloneTimeout = std::chrono::milliseconds(1500);
    test::SilentServer silent;
    const std::string url = "git://127.0.0.1:" + std::to_string(silent.port()) + "/x";
    try {
        open(url);
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::Timeout) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(partialClonePath(options_.cacheDir, url)));
}

TEST_F(RemoteStoreTest, CredentialsNeverReachMessagesOrFolderNames) {
    const std::string url = "http://alice:s3cret@127.0.0.1:1/repo.git";  // refused at once
    try {
        open(url);
        ADD_FAILURE();
    } catch (const StoreError& e) {
        EXPECT_EQ(e.code(), StoreErrc::BadSource);
        EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("alice"), std::string::npos) << e.what();
    }
    EXPECT_EQ(partialClonePath(options_.cacheDir, url).string().find("s3cret"), std::string::npos);
}

// Issue 7: the cache folder deleted under a running store. Eight readers fail on the missing
// clone at once; one clones anew (the others wait and retry), every read returns the bytes,
// libgit2's handles are replaced, and the content cache makes its folder again.
TEST_F(RemoteStoreTest, DeletedCacheFolderIsMadeAnewAndEveryReaderGetsItsBytes) {
    auto store = open(repo_.url());
    const ObjectId deepTree = store->treeAtPath(store->resolveCommit("main"), "a/b/c");
    const ObjectId deep = store->readTree(deepTree)->find("deep.txt")->id;
    const ObjectId readme = rootEntry(*store, "README.md");
    EXPECT_EQ(readAll(store->openBlob(deep)), "deep\n");

    std::filesystem::remove_all(options_.cacheDir);
    std::atomic<int> ready{0};
    std::atomic<int> correct{0};
    std::vector<std::thread> threads;
    threads.reserve(8);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            ++ready;
            while (ready.load() < 8) {
                std::this_thread::yield();
            }
            try {
                const bool even = t % 2 == 0;
                if (readAll(store->openBlob(even ? readme : deep)) ==
                    (even ? "hello\n" : "deep\n")) {
                    ++correct;
                }
            } catch (const StoreError& e) {
                ADD_FAILURE() << e.what();
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(correct.load(), 8);
    EXPECT_TRUE(partialCloneUsable(clonePath()));
    EXPECT_TRUE(std::filesystem::is_directory(options_.cacheDir / "blobs"));
    EXPECT_EQ(test::git(clonePath(), {"config", "remote.origin.partialclonefilter"}), "blob:none");
}

}  // namespace
}  // namespace megafuse::store
