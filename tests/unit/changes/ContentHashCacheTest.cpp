// ContentHashCache on real files, `git hash-object` as the oracle: an unchanged file is hashed
// once; any rewrite — same size, mtime put back to the nanosecond — is hashed again; a racy file
// is not kept; the entry bound holds, least recently used first out.
#include <gtest/gtest.h>

#include <chrono>

#include "ChangeSetFixture.hpp"
#include "changes/ChangeSet.hpp"
#include "changes/ContentHashCache.hpp"
#include "support/Git.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

using changes::ContentHashCache;
using std::chrono::nanoseconds;

// No racy window beyond the clock's own tick: tests wait milliseconds, not a second.
constexpr nanoseconds kNoWindow{0};

class ContentHashCacheTest : public ::testing::Test {
protected:
    std::filesystem::path file(const std::string& name) { return temp_.path() / name; }
    // Writes bytes (in place, same inode) and waits until a hash of them may be kept.
    std::filesystem::path stillFile(const std::string& name, const std::string& bytes) {
        writeBytes(file(name), bytes);
        waitUntilStill(file(name), kNoWindow);
        return file(name);
    }
    std::string gitHash(const std::filesystem::path& path) {
        return gitLine(temp_.path(), {"hash-object", path.string()});
    }

    TempDir temp_{"hash-cache"};
};

TEST_F(ContentHashCacheTest, AnUnchangedFileIsHashedOnce) {
    ContentHashCache cache(16, kNoWindow);
    const auto a = stillFile("a", "some bytes\n");
    EXPECT_EQ(cache.blobId(1, a).hex(), gitHash(a));
    EXPECT_EQ(cache.blobId(1, a).hex(), gitHash(a));
    EXPECT_EQ(cache.stats().misses, 1U);
    EXPECT_EQ(cache.stats().hits, 1U);
    EXPECT_EQ(cache.stats().entries, 1U);
}

TEST_F(ContentHashCacheTest, ARewriteWithTheSameSizeAndMtimeIsHashedAgain) {
    ContentHashCache cache(16, kNoWindow);
    const auto a = stillFile("a", "original\n");
    const std::string original = gitHash(a);
    ASSERT_EQ(cache.blobId(1, a).hex(), original);
    const timespec mtime = mtimeOf(a);

    writeBytes(a, "modified\n");  // same size, same inode
    setMtime(a, mtime);           // same mtime to the nanosecond: only ctime moved
    waitUntilStill(a, kNoWindow);
    const std::string modified = gitHash(a);
    ASSERT_NE(modified, original);
    EXPECT_EQ(cache.blobId(1, a).hex(), modified);

    writeBytes(a, "original\n");  // the original bytes back: a clean restore
    setMtime(a, mtime);
    waitUntilStill(a, kNoWindow);
    EXPECT_EQ(cache.blobId(1, a).hex(), original);
    EXPECT_EQ(cache.stats().hits, 0U);
    EXPECT_EQ(cache.stats().misses, 3U);
}

TEST_F(ContentHashCacheTest, ARacyFileIsHashedEveryTime) {
    // A window no file here is older than: every file counts as just written.
    ContentHashCache cache(16, std::chrono::hours(1));
    const auto a = stillFile("a", "fresh\n");
    EXPECT_EQ(cache.blobId(1, a).hex(), gitHash(a));
    EXPECT_EQ(cache.blobId(1, a).hex(), gitHash(a));
    EXPECT_EQ(cache.stats().hits, 0U);
    EXPECT_EQ(cache.stats().entries, 0U);
}

TEST_F(ContentHashCacheTest, TheBoundDropsTheLeastRecentlyUsed) {
    ContentHashCache cache(2, kNoWindow);
    const auto a = stillFile("a", "a\n");
    const auto b = stillFile("b", "b\n");
    const auto c = stillFile("c", "c\n");
    cache.blobId(1, a);
    cache.blobId(2, b);
    cache.blobId(1, a);  // a is now the most recent: b goes first
    cache.blobId(3, c);
    EXPECT_EQ(cache.stats().entries, 2U);
    const auto before = cache.stats();
    cache.blobId(1, a);
    cache.blobId(3, c);
    EXPECT_EQ(cache.stats().hits, before.hits + 2);
    cache.blobId(2, b);
    EXPECT_EQ(cache.stats().misses, before.misses + 1);
    EXPECT_EQ(cache.stats().entries, 2U);
}

TEST_F(ContentHashCacheTest, ClearAndAZeroBoundKeepNothing) {
    ContentHashCache cache(16, kNoWindow);
    const auto a = stillFile("a", "a\n");
    cache.blobId(1, a);
    cache.clear();
    EXPECT_EQ(cache.stats().entries, 0U);
    cache.blobId(1, a);
    EXPECT_EQ(cache.stats().hits, 0U);

    ContentHashCache none(0, kNoWindow);
    EXPECT_EQ(none.blobId(1, a).hex(), gitHash(a));
    EXPECT_EQ(none.stats().entries, 0U);
}

TEST_F(ContentHashCacheTest, AMissingFileIsFailed) {
    ContentHashCache cache(16, kNoWindow);
    try {
        cache.blobId(1, file("absent"));
        ADD_FAILURE() << "no ChangeSetError";
    } catch (const changes::ChangeSetError& e) {
        EXPECT_EQ(e.code(), changes::ChangeSetErrc::Failed);
        EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace megafuse::test
