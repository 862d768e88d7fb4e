// CacheFaultTest: the cache folder goes wrong under a running daemon. Full (a small tmpfs): a read
// that cannot be cached fails with EIO and a log line naming ENOSPC, nothing half-written is left
// under a blob's name, and once space is freed the same read returns Git's bytes. Deleted (rm -rf,
// clone and content cache both): the store clones anew and re-creates the content cache with no
// remount, so every later read returns Git's bytes; a warning names what vanished; through the
// service the mount stays mounted with no LastError. A writable mount's overlay deleted: never
// re-created empty; changes fail with EIO and a log line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "common/Subprocess.hpp"
#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"
#include "support/MegaFused.hpp"
#include "support/Sources.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A tmpfs of a given size at a folder, unmounted (lazily, so never stuck) in every outcome.
class TmpfsMount {
public:
    TmpfsMount(fs::path at, const std::string& size) : at_(std::move(at)) {
        fs::create_directories(at_);
        const std::string options = "size=" + size + ",mode=0700";
        if (::mount("tmpfs", at_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
            throw HarnessError("mount -t tmpfs -o " + options + " " + at_.string() + ": " +
                               errnoText(errno));
        }
    }
    ~TmpfsMount() { ::umount2(at_.c_str(), MNT_DETACH); }
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

private:
    fs::path at_;
};

// Every file under <cache>/blobs must hold exactly the blob its name says: no partial file ever
// appears under a final name. Returns one line per file that does not.
std::vector<std::string> misnamedBlobs(const fs::path& blobs) {
    std::vector<std::string> bad;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(blobs, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) {
            continue;
        }
        const std::string name =
            it->path().parent_path().filename().string() + it->path().filename().string();
        if (name.size() != 40) {
            bad.push_back(it->path().string() + ": not a blob name (a temp file left behind?)");
            continue;
        }
        const auto hashed = runSubprocess({"git", "hash-object", "--no-filters", it->path()});
        if (!hashed.ok() || hashed.out.substr(0, 40) != name) {
            bad.push_back(it->path().string() + ": holds " + hashed.out.substr(0, 40));
        }
    }
    return bad;
}

void dropKernelCaches() {
    std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
}

TEST(CacheFaultTest, FullCacheFolderGivesEioAndALogLineThenTheSameReadWorks) {
    ASSERT_EQ(::geteuid(), 0U) << "mounts a tmpfs: root only (not part of the unprivileged run)";
    TempDir dir("megafuse-stress");
    // A local source: the content cache is the only thing the daemon writes to the cache folder.
    const fs::path origin = dir / "origin";
    buildGeneratedRepo(origin, 2, 8U << 20U, 1);
    const auto paths = generatedPaths(2, 1);
    const fs::path cache = dir / "cache";
    TmpfsMount tmpfs(cache, "24m");
    {
        // Leaves ~4 MiB free: less than one file.
        std::ofstream filler(cache / "filler", std::ios::binary);
        filler << std::string(20U << 20U, 'x');
        ASSERT_TRUE(filler.good());
    }

    MountRequest request;
    request.source = origin.string();
    request.mountPoint = dir.makeDir("mnt");
    request.cacheDir = cache;
    MegaFused daemon(request, dir / "mega-fused.log");

    int error = 0;
    auto bytes = readFile(request.mountPoint / paths[0], &error);
    EXPECT_FALSE(bytes) << "an 8 MiB file was read through a cache with 4 MiB free";
    EXPECT_EQ(error, EIO) << errnoText(error);
    EXPECT_NE(daemon.log().find("No space left on device"), std::string::npos)
        << "no log line names ENOSPC:\n"
        << daemon.log();
    EXPECT_TRUE(daemon.alive());
    EXPECT_EQ(misnamedBlobs(cache / "blobs"), std::vector<std::string>{});

    fs::remove(cache / "filler");
    for (const auto& path : paths) {
        bytes = readFile(request.mountPoint / path, &error);
        ASSERT_TRUE(bytes) << path << " after freeing space: " << errnoText(error);
        EXPECT_EQ(*bytes, readWholeFile((origin / path).string())) << path;
    }
    EXPECT_EQ(misnamedBlobs(cache / "blobs"), std::vector<std::string>{});
    EXPECT_EQ(daemon.stop().status, 0);
}

TEST(CacheFaultTest, CacheFolderDeletedUnderARunningDaemonHealsWithoutARemount) {
    TempDir dir("megafuse-stress");
    const fs::path origin = dir / "origin";
    constexpr size_t kFiles = 200;
    constexpr size_t kDirs = 4;
    buildGeneratedRepo(origin, kFiles, 4096, kDirs);
    const auto paths = generatedPaths(kFiles, kDirs);
    ServedSource served(SourceKind::GitDaemon, origin, dir / "served");

    MountRequest request;
    request.source = served.source();
    request.mountPoint = dir.makeDir("mnt");
    request.cacheDir = dir / "cache";
    request.fetchTimeoutSeconds = 30;
    MegaFused daemon(request, dir / "mega-fused.log");
    int error = 0;
    // d0 is read (fetched and cached) before the deletion; d1..d3 never were.
    for (size_t i = 0; i < kFiles; i += kDirs) {
        ASSERT_TRUE(readFile(request.mountPoint / paths[i], &error)) << errnoText(error);
    }

    fs::remove_all(request.cacheDir);
    dropKernelCaches();
    // First a file never read (its blob must be fetched: the missing clone shows), then the
    // first file read before (its cached copy is gone), then all the others.
    std::vector<std::string> order = {paths[1], paths[0]};
    order.insert(order.end(), paths.begin() + 2, paths.end());
    size_t servedRight = 0;
    for (const auto& path : order) {
        auto bytes = readFile(request.mountPoint / path, &error);
        ASSERT_TRUE(bytes) << path << " after rm -rf of the cache: " << errnoText(error) << "\n"
                           << daemon.log();
        ASSERT_EQ(*bytes, readWholeFile((origin / path).string())) << path;
        ++servedRight;
    }
    std::cout << "after rm -rf of the cache, no remount: " << servedRight << " of " << kFiles
              << " reads returned Git's bytes\n";
    EXPECT_TRUE(daemon.alive()) << "the daemon died when its cache was deleted";
    EXPECT_TRUE(daemon.mounted());
    // Healed in place: the clone is back where it was, the content cache caches again.
    size_t clones = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(request.cacheDir / "sources", ec)) {
        clones += entry.path().extension() == ".git" && fs::exists(entry.path() / "HEAD") ? 1 : 0;
    }
    EXPECT_EQ(clones, 1U) << "the clone was not made anew under " << request.cacheDir / "sources";
    EXPECT_TRUE(fs::is_directory(request.cacheDir / "blobs"));
    EXPECT_EQ(misnamedBlobs(request.cacheDir / "blobs"), std::vector<std::string>{});
    // libgit2's handles to the deleted clone were replaced, not kept: none of its pack files is
    // held open any more (their disk space would never come back while the daemon runs).
    std::vector<std::string> heldDeleted;
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/fd")) {
        std::error_code linkError;
        const std::string target = fs::read_symlink(fd.path(), linkError).string();
        if (target.starts_with((request.cacheDir / "sources").string()) &&
            target.ends_with(" (deleted)")) {
            heldDeleted.push_back(target);
        }
    }
    EXPECT_EQ(heldDeleted, std::vector<std::string>{});
    const std::string log = daemon.log();
    EXPECT_NE(log.find("vanished"), std::string::npos) << "no warning names what vanished:\n"
                                                       << log;
    EXPECT_NE(log.find((request.cacheDir / "sources").string()), std::string::npos)
        << "no log line names the missing clone:\n"
        << log;
    EXPECT_EQ(daemon.stop().status, 0);
}

// The same through the service: the mount stays mounted and reports no error afterwards.
using CacheFaultServiceTest = ServiceFixture;

TEST_F(CacheFaultServiceTest, CacheFolderDeletedUnderTheServiceHealsAndLeavesNoError) {
    writeConfig({{"healed", gitUrl()}});
    startDaemon();
    ASSERT_TRUE(waitForState("healed", "mounted")) << daemonLog();
    const fs::path mnt = mountpointOf("healed");
    EXPECT_EQ(readFile(mnt / "hello.txt"), "hello from main\n");

    fs::remove_all(*temp_ / "cache");
    dropKernelCaches();
    EXPECT_EQ(readFile(mnt / "dir/a.txt"), "file a\n") << daemonLog();
    EXPECT_EQ(readFile(mnt / "hello.txt"), "hello from main\n") << daemonLog();
    EXPECT_EQ(readFile(mnt / "dir/b.txt"), "file b\n") << daemonLog();

    {
        auto healed = mountClient("healed");  // gone before stopDaemon closes its connection
        EXPECT_EQ(healed->State(), "mounted");
        EXPECT_EQ(healed->LastError(), "");
    }
    EXPECT_NE(daemonLog().find("vanished"), std::string::npos) << daemonLog();
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

// A writable mount's overlay is the user's only copy of their changes, not a cache: deleted under
// the mount, it is not made anew (an empty one would lose the changes without a word). Changes
// fail with EIO and one log line names the folder; nothing re-creates it.
TEST(CacheFaultTest, OverlayFolderDeletedUnderAWritableMountFailsChangesAndIsNotRecreated) {
    TempDir dir("megafuse-stress");
    const fs::path origin = dir / "origin";
    buildGeneratedRepo(origin, 4, 64, 1);
    MountRequest request;
    request.source = origin.string();
    request.mountPoint = dir.makeDir("mnt");
    request.cacheDir = dir / "cache";
    request.writable = true;
    request.overlayDir = dir / "overlay";
    MegaFused daemon(request, dir / "mega-fused.log");

    auto create = [&](const std::string& name) {
        UniqueFd fd(
            ::open((request.mountPoint / name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        if (!fd) {
            return errno;
        }
        return ::write(fd.get(), "x\n", 2) == 2 ? 0 : errno;
    };
    ASSERT_EQ(create("before.txt"), 0) << daemon.log();
    ASSERT_TRUE(fs::exists(request.overlayDir / "overlay.db"));

    fs::remove_all(request.overlayDir);
    const int error = create("after.txt");
    EXPECT_EQ(error, EIO) << errnoText(error);
    EXPECT_FALSE(fs::exists(request.overlayDir)) << "an empty overlay was made in its place";
    EXPECT_NE(daemon.log().find("overlay folder " + request.overlayDir.string() + " was deleted"),
              std::string::npos)
        << daemon.log();
    EXPECT_TRUE(daemon.alive());
    EXPECT_TRUE(daemon.mounted());
    daemon.stop();
}

// The same through the service: the mount's LastError (D-Bus and `megactl status`) names the
// deleted folder, and the mount stays mounted since unchanged files still read from Git.
TEST_F(CacheFaultServiceTest, OverlayFolderDeletedUnderTheServiceNamesItInLastError) {
    writeWritableMountConfig();
    startDaemon();
    ASSERT_TRUE(waitForState("w", "mounted")) << daemonLog();
    const fs::path mnt = mountpointOf("w");
    const fs::path overlayDir = *temp_ / "state" / "overlays" / "w";
    std::ofstream(mnt / "before.txt") << "x\n";
    ASSERT_TRUE(fs::exists(overlayDir / "overlay.db"));
    {
        auto w = mountClient("w");
        EXPECT_EQ(w->LastError(), "");
    }

    fs::remove_all(overlayDir);
    const std::string expected = "overlay folder " + overlayDir.string() +
                                 " was deleted or replaced under the running mount";
    // The service polls its sessions every few seconds; a deadline, not a timing assertion.
    std::string lastError;
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
        auto w = mountClient("w");
        lastError = w->LastError();
        if (!lastError.empty()) {
            break;
        }
    }
    EXPECT_TRUE(lastError.starts_with(expected)) << lastError << "\n" << daemonLog();
    EXPECT_EQ(stateOf("w"), "mounted");
    SubprocessOptions options;
    options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", address()}};
    options.timeout = 90s;
    const auto status = runSubprocess({MEGACTL_BIN, "status", "w"}, options);
    EXPECT_NE(status.out.find(expected), std::string::npos) << status.out << status.err;
    // Reads still work; changes fail; nothing re-creates the folder.
    EXPECT_EQ(readFile(mnt / "hello.txt"), "hello from main\n") << daemonLog();
    UniqueFd fd(::open((mnt / "after.txt").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    EXPECT_FALSE(fd);
    EXPECT_EQ(errno, EIO) << errnoText(errno);
    EXPECT_FALSE(fs::exists(overlayDir)) << "an empty overlay was made in its place";
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

}  // namespace
}  // namespace megafuse::test
