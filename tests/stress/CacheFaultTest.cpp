// CacheFaultTest: the cache folder goes wrong under a running daemon. Full (a small tmpfs): a read
// that cannot be cached fails with EIO and a log line naming ENOSPC, nothing half-written is left
// under a blob's name, and once space is freed the same read returns Git's bytes. Deleted (rm -rf,
// clone and content cache both): every read returns Git's bytes or EIO with a log line naming the
// missing clone, never other bytes; the daemon lives on, and a remount makes everything anew.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "common/Subprocess.hpp"
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

TEST(CacheFaultTest, CacheFolderDeletedUnderARunningDaemon) {
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
    size_t servedRight = 0;
    size_t failed = 0;
    for (const auto& path : paths) {
        auto bytes = readFile(request.mountPoint / path, &error);
        if (bytes) {
            ++servedRight;
            EXPECT_EQ(*bytes, readWholeFile((origin / path).string())) << path;
        } else {
            ++failed;
            EXPECT_EQ(error, EIO) << path << ": " << errnoText(error);
        }
    }
    std::cout << "after rm -rf of the cache: " << servedRight << " reads returned Git's bytes, "
              << failed << " failed with EIO\n";
    EXPECT_TRUE(daemon.alive()) << "the daemon died when its cache was deleted";
    EXPECT_TRUE(daemon.mounted());

    EXPECT_NE(daemon.log().find((request.cacheDir / "sources").string()), std::string::npos)
        << "no log line names the missing clone:\n"
        << daemon.log();

    // Recovered by a remount (here: the daemon started again over the same cache folder): the
    // clone and the content cache are made anew and every file reads as Git has it.
    EXPECT_EQ(daemon.stop().status, 0);
    MegaFused again(request, dir / "mega-fused-2.log");
    for (const auto& path : paths) {
        auto bytes = readFile(request.mountPoint / path, &error);
        ASSERT_TRUE(bytes) << path << ": " << errnoText(error) << "\n" << again.log();
        ASSERT_EQ(*bytes, readWholeFile((origin / path).string())) << path;
    }
    EXPECT_EQ(again.stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
