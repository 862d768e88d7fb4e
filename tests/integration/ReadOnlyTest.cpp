// ReadOnlyTest: the mount is read-only — every way of changing it fails with EROFS and changes
// nothing — while statvfs still answers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "MountFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

class ReadOnlyTest : public MountFixture {};

TEST_F(ReadOnlyTest, EveryChangeFailsWithErofs) {
    auto daemon = mount(request(repo_.dir.string(), "main"));
    const auto at = [this](const char* relative) { return (mountPoint() / relative).string(); };

    struct Attempt {
        const char* what;
        std::function<int()> call;  // returns the syscall's result (-1 and errno on failure)
    };
    const std::vector<Attempt> attempts = {
        {"create a file",
         [&] { return UniqueFd(::open(at("created").c_str(), O_CREAT | O_WRONLY, 0644)).get(); }},
        {"create in a subdirectory",
         [&] { return UniqueFd(::open(at("a/b/created").c_str(), O_CREAT | O_RDWR, 0644)).get(); }},
        {"open for writing",
         [&] { return UniqueFd(::open(at("README.md").c_str(), O_WRONLY)).get(); }},
        {"open read-write",
         [&] { return UniqueFd(::open(at("README.md").c_str(), O_RDWR)).get(); }},
        {"open with O_TRUNC",
         [&] { return UniqueFd(::open(at("README.md").c_str(), O_WRONLY | O_TRUNC)).get(); }},
        {"open for append",
         [&] { return UniqueFd(::open(at("a/b/one.txt").c_str(), O_WRONLY | O_APPEND)).get(); }},
        {"truncate", [&] { return ::truncate(at("README.md").c_str(), 0); }},
        {"mkdir", [&] { return ::mkdir(at("newdir").c_str(), 0755); }},
        {"rmdir of an empty directory (gitlink)",
         [&] { return ::rmdir(at("sub/module").c_str()); }},
        {"unlink", [&] { return ::unlink(at("README.md").c_str()); }},
        {"unlink a symlink", [&] { return ::unlink(at("links/dangling").c_str()); }},
        {"rename", [&] { return ::rename(at("README.md").c_str(), at("RENAMED.md").c_str()); }},
        {"rename a directory", [&] { return ::rename(at("a/b").c_str(), at("a/moved").c_str()); }},
        {"chmod", [&] { return ::chmod(at("run.sh").c_str(), 0600); }},
        {"chmod a directory", [&] { return ::chmod(at("a").c_str(), 0700); }},
        {"chown", [&] { return ::chown(at("run.sh").c_str(), 1, 1); }},
        {"utimes", [&] { return ::utimensat(AT_FDCWD, at("run.sh").c_str(), nullptr, 0); }},
        {"symlink", [&] { return ::symlink("README.md", at("newlink").c_str()); }},
        {"hard link", [&] { return ::link(at("README.md").c_str(), at("hardlink").c_str()); }},
        {"mkfifo", [&] { return ::mkfifo(at("fifo").c_str(), 0644); }},
        {"setxattr", [&] { return ::setxattr(at("README.md").c_str(), "user.test", "v", 1, 0); }},
    };
    for (const auto& attempt : attempts) {
        errno = 0;
        const int result = attempt.call();
        const int error = errno;
        EXPECT_EQ(result, -1) << attempt.what << " succeeded on a read-only mount";
        EXPECT_EQ(error, EROFS) << attempt.what << ": " << errnoText(error) << " instead of "
                                << errnoText(EROFS);
    }

    // Nothing changed.
    extractRevision(repo_.dir, "main", "", dir_ / "oracle");
    auto differences = compareTrees(dir_ / "oracle", mountPoint());
    EXPECT_TRUE(differences.empty()) << joinDifferences(differences);
    EXPECT_EQ(daemon->stop().status, 0);
}

TEST_F(ReadOnlyTest, StatvfsAnswers) {
    auto daemon = mount(request(repo_.dir.string(), "main"));
    for (const char* relative : {"", "a/b", "README.md"}) {
        struct statvfs info {};
        ASSERT_EQ(::statvfs((mountPoint() / relative).c_str(), &info), 0)
            << relative << ": " << errnoText(errno);
        EXPECT_GT(info.f_bsize, 0U) << relative;
        EXPECT_GE(info.f_namemax, 255U) << relative;
        EXPECT_NE(info.f_flag & ST_RDONLY, 0U)
            << relative << ": the mount is not flagged read-only";
    }
    EXPECT_EQ(daemon->stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
