// PackConsolidator on a real partial clone of a file:// server: the pack count stays bounded
// while blobs are fetched one round each, every blob keeps its bytes through the repacks (read
// by libgit2 handles opened before and after them), and blobs never read still arrive lazily.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "StoreTestSupport.hpp"
#include "store/GitObjectStore.hpp"
#include "store/ObjectStore.hpp"
#include "store/PackConsolidator.hpp"
#include "store/PartialClone.hpp"

namespace megafuse::store {
namespace {

using test::readAll;

constexpr size_t kMaxPacks = 4;

class PackConsolidationTest : public ::testing::Test {
protected:
    // A server with one commit of `files` small files, file<i>.txt holding "blob <i>\n".
    void makeServer(int files) {
        server_ = dir_.path() / "server";
        std::filesystem::create_directories(server_);
        test::git(server_, {"init", "-q", "-b", "main"});
        test::git(server_, {"config", "uploadpack.allowFilter", "true"});
        test::git(server_, {"config", "uploadpack.allowAnySHA1InWant", "true"});
        for (int i = 0; i < files; ++i) {
            test::writeFile(server_ / name(i), content(i));
        }
        test::git(server_, {"add", "."});
        test::git(server_, {"commit", "-q", "-m", "files"});
        options_.cacheDir = dir_.path() / "cache";
        options_.fetchTimeout = std::chrono::seconds(30);
        options_.maxPacks = kMaxPacks;
    }
    static std::string name(int i) { return "file" + std::to_string(i) + ".txt"; }
    static std::string content(int i) { return "blob " + std::to_string(i) + "\n"; }
    [[nodiscard]] std::string url() const { return "file://" + server_.string(); }
    [[nodiscard]] std::filesystem::path clonePath() const {
        return partialClonePath(options_.cacheDir, url());
    }
    void openStore() {
        registry_ = std::make_unique<StoreRegistry>(options_);
        store_ = registry_->open(SourceSpec::parse(url()));
        git_ = dynamic_cast<GitObjectStore*>(store_.get());
        ASSERT_NE(git_, nullptr);
        auto tree = store_->readTree(store_->treeAtPath(store_->resolveCommit("main"), ""));
        for (const auto& entry : tree->entries()) {
            ids_.emplace(entry.name, entry.id);
        }
    }
    [[nodiscard]] ObjectId id(int i) const { return ids_.at(name(i)); }

    test::TempDir dir_;
    std::filesystem::path server_;
    StoreOptions options_;
    std::unique_ptr<StoreRegistry> registry_;
    std::shared_ptr<ObjectStore> store_;
    GitObjectStore* git_ = nullptr;
    std::map<std::string, ObjectId> ids_;
};

TEST_F(PackConsolidationTest, PackCountStaysBoundedAndEveryBlobKeepsItsBytes) {
    makeServer(21);
    openStore();
    const uint64_t roundsBefore = store_->stats().fetchBatches;
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(readAll(store_->openBlob(id(i))), content(i)) << i;
        git_->waitForPackConsolidation();
        EXPECT_LE(PackConsolidator::countPacks(clonePath()), kMaxPacks + 1) << "after read " << i;
    }
    EXPECT_EQ(store_->stats().fetchBatches - roundsBefore, 20U);  // one round (one pack) each
    EXPECT_GE(git_->packConsolidations(), 3U);
    // Read again through libgit2 (not the content cache): the bytes are in the repacked pack.
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(store_->readBlob(id(i), 1024), content(i)) << i;
    }
    EXPECT_EQ(store_->stats().fetchBatches - roundsBefore, 20U);  // none was lost
    // The repacked pack is still a promisor pack: the blob never read is fetched lazily, by us
    // and by git itself.
    const ObjectId never = id(20);
    EXPECT_FALSE(store_->hasBlob(never));
    EXPECT_EQ(test::git(clonePath(), {"cat-file", "-p", never.hex()}), "blob 20");
    EXPECT_EQ(readAll(store_->openBlob(never)), content(20));
}

TEST_F(PackConsolidationTest, ReadersGetTheirBytesWhileConsolidationsRun) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 10;
    makeServer(kThreads * kPerThread);
    openStore();
    std::atomic<int> ready{0};
    std::atomic<int> correct{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            ++ready;
            while (ready.load() < kThreads) {
                std::this_thread::yield();
            }
            for (int k = 0; k < kPerThread; ++k) {
                const int i = t * kPerThread + k;
                try {
                    // A new blob (a fetch round, a pack), then every earlier one of this thread
                    // again through libgit2 handles that may hold packs a repack just deleted.
                    bool right = readAll(store_->openBlob(id(i))) == content(i);
                    for (int j = t * kPerThread; j <= i; ++j) {
                        right = right && store_->readBlob(id(j), 1024) == content(j);
                    }
                    correct += right ? 1 : 0;
                } catch (const StoreError& e) {
                    ADD_FAILURE() << "blob " << i << ": " << e.what();
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(correct.load(), kThreads * kPerThread);
    git_->waitForPackConsolidation();
    EXPECT_GE(git_->packConsolidations(), 1U);
    EXPECT_LE(PackConsolidator::countPacks(clonePath()), kMaxPacks + 1);
    for (int i = 0; i < kThreads * kPerThread; ++i) {
        EXPECT_EQ(store_->readBlob(id(i), 1024), content(i)) << i;
    }
}

// A commit of our own (`megactl commit` writes into the clone) that a later commit left
// unreachable is not a promisor object: a plain `repack -a -d` packs it while its ref points at
// it and deletes it at the next repack. Nothing may lose a user's commit.
TEST_F(PackConsolidationTest, ACommitLeftUnreachableSurvivesLaterConsolidations) {
    makeServer(12);
    openStore();
    const ObjectId base = store_->resolveCommit("main");
    const GitSignature who{"Test", "test@example.com", 1700000000, 0};
    auto commitOnBase = [&](const std::string& message) {
        return store_->writeCommit({store_->treeAtPath(base, ""), {base}, who, who, message});
    };
    auto fetchRounds = [&](int from, int to) {
        for (int i = from; i < to; ++i) {
            EXPECT_EQ(readAll(store_->openBlob(id(i))), content(i)) << i;
            git_->waitForPackConsolidation();
        }
    };
    const ObjectId first = commitOnBase("first");
    store_->updateRef("refs/mega-fuse/m", first, "test");
    fetchRounds(0, 6);  // a consolidation packs `first`, reachable then
    const uint64_t packedFirst = git_->packConsolidations();
    ASSERT_GE(packedFirst, 1U);
    store_->updateRef("refs/mega-fuse/m", commitOnBase("second"), "test");
    fetchRounds(6, 12);  // one more, with `first` unreachable
    ASSERT_GT(git_->packConsolidations(), packedFirst);
    EXPECT_EQ(test::git(clonePath(), {"cat-file", "-t", first.hex()}), "commit");
}

// A clone an earlier run left with too many packs is consolidated when the store opens it.
TEST_F(PackConsolidationTest, CloneLeftWithManyPacksIsConsolidatedAtOpen) {
    makeServer(8);
    options_.maxPacks = 0;  // the earlier run: never consolidates
    openStore();
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(readAll(store_->openBlob(id(i))), content(i));
    }
    git_->waitForPackConsolidation();
    EXPECT_EQ(git_->packConsolidations(), 0U);
    EXPECT_GT(PackConsolidator::countPacks(clonePath()), kMaxPacks + 1);
    store_.reset();
    registry_.reset();

    options_.maxPacks = kMaxPacks;
    openStore();
    git_->waitForPackConsolidation();
    EXPECT_EQ(git_->packConsolidations(), 1U);
    EXPECT_EQ(PackConsolidator::countPacks(clonePath()), 1U);
    for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(store_->readBlob(id(i), 1024), content(i)) << i;
    }
}

}  // namespace
}  // namespace megafuse::store
