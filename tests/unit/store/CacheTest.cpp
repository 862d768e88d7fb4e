// ContentCache and TreeCache: byte budgets with LRU eviction, crash leftovers, a rebuilt index
// after restart, and bad cache files replaced rather than served.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "StoreTestSupport.hpp"
#include "store/ContentCache.hpp"
#include "store/ObjectStore.hpp"
#include "store/TreeCache.hpp"

namespace megafuse::store {
namespace {

std::string readAll(int fd) {
    std::string out(1 << 16, '\0');
    ssize_t got = ::pread(fd, out.data(), out.size(), 0);
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return out;
}

ObjectId fakeId(uint8_t first) {
    ObjectId::Raw raw{};
    raw[0] = first;
    raw[19] = 1;
    return ObjectId(raw);
}

ContentCache::Opened put(ContentCache& cache, const ObjectId& id, const std::string& bytes) {
    return cache.open(
        id, [&](int, uint64_t size, bool) { return size == bytes.size(); },
        [&](const ContentCache::Sink& sink) { sink(bytes.data(), bytes.size()); });
}

TEST(ContentCache, EvictsLeastRecentlyUsedBeyondTheBudget) {
    test::TempDir dir;
    ContentCache cache(dir.path() / "blobs", 100);
    auto a = put(cache, fakeId(1), std::string(40, 'a'));
    put(cache, fakeId(2), std::string(40, 'b'));
    EXPECT_TRUE(put(cache, fakeId(1), std::string(40, 'a')).hit);  // a is now most recent
    put(cache, fakeId(3), std::string(40, 'c'));                   // 120 > 100: b goes
    EXPECT_TRUE(std::filesystem::exists(cache.pathFor(fakeId(1))));
    EXPECT_FALSE(std::filesystem::exists(cache.pathFor(fakeId(2))));
    EXPECT_TRUE(std::filesystem::exists(cache.pathFor(fakeId(3))));
    EXPECT_EQ(cache.bytes(), 80U);
    EXPECT_FALSE(put(cache, fakeId(2), std::string(40, 'b')).hit);
    EXPECT_EQ(cache.bytes(), 80U);
    EXPECT_FALSE(std::filesystem::exists(cache.pathFor(fakeId(1))));
    EXPECT_EQ(readAll(a.fd.get()), std::string(40, 'a'));  // an open fd outlives eviction
}

TEST(ContentCache, RebuildsItsIndexOnStartAndClearsCrashLeftovers) {
    test::TempDir dir;
    {
        ContentCache cache(dir.path() / "blobs", 1000);
        put(cache, fakeId(1), std::string(50, 'a'));
        put(cache, fakeId(2), std::string(50, 'b'));
    }
    // fakeId(1) was used long ago, fakeId(2) recently.
    timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(
        ::utimensat(AT_FDCWD, ContentCache(dir.path() / "blobs", 1000).pathFor(fakeId(1)).c_str(),
                    old, 0),
        0);
    const auto leftover = dir.path() / "blobs" / "02" / ".tmp-crashed-abcdef";
    test::writeFile(leftover, "half");
    ContentCache restarted(dir.path() / "blobs", 60);
    EXPECT_FALSE(std::filesystem::exists(leftover));
    EXPECT_FALSE(std::filesystem::exists(restarted.pathFor(fakeId(1))));
    EXPECT_TRUE(std::filesystem::exists(restarted.pathFor(fakeId(2))));
    EXPECT_EQ(restarted.bytes(), 50U);
    EXPECT_TRUE(put(restarted, fakeId(2), std::string(50, 'b')).hit);
}

TEST(ContentCache, WriteFailureLeavesNoFileUnderTheFinalName) {
    test::TempDir dir;
    ContentCache cache(dir.path() / "blobs", 1000);
    EXPECT_THROW(cache.open(
                     fakeId(7), [](int, uint64_t, bool) { return true; },
                     [](const ContentCache::Sink& sink) {
                         sink("par", 3);
                         throw StoreError(StoreErrc::FetchFailed, "server went away");
                     }),
                 StoreError);
    EXPECT_FALSE(std::filesystem::exists(cache.pathFor(fakeId(7))));
    EXPECT_TRUE(std::filesystem::is_empty(cache.pathFor(fakeId(7)).parent_path()));
    EXPECT_EQ(cache.bytes(), 0U);
}

class StoreContentCacheTest : public ::testing::Test {
protected:
    void SetUp() override { repo_ = test::makeSampleRepo(dir_.path() / "repo"); }
    std::shared_ptr<ObjectStore> open(uint64_t budget) {
        StoreOptions options;
        options.cacheDir = dir_.path() / "cache";
        options.contentCacheBytes = budget;
        registry_ = std::make_unique<StoreRegistry>(options);
        return registry_->open(SourceSpec::parse(repo_.path.string()));
    }
    ObjectId entry(ObjectStore& store, const std::string& name) {
        auto tree = store.readTree(store.treeAtPath(store.resolveCommit("main"), ""));
        return tree->find(name)->id;
    }
    std::filesystem::path cacheFile(const ObjectId& id) {
        return dir_.path() / "cache" / "blobs" / id.hex().substr(0, 2) / id.hex().substr(2);
    }

    test::TempDir dir_;
    test::SampleRepo repo_;
    std::unique_ptr<StoreRegistry> registry_;
};

TEST_F(StoreContentCacheTest, SmallBudgetEvictsOlderBlobs) {
    auto store = open(10);
    const ObjectId readme = entry(*store, "README.md");  // 6 bytes
    const ObjectId dash = entry(*store, "-dash");        // 5 bytes
    UniqueFd first = store->openBlob(readme);
    EXPECT_TRUE(std::filesystem::exists(cacheFile(readme)));
    UniqueFd second = store->openBlob(dash);
    EXPECT_FALSE(std::filesystem::exists(cacheFile(readme)));
    EXPECT_TRUE(std::filesystem::exists(cacheFile(dash)));
    EXPECT_EQ(readAll(first.get()), "hello\n");
    EXPECT_EQ(readAll(store->openBlob(readme).get()), "hello\n");
    EXPECT_EQ(store->stats().contentCacheMisses, 3U);
}

TEST_F(StoreContentCacheTest, TruncatedCacheFileIsReplacedNotServed) {
    auto store = open(1 << 20);
    const ObjectId readme = entry(*store, "README.md");
    store->openBlob(readme);
    ASSERT_EQ(::truncate(cacheFile(readme).c_str(), 2), 0);
    EXPECT_EQ(readAll(store->openBlob(readme).get()), "hello\n");
    EXPECT_EQ(std::filesystem::file_size(cacheFile(readme)), 6U);
    EXPECT_EQ(store->stats().contentCacheMisses, 2U);
    EXPECT_EQ(store->stats().contentCacheHits, 0U);
}

TEST_F(StoreContentCacheTest, DamageFromAnEarlierRunIsNotServedEvenAtTheRightSize) {
    auto store = open(1 << 20);
    const ObjectId readme = entry(*store, "README.md");
    store->openBlob(readme);
    store.reset();
    registry_.reset();  // "daemon stopped"; someone damages the file meanwhile
    test::writeFile(cacheFile(readme), "HELLO\n");
    store = open(1 << 20);
    EXPECT_EQ(readAll(store->openBlob(readme).get()), "hello\n");
    EXPECT_EQ(store->stats().contentCacheMisses, 1U);
    EXPECT_EQ(readAll(store->openBlob(readme).get()), "hello\n");  // now trusted by size
    EXPECT_EQ(store->stats().contentCacheHits, 1U);
}

TEST_F(StoreContentCacheTest, IntactFileFromAnEarlierRunIsAHit) {
    auto store = open(1 << 20);
    const ObjectId readme = entry(*store, "README.md");
    store->openBlob(readme);
    store.reset();
    registry_.reset();
    store = open(1 << 20);
    EXPECT_EQ(readAll(store->openBlob(readme).get()), "hello\n");
    EXPECT_EQ(store->stats().contentCacheHits, 1U);
    EXPECT_EQ(store->stats().contentCacheMisses, 0U);
}

TEST(TreeCache, KeepsRecentTreesWithinItsBudget) {
    auto makeTree = [](uint8_t n) {
        std::vector<TreeEntry> entries(10);
        for (size_t i = 0; i < entries.size(); ++i) {
            entries[i].name = "entry-with-a-long-enough-name-" + std::to_string(i);
        }
        return std::make_shared<const Tree>(fakeId(n), std::move(entries));
    };
    const size_t one = makeTree(1)->memoryBytes();
    TreeCache cache(one * 2);
    cache.put(makeTree(1));
    cache.put(makeTree(2));
    ASSERT_NE(cache.get(fakeId(1)), nullptr);  // 1 is now most recent
    cache.put(makeTree(3));
    EXPECT_NE(cache.get(fakeId(1)), nullptr);
    EXPECT_EQ(cache.get(fakeId(2)), nullptr);
    EXPECT_NE(cache.get(fakeId(3)), nullptr);
    EXPECT_EQ(cache.size(), 2U);
    EXPECT_LE(cache.bytes(), one * 2);
    TreeCache tiny(one - 1);
    tiny.put(makeTree(4));  // larger than the whole budget: not kept
    EXPECT_EQ(tiny.size(), 0U);
}

}  // namespace
}  // namespace megafuse::store
