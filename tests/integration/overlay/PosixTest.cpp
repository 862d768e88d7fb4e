// PosixTest: each operation a build or an editor does, run in the mount and in a native checkout
// of the same base; the errno (or success) must match, and so must the trees afterwards. Where
// the mount answers differently on purpose (link, device nodes, xattrs) the test says so.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "WritableFixture.hpp"
#include "common/UniqueFd.hpp"
#include "overlay/OverlayStore.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

using Path = std::filesystem::path;

struct Operation {
    const char* name;
    std::function<int(const Path& root)> run;  // errno, 0 for success
};

int openClose(const Path& path, int flags, mode_t mode = 0644) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) {
        return errno;
    }
    ::close(fd);
    return 0;
}

int writeAt(const Path& path, int flags, const std::string& bytes) {
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
    if (!fd) {
        return errno;
    }
    if (::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        return errno;
    }
    return ::fsync(fd.get()) != 0 ? errno : 0;
}

int renameFlags(const Path& from, const Path& to, unsigned flags) {
    return errnoOf(
        [&] { return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags); });
}

const std::vector<Operation>& operations() {
    static const std::vector<Operation> ops = {
        {"create new file",
         [](const Path& r) { return openClose(r / "new.txt", O_CREAT | O_WRONLY); }},
        {"O_EXCL on existing base file",
         [](const Path& r) { return openClose(r / "README.md", O_CREAT | O_EXCL | O_WRONLY); }},
        {"O_EXCL on existing new file",
         [](const Path& r) { return openClose(r / "new.txt", O_CREAT | O_EXCL | O_WRONLY); }},
        {"open missing without O_CREAT",
         [](const Path& r) { return openClose(r / "nope", O_RDONLY); }},
        {"open directory for writing",
         [](const Path& r) { return openClose(r / "src", O_WRONLY); }},
        {"open through a file",
         [](const Path& r) { return openClose(r / "README.md/x", O_RDONLY); }},
        {"O_TRUNC of a base file",
         [](const Path& r) { return writeAt(r / "docs/a.txt", O_WRONLY | O_TRUNC, "short\n"); }},
        {"O_APPEND to a base file",
         [](const Path& r) { return writeAt(r / "docs/b.txt", O_WRONLY | O_APPEND, "more\n"); }},
        {"write in the middle of a base file",
         [](const Path& r) {
             UniqueFd fd(::open((r / "src/util.h").c_str(), O_RDWR | O_CLOEXEC));
             return !fd || ::pwrite(fd.get(), "INT", 3, 0) != 3 ? errno : 0;
         }},
        {"truncate grows a base file",
         [](const Path& r) {
             return errnoOf([&] { return ::truncate((r / "README.md").c_str(), 100); });
         }},
        {"truncate shrinks a base file",
         [](const Path& r) {
             return errnoOf([&] { return ::truncate((r / "src/main.c").c_str(), 5); });
         }},
        {"truncate a directory",
         [](const Path& r) { return errnoOf([&] { return ::truncate((r / "src").c_str(), 0); }); }},
        {"fallocate",
         [](const Path& r) {
             UniqueFd fd(::open((r / "alloc.bin").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
             return !fd || ::posix_fallocate(fd.get(), 0, 1 << 20) != 0 ? EIO : 0;
         }},
        {"unlink a base file",
         [](const Path& r) {
             return errnoOf([&] { return ::unlink((r / "docs/b.txt").c_str()); });
         }},
        {"unlink missing",
         [](const Path& r) { return errnoOf([&] { return ::unlink((r / "nope").c_str()); }); }},
        {"unlink a directory",
         [](const Path& r) { return errnoOf([&] { return ::unlink((r / "src").c_str()); }); }},
        {"mkdir",
         [](const Path& r) {
             return errnoOf([&] { return ::mkdir((r / "newdir").c_str(), 0755); });
         }},
        {"mkdir existing",
         [](const Path& r) { return errnoOf([&] { return ::mkdir((r / "src").c_str(), 0755); }); }},
        {"mkdir below a file",
         [](const Path& r) {
             return errnoOf([&] { return ::mkdir((r / "README.md/d").c_str(), 0755); });
         }},
        {"rmdir non-empty base dir",
         [](const Path& r) { return errnoOf([&] { return ::rmdir((r / "src").c_str()); }); }},
        {"rmdir a file",
         [](const Path& r) { return errnoOf([&] { return ::rmdir((r / "README.md").c_str()); }); }},
        {"rmdir empty new dir",
         [](const Path& r) {
             ::mkdir((r / "gone").c_str(), 0755);
             return errnoOf([&] { return ::rmdir((r / "gone").c_str()); });
         }},
        {"rmdir a dir emptied of base files",
         [](const Path& r) {
             ::unlink((r / "src/deep/er/leaf.txt").c_str());
             return errnoOf([&] { return ::rmdir((r / "src/deep/er").c_str()); });
         }},
        {"rename a base file",
         [](const Path& r) { return renameFlags(r / "docs/a.txt", r / "docs/a2.txt", 0); }},
        {"rename over an existing file",
         [](const Path& r) { return renameFlags(r / "new.txt", r / "README.md", 0); }},
        {"rename a base dir into a new dir",
         [](const Path& r) { return renameFlags(r / "src/deep", r / "newdir/deep", 0); }},
        {"rename a dir into itself",
         [](const Path& r) { return renameFlags(r / "newdir", r / "newdir/deep/inside", 0); }},
        {"rename a file over a dir",
         [](const Path& r) { return renameFlags(r / "README.md", r / "docs", 0); }},
        {"rename a dir over a file",
         [](const Path& r) { return renameFlags(r / "docs", r / "README.md", 0); }},
        {"rename a dir over a non-empty dir",
         [](const Path& r) { return renameFlags(r / "docs", r / "src", 0); }},
        {"rename a dir over an empty dir",
         [](const Path& r) {
             ::mkdir((r / "empty").c_str(), 0755);
             return renameFlags(r / "docs", r / "empty", 0);
         }},
        {"rename missing", [](const Path& r) { return renameFlags(r / "nope", r / "nope2", 0); }},
        {"rename onto itself",
         [](const Path& r) { return renameFlags(r / "README.md", r / "README.md", 0); }},
        {"RENAME_NOREPLACE onto existing",
         [](const Path& r) {
             return renameFlags(r / "bin/run.sh", r / "README.md", RENAME_NOREPLACE);
         }},
        {"RENAME_NOREPLACE to a free name",
         [](const Path& r) {
             return renameFlags(r / "bin/run.sh", r / "bin/run2.sh", RENAME_NOREPLACE);
         }},
        {"RENAME_EXCHANGE with a missing name",
         [](const Path& r) { return renameFlags(r / "bin/run2.sh", r / "nope", RENAME_EXCHANGE); }},
        {"RENAME_EXCHANGE of a file and a dir",
         [](const Path& r) {
             return renameFlags(r / "bin/run2.sh", r / "empty", RENAME_EXCHANGE);
         }},
        {"symlink",
         [](const Path& r) {
             return errnoOf([&] { return ::symlink("src/util.c", (r / "ln").c_str()); });
         }},
        {"symlink over existing",
         [](const Path& r) {
             return errnoOf([&] { return ::symlink("x", (r / "README.md").c_str()); });
         }},
        {"readlink of a file",
         [](const Path& r) {
             char buf[64];
             return errnoOf([&] {
                 return static_cast<int>(::readlink((r / "README.md").c_str(), buf, sizeof buf));
             });
         }},
        {"chmod +x of a base file",
         [](const Path& r) {
             return errnoOf([&] { return ::chmod((r / "src/util.c").c_str(), 0755); });
         }},
        {"chmod -x of a base file",
         [](const Path& r) {
             return errnoOf([&] { return ::chmod((r / "bin/run.sh").c_str(), 0644); });
         }},
        {"chmod of a base dir",
         [](const Path& r) {
             return errnoOf([&] { return ::chmod((r / "many").c_str(), 0700); });
         }},
        {"mkfifo",
         [](const Path& r) {
             return errnoOf([&] { return ::mkfifo((r / "fifo").c_str(), 0644); });
         }},
        {"mknod a regular file",
         [](const Path& r) {
             return errnoOf([&] { return ::mknod((r / "plain").c_str(), S_IFREG | 0644, 0); });
         }},
        {"unlink while open, then use the fd",
         [](const Path& r) {
             UniqueFd fd(::open((r / "tmpfile").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
             if (!fd || ::unlink((r / "tmpfile").c_str()) != 0 ||
                 ::write(fd.get(), "abc", 3) != 3) {
                 return errno;
             }
             char buf[4] = {};
             struct stat st {};
             if (::pread(fd.get(), buf, 3, 0) != 3 || ::fstat(fd.get(), &st) != 0) {
                 return errno;
             }
             return std::string(buf) == "abc" && st.st_size == 3 ? 0 : EBADMSG;
         }},
        {"an open fd follows a rename",
         [](const Path& r) {
             UniqueFd fd(::open((r / "src/util.c").c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
             if (!fd || ::rename((r / "src/util.c").c_str(), (r / "src/moved.c").c_str()) != 0 ||
                 ::write(fd.get(), "// tail\n", 8) != 8) {
                 return errno;
             }
             return 0;
         }},
        {"utimensat with UTIME_OMIT and a fixed mtime",
         [](const Path& r) {
             const timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 5}};
             if (::utimensat(AT_FDCWD, (r / "src/util.h").c_str(), times, 0) != 0) {
                 return errno;
             }
             struct stat st {};
             ::stat((r / "src/util.h").c_str(), &st);
             return st.st_mtim.tv_sec == 1'000'000'000 && st.st_mtim.tv_nsec == 5 ? 0 : EBADMSG;
         }},
        {"utimensat UTIME_NOW on a base file",
         [](const Path& r) {
             const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
             return errnoOf(
                 [&] { return ::utimensat(AT_FDCWD, (r / "many/file-1.txt").c_str(), times, 0); });
         }},
        {"flock and a POSIX lock",
         [](const Path& r) {
             UniqueFd fd(::open((r / "README.md").c_str(), O_RDWR | O_CLOEXEC));
             struct flock lock {};
             lock.l_type = F_WRLCK;
             lock.l_whence = SEEK_SET;
             if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 ||
                 ::fcntl(fd.get(), F_SETLK, &lock) != 0) {
                 return errno;
             }
             return 0;
         }},
        {"fsync of a directory",
         [](const Path& r) {
             UniqueFd fd(::open((r / "newdir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
             return !fd || ::fsync(fd.get()) != 0 ? errno : 0;
         }},
    };
    return ops;
}

// An xattr call's outcome as text, so values and errnos compare alike: "errno <name>" or the
// bytes it read (a size probe: "size <n>").
using XattrOutcome = std::string;

XattrOutcome outcomeOf(ssize_t result, const char* buffer) {
    if (result < 0) {
        return std::string("errno ") + strerrorname_np(errno);
    }
    return buffer == nullptr ? "size " + std::to_string(result)
                             : std::string(buffer, static_cast<size_t>(result));
}

XattrOutcome setX(const Path& path, const char* name, const std::string& value, int flags = 0) {
    return outcomeOf(::lsetxattr(path.c_str(), name, value.data(), value.size(), flags), "");
}

XattrOutcome getX(const Path& path, const char* name, size_t size = 1024) {
    std::vector<char> buffer(size);
    const ssize_t n = ::lgetxattr(path.c_str(), name, size == 0 ? nullptr : buffer.data(), size);
    return outcomeOf(n, size == 0 ? nullptr : buffer.data());
}

// Names sorted: ext4 lists them in its storage order, the overlay in byte order.
XattrOutcome listX(const Path& path, size_t size = 4096) {
    std::vector<char> buffer(size);
    const ssize_t n = ::llistxattr(path.c_str(), size == 0 ? nullptr : buffer.data(), size);
    if (n <= 0 || size == 0) {
        return outcomeOf(n, size == 0 ? nullptr : buffer.data());
    }
    std::vector<std::string> names;
    for (const char* p = buffer.data(); p < buffer.data() + n; p += std::strlen(p) + 1) {
        names.emplace_back(p);
    }
    std::sort(names.begin(), names.end());
    std::string joined;
    for (const auto& name : names) {
        joined += name + ",";
    }
    return joined;
}

XattrOutcome removeX(const Path& path, const char* name) {
    return outcomeOf(::lremovexattr(path.c_str(), name), "");
}

struct XattrOperation {
    const char* name;
    std::function<XattrOutcome(const Path& root)> run;
};

// In order: later steps see what earlier ones set.
const std::vector<XattrOperation>& xattrOperations() {
    static const std::vector<XattrOperation> ops = {
        {"set on a base file", [](const Path& r) { return setX(r / "README.md", "user.a", "1"); }},
        {"get it", [](const Path& r) { return getX(r / "README.md", "user.a"); }},
        {"size probe", [](const Path& r) { return getX(r / "README.md", "user.a", 0); }},
        {"buffer too small",
         [](const Path& r) {
             setX(r / "README.md", "user.b", "longer value");
             return getX(r / "README.md", "user.b", 4);
         }},
        {"get a missing name", [](const Path& r) { return getX(r / "README.md", "user.nope"); }},
        {"XATTR_CREATE of a set name",
         [](const Path& r) { return setX(r / "README.md", "user.a", "2", XATTR_CREATE); }},
        {"XATTR_REPLACE of a missing name",
         [](const Path& r) { return setX(r / "README.md", "user.c", "2", XATTR_REPLACE); }},
        {"XATTR_REPLACE of a set name",
         [](const Path& r) {
             setX(r / "README.md", "user.a", "replaced", XATTR_REPLACE);
             return getX(r / "README.md", "user.a");
         }},
        {"an empty value",
         [](const Path& r) {
             setX(r / "README.md", "user.empty", "");
             return getX(r / "README.md", "user.empty");
         }},
        {"a binary value",
         [](const Path& r) {
             setX(r / "README.md", "user.bin", std::string("\0\1\xff", 3));
             return getX(r / "README.md", "user.bin");
         }},
        {"list", [](const Path& r) { return listX(r / "README.md"); }},
        {"list size probe", [](const Path& r) { return listX(r / "README.md", 0); }},
        {"list buffer too small", [](const Path& r) { return listX(r / "README.md", 3); }},
        {"remove", [](const Path& r) { return removeX(r / "README.md", "user.b"); }},
        {"remove again", [](const Path& r) { return removeX(r / "README.md", "user.b"); }},
        {"name without a suffix",
         [](const Path& r) { return setX(r / "README.md", "user.", "v"); }},
        {"name too long",
         [](const Path& r) {
             const std::string name = "user." + std::string(251, 'n');
             return setX(r / "README.md", name.c_str(), "v");
         }},
        {"value too large",
         [](const Path& r) {
             return setX(r / "README.md", "user.big", std::string((64 << 10) + 1, 'v'));
         }},
        {"security.capability (asked before writes)",
         [](const Path& r) { return getX(r / "README.md", "security.capability"); }},
        {"on a missing path", [](const Path& r) { return setX(r / "nope", "user.a", "v"); }},
        {"on a base directory",
         [](const Path& r) {
             setX(r / "src", "user.dir", "d");
             return getX(r / "src", "user.dir");
         }},
        {"on the root",
         [](const Path& r) {
             setX(r, "user.root", "top");
             return getX(r, "user.root") + "|" + listX(r);
         }},
        {"on a symlink (user.* is for files and directories)",
         [](const Path& r) { return setX(r / "link-to-readme", "user.a", "v"); }},
        {"get on a symlink", [](const Path& r) { return getX(r / "link-to-readme", "user.a"); }},
        {"on a new file",
         [](const Path& r) {
             writeFile(r / "fresh.txt", "fresh\n");
             setX(r / "fresh.txt", "user.new", "n");
             return getX(r / "fresh.txt", "user.new");
         }},
        {"through an fd of a base file",
         [](const Path& r) {
             UniqueFd fd(::open((r / "src/util.c").c_str(), O_RDONLY | O_CLOEXEC));
             char buf[16];
             if (!fd || ::fsetxattr(fd.get(), "user.fd", "x", 1, 0) != 0) {
                 return outcomeOf(-1, nullptr);
             }
             return outcomeOf(::fgetxattr(fd.get(), "user.fd", buf, sizeof buf), buf);
         }},
        {"kept by a write (copy-up)",
         [](const Path& r) {
             setX(r / "docs/b.txt", "user.k", "kept");
             writeFile(r / "docs/b.txt", "rewritten\n");
             return getX(r / "docs/b.txt", "user.k");
         }},
        {"kept by chmod",
         [](const Path& r) {
             setX(r / "src/util.h", "user.k", "kept");
             ::chmod((r / "src/util.h").c_str(), 0755);
             ::chmod((r / "src/util.h").c_str(), 0600);
             return getX(r / "src/util.h", "user.k");
         }},
        {"carried by a rename",
         [](const Path& r) {
             if (::rename((r / "README.md").c_str(), (r / "READ.md").c_str()) != 0) {
                 return outcomeOf(-1, nullptr);
             }
             return listX(r / "READ.md") + "|" + getX(r / "README.md", "user.a");
         }},
        {"carried with a renamed base directory",
         [](const Path& r) {
             setX(r / "src/deep/er/leaf.txt", "user.leaf", "l");
             if (::rename((r / "src/deep").c_str(), (r / "moved").c_str()) != 0) {
                 return outcomeOf(-1, nullptr);
             }
             return getX(r / "moved/er/leaf.txt", "user.leaf");
         }},
        {"swapped by RENAME_EXCHANGE",
         [](const Path& r) {
             ::renameat2(AT_FDCWD, (r / "fresh.txt").c_str(), AT_FDCWD, (r / "READ.md").c_str(),
                         RENAME_EXCHANGE);
             return listX(r / "fresh.txt") + "|" + listX(r / "READ.md");
         }},
        {"dropped with a replaced target",
         [](const Path& r) {
             writeFile(r / "plain.txt", "p\n");
             if (::rename((r / "plain.txt").c_str(), (r / "fresh.txt").c_str()) != 0) {
                 return outcomeOf(-1, nullptr);
             }
             return listX(r / "fresh.txt");
         }},
        {"dropped by unlink",
         [](const Path& r) {
             ::unlink((r / "READ.md").c_str());
             writeFile(r / "READ.md", "again\n");
             return listX(r / "READ.md");
         }},
        {"remove from a base file that has none",
         [](const Path& r) { return removeX(r / "many/file-3.txt", "user.a"); }},
    };
    return ops;
}

class PosixTest : public WritableFixture {};

TEST_F(PosixTest, XattrsMatchANativeFolder) {
    const Path native = nativeCopy("native");
    auto daemon = mount();
    for (const XattrOperation& op : xattrOperations()) {
        const XattrOutcome expected = op.run(native);
        const XattrOutcome actual = op.run(mountPoint());
        EXPECT_EQ(actual, expected) << op.name;
    }
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint())), "");
    daemon->stop();
}

TEST_F(PosixTest, XattrOnAnUnchangedFileCopiesNothing) {
    auto daemon = mount();
    ASSERT_EQ(setX(mountPoint() / "many/file-7.txt", "user.k", "v"), "");
    daemon->stop();
    auto overlay = overlay::OverlayStore::open(overlayDir());
    EXPECT_EQ(overlay->stats().contentBytes, 0U);
    EXPECT_EQ(overlay->stats().nodes, 2U);  // the root and many/
    EXPECT_EQ(
        overlay->xattr(overlay->find(overlay::kRootNode, "many")->node, "file-7.txt", "user.k"),
        "v");
}

TEST_F(PosixTest, ErrnosAndResultsMatchANativeFolder) {
    const Path native = nativeCopy("native");
    auto daemon = mount();
    for (const Operation& op : operations()) {
        const int expected = op.run(native);
        const int actual = op.run(mountPoint());
        EXPECT_EQ(actual, expected) << op.name << ": native " << std::strerror(expected)
                                    << ", mount " << std::strerror(actual);
    }
    EXPECT_EQ(joinDifferences(compareTrees(native, mountPoint())), "");

    // Directory permissions and times as native shows them.
    struct stat st {};
    ASSERT_EQ(::stat((mountPoint() / "many").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700U);
    ASSERT_EQ(::stat((mountPoint() / "src/util.h").c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec, 1'000'000'000);
    daemon->stop();
}

// Where the mount differs from a native folder on purpose (docs/overlay.md).
TEST_F(PosixTest, DocumentedDifferences) {
    auto daemon = mount();
    const Path r = mountPoint();
    EXPECT_EQ(errnoOf([&] { return ::link((r / "README.md").c_str(), (r / "hard").c_str()); }),
              EPERM)
        << "hard links: one name per node";
    EXPECT_EQ(errnoOf([&] { return ::mknod((r / "dev").c_str(), S_IFCHR | 0600, makedev(1, 3)); }),
              EPERM);
    // Extended attributes: user.* only; larger values than ext4's one block per file.
    // (Without CAP_SYS_ADMIN the kernel refuses these itself.)
    const XattrOutcome refused = ::geteuid() == 0 ? "errno EOPNOTSUPP" : "errno EPERM";
    EXPECT_EQ(setX(r / "README.md", "trusted.k", "v"), refused);
    EXPECT_EQ(setX(r / "README.md", "security.k", "v"), refused);
    EXPECT_EQ(setX(r / "README.md", "user.big", std::string(64 << 10, 'v')), "");
    EXPECT_EQ(setX(r / "README.md", "user.more", std::string(64 << 10, 'v')), "");
    EXPECT_EQ(setX(r / "README.md", "user.beyond", std::string(64 << 10, 'v')), "");
    EXPECT_EQ(setX(r / "README.md", "user.last", std::string(64 << 10, 'v')), "errno ENOSPC")
        << "256 KiB per file";
    {
        UniqueFd fd(::open((r / "gone.txt").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_TRUE(fd);
        ASSERT_EQ(::unlink((r / "gone.txt").c_str()), 0);
        EXPECT_EQ(errnoOf([&] { return ::fsetxattr(fd.get(), "user.k", "v", 1, 0); }), ENOENT)
            << "an open file whose name is gone has no entry to hold them";
    }
    // statfs: the overlay disk's free space.
    struct statvfs mounted {};
    struct statvfs disk {};
    ASSERT_EQ(::statvfs(r.c_str(), &mounted), 0);
    ASSERT_EQ(::statvfs(overlayDir().c_str(), &disk), 0);
    EXPECT_EQ(mounted.f_blocks, disk.f_blocks);
    EXPECT_GT(mounted.f_bavail, 0U);
    daemon->stop();
}

TEST_F(PosixTest, ChmodOfAnUnchangedFileCopiesNothing) {
    auto daemon = mount();
    ASSERT_EQ(::chmod((mountPoint() / "many/file-7.txt").c_str(), 0755), 0);
    struct stat st {};
    ASSERT_EQ(::stat((mountPoint() / "many/file-7.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755U);
    daemon->stop();
    auto overlay = overlay::OverlayStore::open(overlayDir());
    EXPECT_EQ(overlay->stats().contentBytes, 0U);
    EXPECT_EQ(overlay->stats().nodes, 2U);  // the root and many/
}

// --- set-user-ID and set-group-ID: what a write, truncate or chown leaves of them

constexpr uid_t kOrdinaryUser = 65534;  // nobody: no CAP_FSETID, owns none of the files

// Runs fn in a child process as kOrdinaryUser (ids dropped for good); fn's errno, 0 for success.
// A child, not a thread: setresuid would change the ids of the whole test process.
int asOrdinaryUser(const std::function<int()>& fn) {
    const pid_t pid = ::fork();
    if (pid < 0) {
        return errno;
    }
    if (pid == 0) {
        const bool dropped = ::setgroups(0, nullptr) == 0 &&
                             ::setresgid(kOrdinaryUser, kOrdinaryUser, kOrdinaryUser) == 0 &&
                             ::setresuid(kOrdinaryUser, kOrdinaryUser, kOrdinaryUser) == 0;
        ::_exit(dropped ? fn() : 125);
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return EINTR;
    }
    return WEXITSTATUS(status);
}

constexpr uid_t kUnchanged = static_cast<uid_t>(-1);  // chown's "leave this id as it is"

int writeOneByte(int fd) {
    return ::pwrite(fd, "x", 1, 0) == 1 ? 0 : errno;
}

struct SetIdCase {
    const char* name;
    mode_t mode;                                  // chmod'ed as root before the change
    std::function<int(const Path& file)> change;  // errno, 0 for success
};

const std::vector<SetIdCase>& setIdCases() {
    static const std::vector<SetIdCase> cases = {
        {"setuid, written by a user", 04777,
         [](const Path& f) {
             return asOrdinaryUser([&] {
                 UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
                 return !fd ? errno : writeOneByte(fd.get());
             });
         }},
        {"setgid with group-exec, written by a user", 02777,
         [](const Path& f) {
             return asOrdinaryUser([&] {
                 UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
                 return !fd ? errno : writeOneByte(fd.get());
             });
         }},
        {"setgid without group-exec (a locking mark), written by a user", 02767,
         [](const Path& f) {
             return asOrdinaryUser([&] {
                 UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
                 return !fd ? errno : writeOneByte(fd.get());
             });
         }},
        {"setuid and setgid, written by root", 06777,
         [](const Path& f) {
             UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
             return !fd ? errno : writeOneByte(fd.get());
         }},
        {"setuid, truncated by a user", 04777,
         [](const Path& f) {
             return asOrdinaryUser(
                 [&] { return errnoOf([&] { return ::truncate(f.c_str(), 0); }); });
         }},
        {"setuid, opened with O_TRUNC by a user", 04777,
         [](const Path& f) {
             return asOrdinaryUser([&] {
                 UniqueFd fd(::open(f.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
                 return !fd ? errno : 0;
             });
         }},
        {"setuid, truncated by root", 04777,
         [](const Path& f) { return errnoOf([&] { return ::truncate(f.c_str(), 1); }); }},
        {"setuid and setgid, chowned by root to the same owner", 06755,
         [](const Path& f) { return errnoOf([&] { return ::chown(f.c_str(), 0, 0); }); }},
        {"setgid with group-exec, chgrp by root", 02775,
         [](const Path& f) {
             return errnoOf([&] { return ::chown(f.c_str(), static_cast<uid_t>(-1), 1); });
         }},
        // chown(-1, -1) changes no id, yet native clears the bits as any chown does; the kernel
        // sends FUSE a setattr without uid or gid (docs/overlay.md).
        {"setuid and setgid, chown(-1, -1) by root", 06755,
         [](const Path& f) {
             return errnoOf([&] { return ::chown(f.c_str(), kUnchanged, kUnchanged); });
         }},
        {"setgid with group-exec, lchown(-1, -1) by root", 02775,
         [](const Path& f) {
             return errnoOf([&] { return ::lchown(f.c_str(), kUnchanged, kUnchanged); });
         }},
        {"setgid without group-exec, fchown(-1, -1) by root", 02765,
         [](const Path& f) {
             UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
             return !fd ? errno
                        : errnoOf([&] { return ::fchown(fd.get(), kUnchanged, kUnchanged); });
         }},
        {"setuid and setgid, fchownat(AT_EMPTY_PATH, -1, -1) by root", 06775,
         [](const Path& f) {
             UniqueFd fd(::open(f.c_str(), O_PATH | O_CLOEXEC));
             return !fd ? errno : errnoOf([&] {
                 return ::fchownat(fd.get(), "", kUnchanged, kUnchanged, AT_EMPTY_PATH);
             });
         }},
        {"setuid, chown(-1, -1) by a user who does not own it", 04777,
         [](const Path& f) {
             return asOrdinaryUser([&] {
                 return errnoOf([&] { return ::chown(f.c_str(), kUnchanged, kUnchanged); });
             });
         }},
        {"setuid and setgid, chown(-1, -1) by its owner, a user", 06775,
         [](const Path& f) {
             // Given to the user first; a chown clears the bits, so root sets them again.
             if (::chown(f.c_str(), kOrdinaryUser, kOrdinaryUser) != 0 ||
                 ::chmod(f.c_str(), 06775) != 0) {
                 return errno;
             }
             return asOrdinaryUser([&] {
                 return errnoOf([&] { return ::chown(f.c_str(), kUnchanged, kUnchanged); });
             });
         }},
        {"setgid without group-exec, chown(-1, -1) by its owner, a user", 02765,
         [](const Path& f) {
             if (::chown(f.c_str(), kOrdinaryUser, 0) != 0 || ::chmod(f.c_str(), 02765) != 0) {
                 return errno;
             }
             return asOrdinaryUser([&] {
                 return errnoOf([&] { return ::chown(f.c_str(), kUnchanged, kUnchanged); });
             });
         }},
        {"setuid set while open, then written by a user through that handle", 0777,
         [](const Path& f) {
             UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
             if (!fd || ::chmod(f.c_str(), 04777) != 0) {
                 return errno;
             }
             return asOrdinaryUser([&] { return writeOneByte(fd.get()); });
         }},
        {"setuid, written twice by a user after root set it again", 04777,
         [](const Path& f) {
             UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
             if (!fd) {
                 return errno;
             }
             if (const int first = asOrdinaryUser([&] { return writeOneByte(fd.get()); });
                 first != 0) {
                 return first;
             }
             if (::chmod(f.c_str(), 04777) != 0) {
                 return errno;
             }
             return asOrdinaryUser([&] { return writeOneByte(fd.get()); });
         }},
    };
    return cases;
}

// Permission bits after each case, run on a fresh file owned by root in root.
std::vector<std::string> setIdOutcomes(const Path& root) {
    std::vector<std::string> outcomes;
    int n = 0;
    for (const SetIdCase& c : setIdCases()) {
        const Path file = root / ("setid-" + std::to_string(n++));
        writeFile(file, "content\n");
        struct stat st {};
        std::string outcome = c.name;
        if (::chmod(file.c_str(), c.mode) != 0) {
            outcome += ": chmod errno " + std::to_string(errno);
        } else if (const int error = c.change(file); error != 0) {
            outcome += ": errno " + std::to_string(error);
        } else if (::stat(file.c_str(), &st) != 0) {
            outcome += ": stat errno " + std::to_string(errno);
        } else {
            std::ostringstream octal;  // as `%04o`: the bits in four octal digits
            octal << std::oct << std::setw(4) << std::setfill('0') << (st.st_mode & 07777);
            outcome += ": " + octal.str();
        }
        outcomes.push_back(outcome);
    }
    return outcomes;
}

// HANDLE_KILLPRIV gives clearing the bits to the daemon; a native folder shows what it must do.
TEST_F(PosixTest, SetIdBitsClearedAsANativeFolder) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root: the cases switch to an ordinary user";
    }
    // The ordinary user must reach both trees: the test's folder and, with allow_other, the mount.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    const Path native = nativeCopy("native");
    std::filesystem::permissions(native, std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    MountRequest request = writableRequest();
    request.allowOther = true;
    auto daemon = std::make_unique<MegaFused>(request, dir_ / "mega-fused-setid.log");
    const std::vector<std::string> expected = setIdOutcomes(native);
    const std::vector<std::string> actual = setIdOutcomes(mountPoint());
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(actual[i], expected[i]);
    }
    daemon->stop();
}

}  // namespace
}  // namespace megafuse::test
