// PersistenceTest: what the overlay keeps across unmount, remount and a killed daemon, and what
// it costs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "WritableFixture.hpp"
#include "overlay/OverlayStore.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

class PersistenceTest : public WritableFixture {};

TEST_F(PersistenceTest, ChangesComeBackAfterARemount) {
    {
        auto daemon = mount();
        writeFile(mountPoint() / "README.md", "changed\n");
        writeFile(mountPoint() / "new.txt", "new\n");
        std::filesystem::create_directories(mountPoint() / "x/y");
        std::filesystem::create_symlink("../new.txt", mountPoint() / "x/l");
        std::filesystem::remove(mountPoint() / "docs/b.txt");
        std::filesystem::permissions(mountPoint() / "src/util.c",
                                     std::filesystem::perms::owner_exec,
                                     std::filesystem::perm_options::add);
        daemon->stop();
    }
    auto daemon = mount();
    EXPECT_EQ(readFile(mountPoint() / "README.md"), "changed\n");
    EXPECT_EQ(readFile(mountPoint() / "new.txt"), "new\n");
    EXPECT_TRUE(std::filesystem::is_directory(mountPoint() / "x/y"));
    EXPECT_EQ(std::filesystem::read_symlink(mountPoint() / "x/l"), "../new.txt");
    EXPECT_FALSE(std::filesystem::exists(mountPoint() / "docs/b.txt"));
    EXPECT_TRUE(std::filesystem::exists(mountPoint() / "docs/a.txt"));
    struct stat st {};
    ASSERT_EQ(::stat((mountPoint() / "src/util.c").c_str(), &st), 0);
    EXPECT_NE(st.st_mode & S_IXUSR, 0U);
    daemon->stop();
}

std::string xattrOf(const std::filesystem::path& path, const char* name) {
    char buffer[256];
    const ssize_t n = ::getxattr(path.c_str(), name, buffer, sizeof buffer);
    return n < 0 ? std::string("errno ") + strerrorname_np(errno)
                 : std::string(buffer, static_cast<size_t>(n));
}

TEST_F(PersistenceTest, XattrsComeBackAfterARemountAndAKilledDaemon) {
    {
        auto daemon = mount();
        writeFile(mountPoint() / "new.txt", "new\n");
        ASSERT_EQ(::setxattr((mountPoint() / "new.txt").c_str(), "user.n", "1", 1, 0), 0);
        ASSERT_EQ(::setxattr((mountPoint() / "src/util.c").c_str(), "user.b", "2", 1, 0), 0);
        ASSERT_EQ(::setxattr((mountPoint() / "src").c_str(), "user.d", "3", 1, 0), 0);
        ASSERT_EQ(::setxattr(mountPoint().c_str(), "user.r", "4", 1, 0), 0);
        daemon->stop();
    }
    {
        auto daemon = mount();
        EXPECT_EQ(xattrOf(mountPoint() / "new.txt", "user.n"), "1");
        EXPECT_EQ(xattrOf(mountPoint() / "src/util.c", "user.b"), "2");
        EXPECT_EQ(xattrOf(mountPoint() / "src", "user.d"), "3");
        EXPECT_EQ(xattrOf(mountPoint(), "user.r"), "4");
        // Committed before the reply: a SIGKILL right after loses nothing.
        ASSERT_EQ(::setxattr((mountPoint() / "docs/a.txt").c_str(), "user.k", "5", 1, 0), 0);
        ASSERT_EQ(::removexattr((mountPoint() / "src/util.c").c_str(), "user.b"), 0);
        ASSERT_EQ(::kill(daemon->pid(), SIGKILL), 0);
        EXPECT_TRUE(waitUntilUnmounted(mountPoint(), std::chrono::seconds(20)));
        daemon->stop();
    }
    auto daemon = mount();
    EXPECT_EQ(xattrOf(mountPoint() / "docs/a.txt", "user.k"), "5");
    EXPECT_EQ(xattrOf(mountPoint() / "src/util.c", "user.b"), "errno ENODATA");
    EXPECT_EQ(xattrOf(mountPoint() / "new.txt", "user.n"), "1");
    daemon->stop();
}

TEST_F(PersistenceTest, RenamingAFolderOfBaseFilesCopiesNoBytes) {
    const auto native = nativeCopy("native");
    {
        auto daemon = mount();
        std::filesystem::rename(mountPoint() / "many", mountPoint() / "src/many-moved");
        EXPECT_EQ(joinDifferences(compareTrees(native / "many", mountPoint() / "src/many-moved")),
                  "");
        daemon->stop();
    }
    auto overlay = overlay::OverlayStore::open(overlayDir());
    const overlay::OverlayStats stats = overlay->stats();
    EXPECT_EQ(stats.contentBytes, 0U);
    EXPECT_EQ(stats.nodes, 2U) << "the root and src/ are materialized, nothing else";
}

TEST_F(PersistenceTest, BaseFilesReadWithoutCopies) {
    auto daemon = mount();
    const auto native = nativeCopy("native");
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint())), "");
    daemon->stop();
    auto overlay = overlay::OverlayStore::open(overlayDir());
    EXPECT_TRUE(overlay->empty());
}

}  // namespace
}  // namespace megafuse::test
