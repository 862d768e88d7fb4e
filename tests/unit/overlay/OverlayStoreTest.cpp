// OverlayStore: entries and nodes, rename flags, recursive deletes, transactions, persistence
// across reopen, and recovery after a crash (orphans, missing content, a SIGKILLed writer).
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "overlay/OverlayStore.hpp"

namespace megafuse::overlay {
namespace {

using store::EntryKind;
using store::ObjectId;
using store::TreeEntry;

ObjectId idOf(uint8_t fill) {
    ObjectId::Raw raw{};
    raw.fill(fill);
    return ObjectId(raw);
}

std::string readAll(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeAll(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
}

class OverlayStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/overlay-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        overlay_ = OverlayStore::open(dir_);
        overlay_->materializeRoot(baseEntries(), attributesOfBaseKind(EntryKind::Directory));
    }
    void TearDown() override {
        overlay_.reset();
        std::filesystem::remove_all(dir_);
    }
    static std::vector<TreeEntry> baseEntries() {
        return {TreeEntry{"a.txt", idOf(1), EntryKind::Regular},
                TreeEntry{"run.sh", idOf(2), EntryKind::Executable},
                TreeEntry{"src", idOf(3), EntryKind::Directory}};
    }
    NodeId makeFile(NodeId dir, const std::string& name, const std::string& bytes) {
        NodeId node = 0;
        overlay_->transaction([&] {
            node = overlay_->createNode(NodeAttributes{});
            overlay_->put(dir, DirEntry::overlayNode(name, node));
        });
        writeAll(overlay_->contentPath(node), bytes);
        return node;
    }
    NodeId makeDir(NodeId dir, const std::string& name) {
        NodeId node = 0;
        overlay_->transaction([&] {
            node = overlay_->createNode(attributesOfBaseKind(EntryKind::Directory));
            overlay_->put(dir, DirEntry::overlayNode(name, node));
        });
        return node;
    }
    void reopen() {
        overlay_.reset();
        overlay_ = OverlayStore::open(dir_);
    }

    std::filesystem::path dir_;
    std::unique_ptr<OverlayStore> overlay_;
};

TEST_F(OverlayStoreTest, RootHoldsBaseEntriesInByteOrder) {
    EXPECT_FALSE(overlay_->empty());
    auto entries = overlay_->list(kRootNode);
    ASSERT_EQ(entries.size(), 3U);
    EXPECT_EQ(entries[0].name, "a.txt");
    EXPECT_TRUE(entries[0].isBase());
    EXPECT_EQ(entries[0].baseId, idOf(1));
    EXPECT_EQ(entries[1].baseKind, EntryKind::Executable);
    EXPECT_EQ(entries[2].baseKind, EntryKind::Directory);
    EXPECT_EQ(overlay_->entryCount(kRootNode), 3U);
    EXPECT_FALSE(overlay_->find(kRootNode, "nope"));
}

TEST_F(OverlayStoreTest, FreshOverlayIsEmptyWithoutBaseCommit) {
    auto fresh = OverlayStore::open(dir_ / "other");
    EXPECT_TRUE(fresh->empty());
    EXPECT_FALSE(fresh->baseCommit());
    fresh->setBaseCommit(idOf(9));
    EXPECT_EQ(fresh->baseCommit(), idOf(9));
}

TEST_F(OverlayStoreTest, CreateNodeOfEachType) {
    const NodeId file = makeFile(kRootNode, "new.txt", "hello");
    EXPECT_EQ(readAll(overlay_->contentPath(file)), "hello");
    EXPECT_EQ(overlay_->attributes(file).type, NodeType::File);

    const NodeId dir = makeDir(kRootNode, "d");
    EXPECT_EQ(overlay_->attributes(dir).type, NodeType::Directory);
    EXPECT_EQ(overlay_->entryCount(dir), 0U);

    NodeAttributes link;
    link.type = NodeType::Symlink;
    link.permissions = 0777;
    link.symlinkTarget = "a.txt";
    NodeAttributes fifo;
    fifo.type = NodeType::Fifo;
    overlay_->transaction([&] {
        overlay_->put(dir, DirEntry::overlayNode("l", overlay_->createNode(link)));
        overlay_->put(dir, DirEntry::overlayNode("f", overlay_->createNode(fifo)));
    });
    auto l = overlay_->find(dir, "l");
    ASSERT_TRUE(l);
    EXPECT_EQ(overlay_->attributes(l->node).symlinkTarget, "a.txt");
    EXPECT_EQ(overlay_->attributes(overlay_->find(dir, "f")->node).type, NodeType::Fifo);

    // Materializing a base directory: a node starting with the tree's entries.
    const NodeId src = overlay_->createNode(attributesOfBaseKind(EntryKind::Directory),
                                            {TreeEntry{"m.c", idOf(4), EntryKind::Regular}});
    overlay_->put(kRootNode, DirEntry::overlayNode("src", src));
    EXPECT_EQ(overlay_->find(src, "m.c")->baseId, idOf(4));
    EXPECT_EQ(overlay_->stats().materializedDirectories, 3U);
}

TEST_F(OverlayStoreTest, NonDirectoriesAreRejected) {
    const NodeId file = makeFile(kRootNode, "f", "");
    try {
        (void)overlay_->list(file);
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), ENOTDIR);
    }
    try {
        overlay_->put(12345, DirEntry::overlayNode("x", file));
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), ENOENT);
    }
}

TEST_F(OverlayStoreTest, PutReplacingANodeDeletesItAndItsContent) {
    const NodeId file = makeFile(kRootNode, "f", "old");
    const auto path = overlay_->contentPath(file);
    overlay_->put(kRootNode, DirEntry::base(TreeEntry{"f", idOf(7), EntryKind::Regular}));
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_THROW((void)overlay_->attributes(file), OverlayError);
    EXPECT_EQ(overlay_->find(kRootNode, "f")->baseId, idOf(7));
}

TEST_F(OverlayStoreTest, RemoveOfADirectoryDeletesEverythingBelow) {
    const NodeId d = makeDir(kRootNode, "d");
    const NodeId e = makeDir(d, "e");
    const NodeId f = makeFile(e, "f", "bytes");
    const auto path = overlay_->contentPath(f);
    EXPECT_TRUE(overlay_->remove(kRootNode, "d"));
    EXPECT_FALSE(overlay_->remove(kRootNode, "d"));
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_THROW((void)overlay_->attributes(e), OverlayError);
    EXPECT_EQ(overlay_->stats().nodes, 1U);             // the root
    EXPECT_TRUE(overlay_->remove(kRootNode, "a.txt"));  // a base entry: just the name
}

TEST_F(OverlayStoreTest, RenameMovesReplacesAndHonoursFlags) {
    const NodeId d = makeDir(kRootNode, "d");
    makeFile(kRootNode, "f", "F");
    // A base directory moves as one entry.
    overlay_->rename(kRootNode, "src", d, "moved", 0);
    EXPECT_FALSE(overlay_->find(kRootNode, "src"));
    EXPECT_EQ(overlay_->find(d, "moved")->baseId, idOf(3));
    // Replace: the overlay file f over the base a.txt.
    overlay_->rename(kRootNode, "f", kRootNode, "a.txt", 0);
    EXPECT_FALSE(overlay_->find(kRootNode, "f"));
    EXPECT_FALSE(overlay_->find(kRootNode, "a.txt")->isBase());
    // NoReplace over an existing name.
    try {
        overlay_->rename(kRootNode, "run.sh", kRootNode, "a.txt", kRenameNoReplace);
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), EEXIST);
    }
    // Exchange swaps; with a missing side it is ENOENT.
    const NodeId aNode = overlay_->find(kRootNode, "a.txt")->node;
    overlay_->rename(kRootNode, "run.sh", kRootNode, "a.txt", kRenameExchange);
    EXPECT_EQ(overlay_->find(kRootNode, "run.sh")->node, aNode);
    EXPECT_EQ(overlay_->find(kRootNode, "a.txt")->baseKind, EntryKind::Executable);
    try {
        overlay_->rename(kRootNode, "run.sh", kRootNode, "absent", kRenameExchange);
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), ENOENT);
    }
    try {
        overlay_->rename(kRootNode, "absent", kRootNode, "x", 0);
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), ENOENT);
    }
    // Onto itself: nothing happens.
    overlay_->rename(kRootNode, "run.sh", kRootNode, "run.sh", 0);
    EXPECT_EQ(overlay_->find(kRootNode, "run.sh")->node, aNode);
}

TEST_F(OverlayStoreTest, ReplacingByRenameDeletesTheTargetNode) {
    const NodeId old = makeFile(kRootNode, "old", "x");
    makeFile(kRootNode, "new", "y");
    const auto oldPath = overlay_->contentPath(old);
    overlay_->rename(kRootNode, "new", kRootNode, "old", 0);
    EXPECT_FALSE(std::filesystem::exists(oldPath));
    EXPECT_EQ(readAll(overlay_->contentPath(overlay_->find(kRootNode, "old")->node)), "y");
}

TEST_F(OverlayStoreTest, AttributesRoundTrip) {
    const NodeId d = makeDir(kRootNode, "d");
    NodeAttributes a = overlay_->attributes(d);
    a.permissions = 0710;
    a.uid = 12;
    a.gid = 34;
    a.mtime = timespec{1000, 5};
    a.ctime = timespec{2000, 6};
    overlay_->setAttributes(d, a);
    reopen();
    NodeAttributes b = overlay_->attributes(d);
    EXPECT_EQ(b.permissions, 0710U);
    EXPECT_EQ(b.uid, 12U);
    EXPECT_EQ(b.gid, 34U);
    EXPECT_EQ(b.mtime.tv_sec, 1000);
    EXPECT_EQ(b.mtime.tv_nsec, 5);
    EXPECT_EQ(b.ctime.tv_sec, 2000);
    EXPECT_THROW(overlay_->setAttributes(999, a), OverlayError);
}

TEST_F(OverlayStoreTest, FailedTransactionRollsBackEverything) {
    NodeId created = 0;
    EXPECT_THROW(overlay_->transaction([&] {
        created = overlay_->createNode(NodeAttributes{});
        overlay_->put(kRootNode, DirEntry::overlayNode("tmp", created));
        overlay_->remove(kRootNode, "a.txt");
        throw std::runtime_error("boom");
    }),
                 std::runtime_error);
    EXPECT_FALSE(overlay_->find(kRootNode, "tmp"));
    EXPECT_TRUE(overlay_->find(kRootNode, "a.txt"));
    EXPECT_FALSE(std::filesystem::exists(overlay_->contentPath(created)));
    EXPECT_EQ(overlay_->stats().nodes, 1U);
}

TEST_F(OverlayStoreTest, NestedFailureRollsBackOnlyItsOwnPart) {
    overlay_->transaction([&] {
        overlay_->remove(kRootNode, "a.txt");
        try {
            overlay_->transaction([&] {
                overlay_->remove(kRootNode, "run.sh");
                throw std::runtime_error("inner");
            });
        } catch (const std::runtime_error&) {
        }
    });
    EXPECT_FALSE(overlay_->find(kRootNode, "a.txt"));
    EXPECT_TRUE(overlay_->find(kRootNode, "run.sh"));
}

TEST_F(OverlayStoreTest, ReopenKeepsEverything) {
    overlay_->setBaseCommit(idOf(5));
    const NodeId d = makeDir(kRootNode, "d");
    const NodeId f = makeFile(d, "f", "content");
    overlay_->rename(kRootNode, "src", d, "src2", 0);
    overlay_->sync();
    reopen();
    EXPECT_EQ(overlay_->baseCommit(), idOf(5));
    EXPECT_EQ(overlay_->find(d, "f")->node, f);
    EXPECT_EQ(readAll(overlay_->contentPath(f)), "content");
    EXPECT_EQ(overlay_->find(d, "src2")->baseId, idOf(3));
    const OverlayStats stats = overlay_->stats();
    EXPECT_EQ(stats.nodes, 3U);
    EXPECT_EQ(stats.materializedDirectories, 2U);
    EXPECT_EQ(stats.contentBytes, 7U);
    // Node ids are never reused: a new node cannot inherit an old content path.
    EXPECT_GT(overlay_->createNode(NodeAttributes{}), f);
}

TEST_F(OverlayStoreTest, ClearForgetsNodesButKeepsTheBaseCommit) {
    overlay_->setBaseCommit(idOf(5));
    const NodeId f = makeFile(kRootNode, "f", "x");
    overlay_->clear();
    EXPECT_TRUE(overlay_->empty());
    EXPECT_EQ(overlay_->baseCommit(), idOf(5));
    EXPECT_FALSE(std::filesystem::exists(overlay_->contentPath(f)));
}

TEST_F(OverlayStoreTest, RecoveryDeletesOrphansAndRecreatesMissingContent) {
    const NodeId f = makeFile(kRootNode, "f", "x");
    overlay_.reset();
    const auto orphan = dir_ / "files" / "ff" / "255";
    std::filesystem::create_directories(orphan.parent_path());
    writeAll(orphan, "orphan");
    writeAll(dir_ / "files" / "junk", "junk");
    overlay_ = OverlayStore::open(dir_);
    EXPECT_FALSE(std::filesystem::exists(orphan));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "files" / "junk"));
    EXPECT_EQ(readAll(overlay_->contentPath(f)), "x");
}

TEST_F(OverlayStoreTest, MissingContentFileComesBackEmpty) {
    const NodeId g = makeFile(kRootNode, "g", "y");
    const auto path = overlay_->contentPath(g);
    overlay_.reset();
    std::filesystem::remove(path);
    overlay_ = OverlayStore::open(dir_);
    ASSERT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(std::filesystem::file_size(path), 0U);
}

TEST_F(OverlayStoreTest, NotAnOverlayIsEio) {
    const auto other = dir_ / "bad";
    std::filesystem::create_directories(other);
    writeAll(other / "overlay.db", std::string(4096, 'x'));
    try {
        (void)OverlayStore::open(other);
        FAIL();
    } catch (const OverlayError& e) {
        EXPECT_EQ(e.errnoValue(), EIO);
        EXPECT_NE(std::string(e.what()).find("overlay.db"), std::string::npos);
    }
}

// A child process creates, renames and deletes in a loop and is killed with SIGKILL at a random
// point (often inside a transaction); the reopened overlay must be consistent: every named file
// node has its content file, and no content file is left without a node.
TEST_F(OverlayStoreTest, KilledWriterLeavesAConsistentOverlay) {
    overlay_.reset();
    for (int round = 0; round < 3; ++round) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            auto o = OverlayStore::open(dir_);
            for (unsigned i = 0;; ++i) {
                const std::string name = "n" + std::to_string(i % 50);
                o->transaction([&] {
                    const NodeId d = o->createNode(attributesOfBaseKind(EntryKind::Directory));
                    o->put(kRootNode, DirEntry::overlayNode("d" + name, d));
                    const NodeId f = o->createNode(NodeAttributes{});
                    o->put(d, DirEntry::overlayNode("f", f));
                    o->rename(kRootNode, "d" + name, kRootNode, "e" + name, 0);
                });
                o->remove(kRootNode, "e" + std::to_string((i + 25) % 50));
            }
        }
        ::usleep(static_cast<useconds_t>(50'000 + round * 70'000));
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status));

        overlay_ = OverlayStore::open(dir_);
        size_t files = 0;
        for (const DirEntry& e : overlay_->list(kRootNode)) {
            if (e.isBase()) {
                continue;
            }
            auto f = overlay_->find(e.node, "f");
            ASSERT_TRUE(f) << e.name;
            EXPECT_TRUE(std::filesystem::exists(overlay_->contentPath(f->node)));
            ++files;
        }
        size_t onDisk = 0;
        for (const auto& folder : std::filesystem::directory_iterator(dir_ / "files")) {
            onDisk += static_cast<size_t>(
                std::distance(std::filesystem::directory_iterator(folder.path()),
                              std::filesystem::directory_iterator()));
        }
        EXPECT_EQ(onDisk, files);
        EXPECT_EQ(overlay_->stats().nodes, 1 + 2 * files);
        overlay_.reset();
    }
    overlay_ = OverlayStore::open(dir_);
}

// errno of an overlay call, 0 when it succeeds.
int errnoOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const OverlayError& e) {
        return e.errnoValue();
    }
    return 0;
}

TEST_F(OverlayStoreTest, XattrsOfABaseEntryAndOfTheRoot) {
    overlay_->setXattr(kRootNode, "a.txt", "user.b", "2", XattrMode::Any);
    overlay_->setXattr(kRootNode, "a.txt", "user.a", std::string("\0x", 2), XattrMode::Any);
    overlay_->setXattr(kRootNode, "", "user.root", "r", XattrMode::Any);
    EXPECT_EQ(overlay_->xattr(kRootNode, "a.txt", "user.a"), std::string("\0x", 2));
    EXPECT_EQ(overlay_->xattrNames(kRootNode, "a.txt"),
              (std::vector<std::string>{"user.a", "user.b"}));
    EXPECT_EQ(overlay_->xattr(kRootNode, "", "user.root"), "r");
    EXPECT_FALSE(overlay_->xattr(kRootNode, "run.sh", "user.a"));
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "run.sh").empty());
    EXPECT_EQ(overlay_->stats().nodes, 1U) << "a base file holds xattrs without a node";
    EXPECT_EQ(errnoOf([&] { (void)overlay_->xattr(kRootNode, "nope", "user.a"); }), ENOENT);
    EXPECT_EQ(
        errnoOf([&] { overlay_->setXattr(kRootNode, "nope", "user.a", "v", XattrMode::Any); }),
        ENOENT);
    EXPECT_EQ(errnoOf([&] { (void)overlay_->xattrNames(777, "x"); }), ENOENT);

    EXPECT_TRUE(overlay_->removeXattr(kRootNode, "a.txt", "user.b"));
    EXPECT_FALSE(overlay_->removeXattr(kRootNode, "a.txt", "user.b"));
    reopen();
    EXPECT_EQ(overlay_->xattrNames(kRootNode, "a.txt"), (std::vector<std::string>{"user.a"}));
    EXPECT_EQ(overlay_->xattr(kRootNode, "", "user.root"), "r");
}

TEST_F(OverlayStoreTest, XattrCreateAndReplaceModes) {
    EXPECT_EQ(
        errnoOf([&] { overlay_->setXattr(kRootNode, "a.txt", "user.k", "v", XattrMode::Replace); }),
        ENODATA);
    overlay_->setXattr(kRootNode, "a.txt", "user.k", "v", XattrMode::Create);
    EXPECT_EQ(
        errnoOf([&] { overlay_->setXattr(kRootNode, "a.txt", "user.k", "w", XattrMode::Create); }),
        EEXIST);
    overlay_->setXattr(kRootNode, "a.txt", "user.k", "w", XattrMode::Replace);
    EXPECT_EQ(overlay_->xattr(kRootNode, "a.txt", "user.k"), "w");
}

TEST_F(OverlayStoreTest, XattrBounds) {
    XattrLimits limits;
    limits.maxBytesPerEntry = 1000;
    limits.maxListBytes = 100;
    overlay_.reset();
    overlay_ = OverlayStore::open(dir_, limits);
    const auto set = [&](const std::string& name, size_t bytes) {
        return errnoOf([&] {
            overlay_->setXattr(kRootNode, "a.txt", name, std::string(bytes, 'v'), XattrMode::Any);
        });
    };
    EXPECT_EQ(set("user." + std::string(251, 'n'), 1), ERANGE);
    EXPECT_EQ(set("user." + std::string(250, 'n'), 1), ENOSPC) << "names alone exceed 100";
    EXPECT_EQ(set("user.big", (64 << 10) + 1), E2BIG);
    EXPECT_EQ(set("user.a", 900), 0);
    EXPECT_EQ(set("user.b", 100), ENOSPC) << "900 + 100 + the names exceed 1000";
    EXPECT_EQ(set("user.a", 980), 0) << "a replaced value counts once";
    EXPECT_EQ(set("user.a", 995), ENOSPC);
    EXPECT_EQ(overlay_->xattr(kRootNode, "a.txt", "user.a")->size(), 980U)
        << "a refused change changes nothing";
}

TEST_F(OverlayStoreTest, XattrsFollowTheirEntry) {
    const NodeId src = makeDir(kRootNode, "d");
    makeFile(src, "f", "f");
    makeFile(kRootNode, "g", "g");
    overlay_->setXattr(src, "f", "user.f", "F", XattrMode::Any);
    overlay_->setXattr(kRootNode, "g", "user.g", "G", XattrMode::Any);
    overlay_->setXattr(kRootNode, "d", "user.d", "D", XattrMode::Any);
    overlay_->setXattr(kRootNode, "a.txt", "user.a", "A", XattrMode::Any);

    // A rename carries them (a directory's children keep theirs: its node is the same).
    overlay_->rename(kRootNode, "d", kRootNode, "d2", 0);
    EXPECT_EQ(overlay_->xattr(kRootNode, "d2", "user.d"), "D");
    EXPECT_EQ(overlay_->xattr(src, "f", "user.f"), "F");
    // An exchange swaps them.
    overlay_->rename(kRootNode, "g", kRootNode, "a.txt", kRenameExchange);
    EXPECT_EQ(overlay_->xattr(kRootNode, "a.txt", "user.g"), "G");
    EXPECT_EQ(overlay_->xattr(kRootNode, "g", "user.a"), "A");
    EXPECT_FALSE(overlay_->xattr(kRootNode, "g", "user.g"));
    // A rename over a target drops the target's.
    overlay_->rename(kRootNode, "g", kRootNode, "a.txt", 0);
    EXPECT_EQ(overlay_->xattrNames(kRootNode, "a.txt"), (std::vector<std::string>{"user.a"}));
    // setIdentity (a copy-up) keeps them; put (a new file, a reset) drops them.
    const NodeId copy = overlay_->createNode(NodeAttributes{});
    overlay_->setIdentity(kRootNode, DirEntry::overlayNode("a.txt", copy));
    EXPECT_EQ(overlay_->xattr(kRootNode, "a.txt", "user.a"), "A");
    overlay_->put(kRootNode, DirEntry::base(TreeEntry{"a.txt", idOf(1), EntryKind::Regular}));
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "a.txt").empty());
    EXPECT_EQ(errnoOf([&] { overlay_->setIdentity(kRootNode, DirEntry::overlayNode("x", 5)); }),
              ENOENT);
    // remove() drops an entry's; removing a directory drops its children's.
    overlay_->setXattr(kRootNode, "run.sh", "user.r", "R", XattrMode::Any);
    ASSERT_TRUE(overlay_->remove(kRootNode, "run.sh"));
    ASSERT_TRUE(overlay_->remove(kRootNode, "d2"));
    const NodeId again = makeDir(kRootNode, "d2");
    makeFile(again, "f", "f");
    overlay_->put(kRootNode, DirEntry::base(TreeEntry{"run.sh", idOf(2), EntryKind::Executable}));
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "run.sh").empty());
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "d2").empty());
    EXPECT_TRUE(overlay_->xattrNames(again, "f").empty());
    EXPECT_EQ(errnoOf([&] { (void)overlay_->xattrNames(src, "f"); }), ENOENT);

    overlay_->clear();
    overlay_->materializeRoot(baseEntries(), attributesOfBaseKind(EntryKind::Directory));
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "").empty());
}

// An overlay last written by a daemon that did not know xattrs (its unlink left them behind):
// opening drops what no entry owns, so a new file of that name does not inherit them.
TEST_F(OverlayStoreTest, XattrsNobodyOwnsAreDroppedAtOpen) {
    overlay_->setXattr(kRootNode, "a.txt", "user.k", "v", XattrMode::Any);
    overlay_->setXattr(kRootNode, "", "user.root", "r", XattrMode::Any);
    overlay_.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "overlay.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DELETE FROM entries WHERE dir = 1 AND name = CAST('a.txt' AS BLOB);"
                           "INSERT INTO xattrs VALUES (999, CAST('x' AS BLOB), "
                           "CAST('user.k' AS BLOB), CAST('v' AS BLOB));",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);

    overlay_ = OverlayStore::open(dir_);
    overlay_->put(kRootNode, DirEntry::base(TreeEntry{"a.txt", idOf(1), EntryKind::Regular}));
    EXPECT_TRUE(overlay_->xattrNames(kRootNode, "a.txt").empty());
    EXPECT_EQ(overlay_->xattr(kRootNode, "", "user.root"), "r") << "the root's are owned";
}

TEST_F(OverlayStoreTest, XattrsRollBackWithTheirTransaction) {
    EXPECT_THROW(overlay_->transaction([&] {
        overlay_->setXattr(kRootNode, "a.txt", "user.k", "v", XattrMode::Any);
        throw OverlayError(EIO, "abort");
    }),
                 OverlayError);
    EXPECT_FALSE(overlay_->xattr(kRootNode, "a.txt", "user.k"));
}

// Ids come from the store's own counter (nodes has no AUTOINCREMENT): the id of the newest node
// comes back neither after its deletion nor after a rolled-back create, while the kernel may
// still hold an inode naming it.
TEST_F(OverlayStoreTest, NodeIdsNeverRepeatWithinASession) {
    makeFile(kRootNode, "keep", "k");
    const NodeId newest = makeFile(kRootNode, "gone", "g");
    ASSERT_TRUE(overlay_->remove(kRootNode, "gone"));
    EXPECT_GT(makeFile(kRootNode, "next", "n"), newest);
    NodeId rolledBack = 0;
    EXPECT_THROW(overlay_->transaction([&] {
        rolledBack = overlay_->createNode(NodeAttributes{});
        throw OverlayError(EIO, "abort");
    }),
                 OverlayError);
    EXPECT_GT(makeFile(kRootNode, "after", "a"), rolledBack);
}

// An overlay made while nodes.id had AUTOINCREMENT keeps opening, and its ids go on above every
// id it ever gave (sqlite_sequence), not only above those still in use.
TEST_F(OverlayStoreTest, OverlaysWithAutoincrementIdsKeepOpening) {
    overlay_.reset();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "overlay.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE nodes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "type INTEGER NOT NULL, permissions INTEGER NOT NULL, "
                           "uid INTEGER NOT NULL, gid INTEGER NOT NULL, "
                           "mtime_sec INTEGER NOT NULL, mtime_nsec INTEGER NOT NULL, "
                           "ctime_sec INTEGER NOT NULL, ctime_nsec INTEGER NOT NULL, target BLOB);"
                           "INSERT INTO nodes VALUES (1, 0, 493, 0, 0, 1, 0, 1, 0, NULL);"
                           "INSERT INTO nodes VALUES (40, 1, 420, 0, 0, 1, 0, 1, 0, NULL);"
                           "DELETE FROM nodes WHERE id = 40;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);

    overlay_ = OverlayStore::open(dir_);
    ASSERT_FALSE(overlay_->empty());
    const NodeId f = makeFile(kRootNode, "f", "x");
    EXPECT_GT(f, 40U);
    reopen();
    EXPECT_EQ(readAll(overlay_->contentPath(overlay_->find(kRootNode, "f")->node)), "x");
    EXPECT_GT(makeFile(kRootNode, "g", "y"), f);
}

}  // namespace
}  // namespace megafuse::overlay
