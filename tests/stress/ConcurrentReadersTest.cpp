// ConcurrentReadersTest: 50 readers over a cold mount from a git daemon, several on each file at
// once, every byte compared with the repository's; a watchdog dumps the daemon's stacks (gdb) and
// fails the test if no read completes for 60 s (a deadlock), instead of hanging CI.
// Short form: a generated repository of 3,000 files (× MEGAFUSE_STRESS_SCALE). Long form:
// MEGAFUSE_STRESS_CORPUS=/var/tmp/mega-fuse-bench (bench/prepare-corpus.sh) reads the linux
// corpus (corpus/linux.git served; its HEAD extracted with git archive is the oracle).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "support/Git.hpp"
#include "support/GitDaemon.hpp"
#include "support/HarnessError.hpp"
#include "support/MegaFused.hpp"
#include "support/Mounts.hpp"
#include "support/TempDir.hpp"
#include "support/TreeCompare.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kReaders = 50;
// Each reader reads this share of the files, starting at its own offset: every file is read by
// about kReaders / kShare readers, the first of them together while it is still cold.
constexpr size_t kShare = 5;

// Regular files of the served repository's HEAD (symlinks and gitlinks are other tests' work).
std::vector<std::string> regularFiles(const fs::path& bareRepo) {
    std::vector<std::string> paths;
    const std::string listing = git(bareRepo, {"ls-tree", "-r", "-z", "HEAD"});
    for (size_t start = 0; start < listing.size();) {
        const size_t end = listing.find('\0', start);
        const std::string line = listing.substr(start, end - start);
        start = end + 1;
        if (line.starts_with("100644 blob") || line.starts_with("100755 blob")) {
            paths.push_back(line.substr(line.find('\t') + 1));
        }
    }
    return paths;
}

TEST(ConcurrentReadersTest, FiftyReadersOverAColdMountReadEveryByteRight) {
    TempDir dir("megafuse-stress");
    fs::path servedRoot;
    std::string repoName;
    fs::path oracle;
    // Read-only use of the environment; nothing in the tests calls setenv.
    const char* corpus = std::getenv("MEGAFUSE_STRESS_CORPUS");  // NOLINT(concurrency-mt-unsafe)
    if (corpus != nullptr && *corpus != '\0') {
        servedRoot = fs::path(corpus) / "corpus";
        repoName = "linux.git";
        // Not the corpus's native/ checkout: benchmarks edit it. Git's own bytes, extracted here.
        oracle = dir / "oracle";
        extractRevision(servedRoot / repoName, "HEAD", "", oracle);
    } else {
        const size_t files = 3000 * static_cast<size_t>(stressScale());
        oracle = dir / "origin";
        buildGeneratedRepo(oracle, files, 2048, 60);
        servedRoot = dir / "srv";
        repoName = "generated.git";
        publishBare(oracle, servedRoot / repoName);
    }
    const auto paths = regularFiles(servedRoot / repoName);
    ASSERT_FALSE(paths.empty());
    GitDaemon server(servedRoot, dir.makeDir("git-daemon"));

    MountRequest request;
    request.source = server.url(repoName);
    request.mountPoint = dir.makeDir("mnt");
    request.cacheDir = dir / "cache";
    request.logLevel = "info";  // debug lines for tens of thousands of reads would cost most
    // The short form must end (or be ended by this watchdog) before ctest's 300 s.
    MegaFused daemon(request, dir / "mega-fused.log",
                     std::chrono::seconds(corpus != nullptr ? 7200 : 280 * stressScale()));
    const auto mount = findMount(request.mountPoint);
    ASSERT_TRUE(mount);

    std::atomic<uint64_t> progress{0};
    std::atomic<uint64_t> bytesRead{0};
    std::mutex mutex;
    std::vector<std::string> failures;  // bounded: the first 20
    std::atomic<size_t> failed{0};
    // A stall aborts the connection: every blocked reader returns ENOTCONN and the test ends.
    ProgressWatchdog watchdog(daemon.pid(), progress, 60s, [&] { abortFuseConnection(*mount); });
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> readers;
    readers.reserve(kReaders);
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&, r] {
            const size_t count = (paths.size() + kShare - 1) / kShare;
            const size_t offset = paths.size() * static_cast<size_t>(r) / kReaders;
            for (size_t k = 0; k < count; ++k) {
                const auto& path = paths[(offset + k) % paths.size()];
                int error = 0;
                const std::string bytes =
                    readFile(request.mountPoint / path, &error).value_or(std::string());
                std::string expected;
                try {
                    expected = error == 0 ? readWholeFile(oracle / path) : "";
                } catch (const HarnessError&) {
                    error = ENOENT;  // an oracle that cannot be read fails the test, not aborts it
                }
                if (error != 0 || bytes != expected) {
                    ++failed;
                    std::lock_guard lock(mutex);
                    if (failures.size() < 20) {
                        failures.push_back(
                            path + ": " +
                            (error != 0 ? errnoText(error)
                                        : "wrong bytes (" + std::to_string(bytes.size()) + " of " +
                                              std::to_string(expected.size()) + ")"));
                    }
                }
                bytesRead += bytes.size();
                ++progress;
            }
        });
    }
    for (auto& reader : readers) {
        reader.join();
    }
    const auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_FALSE(watchdog.stalled()) << watchdog.report();
    std::string listed;
    for (const auto& line : failures) {
        listed += "  " + line + "\n";
    }
    EXPECT_EQ(failed.load(), 0U) << listed;
    std::cout << kReaders << " readers: " << progress.load() << " reads of " << paths.size()
              << " files (" << bytesRead.load() / 1024 << " KiB) over a cold git:// mount in "
              << seconds << " s, " << failed.load() << " errors; daemon "
              << usageOf(daemon.pid()).describe() << "\n";
    EXPECT_TRUE(daemon.alive());
    EXPECT_EQ(daemon.stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
