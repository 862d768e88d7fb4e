// InodeTableTest: lookup-count accounting, reuse of live inodes, cascading release of parents.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "fs/InodeTable.hpp"

namespace megafuse::test {
namespace {

using fs::InodeTable;
using store::EntryKind;
using store::ObjectId;
using store::TreeEntry;

ObjectId idOf(uint8_t n) {
    ObjectId::Raw raw{};
    raw[0] = n;
    return ObjectId(raw);
}

TreeEntry entry(const std::string& name, EntryKind kind, uint8_t n) {
    return TreeEntry{name, idOf(n), kind};
}

TEST(InodeTableTest, RootExistsFromTheStart) {
    InodeTable table(idOf(1));
    auto root = table.get(FUSE_ROOT_ID);
    ASSERT_TRUE(root);
    EXPECT_EQ(root->id, idOf(1));
    EXPECT_TRUE(root->isDirectory());
    EXPECT_EQ(root->parent, FUSE_ROOT_ID);
    EXPECT_EQ(table.size(), 1U);
}

TEST(InodeTableTest, SameNameGivesSameInodeAndCountsLookups) {
    InodeTable table(idOf(1));
    auto first = table.lookup(FUSE_ROOT_ID, entry("a.txt", EntryKind::Regular, 2), 10);
    auto second = table.lookup(FUSE_ROOT_ID, entry("a.txt", EntryKind::Regular, 2), 999);
    EXPECT_EQ(first.ino, second.ino);
    EXPECT_NE(first.ino, FUSE_ROOT_ID);
    EXPECT_EQ(second.size, 10U) << "an existing inode keeps the size it was made with";
    EXPECT_EQ(table.lookupCount(first.ino), 2U);

    auto third = table.lookupExisting(FUSE_ROOT_ID, "a.txt");
    ASSERT_TRUE(third);
    EXPECT_EQ(third->ino, first.ino);
    EXPECT_EQ(table.lookupCount(first.ino), 3U);
    EXPECT_FALSE(table.lookupExisting(FUSE_ROOT_ID, "missing"));
}

TEST(InodeTableTest, ForgetReleasesOnlyAtZero) {
    InodeTable table(idOf(1));
    auto file = table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1);
    table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1);
    table.forget(file.ino, 1);
    EXPECT_TRUE(table.get(file.ino));
    EXPECT_EQ(table.peekChild(FUSE_ROOT_ID, "f"), file.ino);
    table.forget(file.ino, 1);
    EXPECT_FALSE(table.get(file.ino));
    EXPECT_FALSE(table.peekChild(FUSE_ROOT_ID, "f"));
    EXPECT_EQ(table.size(), 1U);
}

TEST(InodeTableTest, ForgottenNameGetsAFreshNumber) {
    InodeTable table(idOf(1));
    auto before = table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1);
    table.forget(before.ino, 1);
    auto after = table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1);
    EXPECT_NE(before.ino, after.ino) << "numbers never repeat within a session";
}

TEST(InodeTableTest, ForgetMultiCountsAtOnce) {
    InodeTable table(idOf(1));
    fuse_ino_t ino = 0;
    for (int i = 0; i < 5; ++i) {
        ino = table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1).ino;
    }
    table.forget(ino, 5);
    EXPECT_FALSE(table.get(ino));
}

TEST(InodeTableTest, OverForgetIsClampedAndUnknownIgnored) {
    InodeTable table(idOf(1));
    auto file = table.lookup(FUSE_ROOT_ID, entry("f", EntryKind::Regular, 2), 1);
    table.forget(file.ino, 7);
    EXPECT_FALSE(table.get(file.ino));
    table.forget(12345, 1);         // unknown: ignored
    table.forget(FUSE_ROOT_ID, 9);  // the root lives as long as the mount
    EXPECT_TRUE(table.get(FUSE_ROOT_ID));
}

TEST(InodeTableTest, ParentLivesWhileAChildDoesThenGoesWithIt) {
    InodeTable table(idOf(1));
    auto dir = table.lookup(FUSE_ROOT_ID, entry("d", EntryKind::Directory, 2), 0);
    auto sub = table.lookup(dir.ino, entry("e", EntryKind::Directory, 3), 0);
    auto file = table.lookup(sub.ino, entry("f", EntryKind::Executable, 4), 5);
    EXPECT_EQ(table.pathOf(file.ino), "d/e/f");

    // The kernel may forget a directory before its child; the child keeps the chain alive.
    table.forget(dir.ino, 1);
    table.forget(sub.ino, 1);
    EXPECT_TRUE(table.get(dir.ino));
    EXPECT_TRUE(table.get(sub.ino));
    EXPECT_EQ(table.get(file.ino)->parent, sub.ino);

    // A lookup of the still-live directory reuses its number.
    EXPECT_EQ(table.lookup(FUSE_ROOT_ID, entry("d", EntryKind::Directory, 2), 0).ino, dir.ino);
    table.forget(dir.ino, 1);

    table.forget(file.ino, 1);
    EXPECT_FALSE(table.get(file.ino));
    EXPECT_FALSE(table.get(sub.ino));
    EXPECT_FALSE(table.get(dir.ino));
    EXPECT_EQ(table.size(), 1U);
}

TEST(InodeTableTest, SameNameInDifferentDirectoriesIsDifferent) {
    InodeTable table(idOf(1));
    auto a = table.lookup(FUSE_ROOT_ID, entry("a", EntryKind::Directory, 2), 0);
    auto b = table.lookup(FUSE_ROOT_ID, entry("b", EntryKind::Directory, 2), 0);
    auto inA = table.lookup(a.ino, entry("x", EntryKind::Regular, 3), 1);
    auto inB = table.lookup(b.ino, entry("x", EntryKind::Regular, 3), 1);
    EXPECT_NE(inA.ino, inB.ino);
    EXPECT_NE(a.ino, b.ino) << "same tree id, different paths: different inodes";
}

TEST(InodeTableTest, NamesWithAnyBytes) {
    InodeTable table(idOf(1));
    const std::string odd("sp ace\ttab\xff\x01", 12);
    auto file = table.lookup(FUSE_ROOT_ID, entry(odd, EntryKind::Regular, 2), 1);
    EXPECT_EQ(table.peekChild(FUSE_ROOT_ID, odd), file.ino);
    EXPECT_EQ(table.pathOf(file.ino), odd);
}

TEST(InodeTableTest, SymlinkTargetIsKeptPerInode) {
    InodeTable table(idOf(1));
    auto link = table.lookup(FUSE_ROOT_ID, entry("l", EntryKind::Symlink, 2), 6);
    EXPECT_FALSE(table.symlinkTarget(link.ino));
    table.setSymlinkTarget(link.ino, "target");
    EXPECT_EQ(table.symlinkTarget(link.ino), "target");
}

TEST(InodeTableTest, ListingPrefetchIsClaimedOncePerRecentListing) {
    using namespace std::chrono_literals;
    InodeTable table(idOf(1));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(table.claimListingPrefetch(FUSE_ROOT_ID, t0, 10s)) << "never listed";
    table.markListed(FUSE_ROOT_ID, t0);
    EXPECT_TRUE(table.claimListingPrefetch(FUSE_ROOT_ID, t0 + 1s, 10s));
    EXPECT_FALSE(table.claimListingPrefetch(FUSE_ROOT_ID, t0 + 2s, 10s)) << "already claimed";
    table.markListed(FUSE_ROOT_ID, t0 + 3s);
    EXPECT_FALSE(table.claimListingPrefetch(FUSE_ROOT_ID, t0 + 20s, 10s)) << "listing too old";
}

TEST(InodeTableTest, SecondMissInABurstClaimsTheDirectoryBatchOnce) {
    using namespace std::chrono_literals;
    InodeTable table(idOf(1));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(table.claimSecondMissPrefetch(FUSE_ROOT_ID, t0, 10s)) << "one cat: one blob";
    EXPECT_TRUE(table.claimSecondMissPrefetch(FUSE_ROOT_ID, t0 + 1s, 10s)) << "a walk begins";
    EXPECT_FALSE(table.claimSecondMissPrefetch(FUSE_ROOT_ID, t0 + 2s, 10s)) << "claimed once";
    EXPECT_FALSE(table.claimSecondMissPrefetch(FUSE_ROOT_ID, t0 + 20s, 10s)) << "new burst";
    EXPECT_TRUE(table.claimSecondMissPrefetch(FUSE_ROOT_ID, t0 + 21s, 10s));
    EXPECT_FALSE(table.claimSecondMissPrefetch(12345, t0, 10s)) << "unknown inode";
}

TEST(InodeTableTest, ConcurrentLookupsAndForgetsBalance) {
    InodeTable table(idOf(1));
    constexpr int kThreads = 4;
    constexpr int kRounds = 2000;
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&table, t] {
            for (int i = 0; i < kRounds; ++i) {
                auto dir = table.lookup(FUSE_ROOT_ID, entry("d", EntryKind::Directory, 2), 0);
                auto file = table.lookup(
                    dir.ino, entry("f" + std::to_string((i + t) % 7), EntryKind::Regular, 3), 1);
                table.forget(dir.ino, 1);
                table.forget(file.ino, 1);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(table.size(), 1U);
}

// Refresh: a directory gets a new tree under its inode number.
class InodeTableSwapTest : public ::testing::Test {
protected:
    InodeTableSwapTest()
        : oldRoot_(idOf(1),
                   {entry("keep.txt", EntryKind::Regular, 2),
                    entry("changed.txt", EntryKind::Regular, 3),
                    entry("gone.txt", EntryKind::Regular, 4), entry("d", EntryKind::Directory, 5),
                    entry("kind", EntryKind::Directory, 9)}),
          newRoot_(
              idOf(10),
              {entry("keep.txt", EntryKind::Regular, 2),
               entry("changed.txt", EntryKind::Regular, 6), entry("d", EntryKind::Directory, 7),
               entry("kind", EntryKind::Regular, 9), entry("added", EntryKind::Regular, 8)}) {
        for (const auto& e : oldRoot_.entries()) {
            inos_[e.name] = table_.lookup(FUSE_ROOT_ID, e, 1).ino;
        }
    }

    InodeTable table_{idOf(1)};
    store::Tree oldRoot_;
    store::Tree newRoot_;
    std::map<std::string, fuse_ino_t> inos_;
};

TEST_F(InodeTableSwapTest, UnchangedAndKeptDirectoriesStayTheRestIsDetached) {
    auto detached = table_.swapTree(FUSE_ROOT_ID, idOf(1), newRoot_, &oldRoot_, {inos_["d"]});
    ASSERT_TRUE(detached);
    EXPECT_EQ(std::set<std::string>(detached->begin(), detached->end()),
              (std::set<std::string>{"changed.txt", "gone.txt", "kind"}));
    EXPECT_EQ(table_.get(FUSE_ROOT_ID)->id, idOf(10));
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "keep.txt"), inos_["keep.txt"]);
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "d"), inos_["d"]);
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "changed.txt"), std::nullopt);
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "gone.txt"), std::nullopt);
    // A detached inode lives on for the kernel's references, with its old blob.
    EXPECT_EQ(table_.get(inos_["changed.txt"])->id, idOf(3));

    const auto fresh = table_.lookup(FUSE_ROOT_ID, entry("changed.txt", EntryKind::Regular, 6), 1);
    EXPECT_NE(fresh.ino, inos_["changed.txt"]);
    table_.forget(inos_["changed.txt"], 1);  // the old one goes; the name stays the new one's
    EXPECT_FALSE(table_.get(inos_["changed.txt"]));
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "changed.txt"), fresh.ino);
}

TEST_F(InodeTableSwapTest, WithoutTheOldTreeTheTableIsScanned) {
    auto detached = table_.swapTree(FUSE_ROOT_ID, idOf(1), newRoot_, nullptr, {});
    ASSERT_TRUE(detached);
    EXPECT_EQ(std::set<std::string>(detached->begin(), detached->end()),
              (std::set<std::string>{"changed.txt", "gone.txt", "kind", "d"}));
    EXPECT_EQ(table_.liveChildren(FUSE_ROOT_ID, nullptr).size(), 1U);  // keep.txt
}

TEST_F(InodeTableSwapTest, AStaleExpectationSwapsNothing) {
    EXPECT_FALSE(table_.swapTree(FUSE_ROOT_ID, idOf(99), newRoot_, &oldRoot_, {}));
    EXPECT_EQ(table_.get(FUSE_ROOT_ID)->id, idOf(1));
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "gone.txt"), inos_["gone.txt"]);
}

TEST_F(InodeTableSwapTest, LookupsFromTheOldTreeMakeNothingAfterASwap) {
    ASSERT_TRUE(table_.swapTree(FUSE_ROOT_ID, idOf(1), newRoot_, &oldRoot_, {}));
    EXPECT_FALSE(
        table_.lookupInTree(FUSE_ROOT_ID, idOf(1), entry("gone.txt", EntryKind::Regular, 4), 1));
    EXPECT_EQ(table_.peekChild(FUSE_ROOT_ID, "gone.txt"), std::nullopt);
    auto added =
        table_.lookupInTree(FUSE_ROOT_ID, idOf(10), entry("added", EntryKind::Regular, 8), 1);
    ASSERT_TRUE(added);
    EXPECT_EQ(added->id, idOf(8));
}

}  // namespace
}  // namespace megafuse::test
