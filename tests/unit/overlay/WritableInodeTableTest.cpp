// WritableInodeTable: inodes follow renames, unlinked inodes live while referenced, exchange swaps
// names, forget erases and releases parents.
#include <gtest/gtest.h>

#include "fs/WritableInodeTable.hpp"

namespace megafuse::fs {
namespace {

using overlay::NodeType;

Identity node(overlay::NodeId id, NodeType type = NodeType::File) {
    return Identity::ofNode(id, type);
}

TEST(WritableInodeTableTest, SameNameSameInodeUntilForgotten) {
    WritableInodeTable table(node(1, NodeType::Directory));
    const auto a = table.lookup(FUSE_ROOT_ID, "a", node(2));
    EXPECT_EQ(table.lookup(FUSE_ROOT_ID, "a", node(2)).ino, a.ino);
    EXPECT_EQ(table.lookupCount(a.ino), 2U);
    table.forget(a.ino, 2);
    EXPECT_FALSE(table.get(a.ino));
    EXPECT_NE(table.lookup(FUSE_ROOT_ID, "a", node(2)).ino, a.ino) << "numbers never repeat";
}

TEST(WritableInodeTableTest, RenameMovesTheInodeAndUnlinksTheTarget) {
    WritableInodeTable table(node(1, NodeType::Directory));
    const auto dir = table.lookup(FUSE_ROOT_ID, "d", node(2, NodeType::Directory));
    const auto a = table.lookup(FUSE_ROOT_ID, "a", node(3));
    const auto b = table.lookup(dir.ino, "b", node(4));
    table.rename(FUSE_ROOT_ID, "a", dir.ino, "b");
    EXPECT_EQ(table.peekChild(dir.ino, "b"), a.ino);
    EXPECT_FALSE(table.peekChild(FUSE_ROOT_ID, "a"));
    EXPECT_TRUE(table.get(b.ino)->unlinked);
    EXPECT_EQ(table.get(a.ino)->parent, dir.ino);
    EXPECT_EQ(table.pathOf(a.ino), "d/b");
    EXPECT_TRUE(table.isAncestorOrSelf(dir.ino, a.ino));
    EXPECT_FALSE(table.isAncestorOrSelf(a.ino, dir.ino));
    // The unlinked inode goes with its last reference; the directory stays for a.
    table.forget(b.ino, 1);
    EXPECT_FALSE(table.get(b.ino));
    table.forget(dir.ino, 1);
    EXPECT_TRUE(table.get(dir.ino)) << "a live child keeps its parent";
    table.forget(a.ino, 1);
    EXPECT_FALSE(table.get(dir.ino));
    EXPECT_EQ(table.size(), 1U);
}

TEST(WritableInodeTableTest, ExchangeSwapsNames) {
    WritableInodeTable table(node(1, NodeType::Directory));
    const auto dir = table.lookup(FUSE_ROOT_ID, "d", node(2, NodeType::Directory));
    const auto a = table.lookup(FUSE_ROOT_ID, "a", node(3));
    const auto b = table.lookup(dir.ino, "b", node(4));
    table.exchange(FUSE_ROOT_ID, "a", dir.ino, "b");
    EXPECT_EQ(table.peekChild(dir.ino, "b"), a.ino);
    EXPECT_EQ(table.peekChild(FUSE_ROOT_ID, "a"), b.ino);
    EXPECT_EQ(table.get(b.ino)->name, "a");
    table.forget(a.ino, 1);
    table.forget(b.ino, 1);
    table.forget(dir.ino, 1);
    EXPECT_EQ(table.size(), 1U);
}

TEST(WritableInodeTableTest, MarkAllStaleAsksForReResolution) {
    WritableInodeTable table(node(1, NodeType::Directory));
    const auto a = table.lookup(FUSE_ROOT_ID, "a", node(3));
    EXPECT_FALSE(table.get(a.ino)->stale);
    table.markAllStale();
    EXPECT_TRUE(table.get(a.ino)->stale);
    EXPECT_FALSE(table.get(FUSE_ROOT_ID)->stale);
    table.setIdentity(a.ino, node(5));
    EXPECT_FALSE(table.get(a.ino)->stale);
    EXPECT_EQ(table.get(a.ino)->identity.node, 5U);
    EXPECT_EQ(table.liveNames().size(), 1U);
    EXPECT_EQ(table.liveInodes().size(), 2U);
}

}  // namespace
}  // namespace megafuse::fs
