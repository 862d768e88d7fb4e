// KilledServerTest: the git server dies (kill -9 of git daemon and its upload-pack) while a batched
// fetch is streaming a directory's blobs — the fetch is made slow by a throttling proxy, so the
// kill lands in its middle every time. Readers get EIO (never wrong bytes, never a hang), the
// daemon lives on, and once the server is back every file reads as Git has it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "support/HarnessError.hpp"
#include "support/MegaFused.hpp"
#include "support/Sources.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// 16 MiB in all: several times what the server's socket send buffer (tcp_wmem max, 4 MiB here)
// can still hold and deliver after the kill.
constexpr size_t kBytesPerFile = 256U << 10U;
constexpr uint64_t kProxyRate = 2U << 20U;  // 2 MiB/s: the batch takes ~8 s

// What a reader saw: the bytes, or the errno of the call that failed (stat, open or read).
struct ReadOutcome {
    std::optional<std::string> bytes;
    int error = 0;
};

ReadOutcome statAndRead(const fs::path& path) {
    ReadOutcome outcome;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        outcome.error = errno;
        return outcome;
    }
    outcome.bytes = readFile(path, &outcome.error);
    return outcome;
}

std::string originBytes(const fs::path& origin, const std::string& path) {
    return readWholeFile((origin / path).string());
}

TEST(KilledServerTest, GitDaemonKilledInTheMiddleOfABatchedFetch) {
    TempDir dir("megafuse-stress");
    const size_t files = 64 * static_cast<size_t>(stressScale());
    const fs::path origin = dir / "origin";
    // One directory: listing it is what makes the daemon fetch all its blobs in one batch.
    buildGeneratedRepo(origin, files, kBytesPerFile, 1);
    const auto paths = generatedPaths(files, 1);
    ServedSource served(SourceKind::GitDaemon, origin, dir / "served");
    GitDaemon& server = *served.gitDaemon();
    ThrottlingProxy proxy(server.port(), kProxyRate);

    MountRequest request;
    request.source =
        "git://127.0.0.1:" + std::to_string(proxy.port()) + "/" + ServedSource::kRepositoryName;
    request.mountPoint = dir.makeDir("mnt");
    request.cacheDir = dir / "cache";
    // Far longer than the batch: the kill, not the timeout, must end the fetch.
    request.fetchTimeoutSeconds = 90;
    // The watchdog ends a hung short form before ctest's 300 s; the long form gets longer.
    MegaFused daemon(request, dir / "mega-fused.log", std::chrono::seconds(240 * stressScale()));
    const uint64_t mountedBytes = proxy.bytesDown();

    // Eight readers over the directory (ls -l, then cat), all started before the kill.
    std::mutex mutex;
    std::map<std::string, ReadOutcome> outcomes;
    constexpr int kReaders = 8;
    std::vector<std::thread> readers;
    readers.reserve(kReaders);
    std::atomic<size_t> next{0};
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&] {
            for (size_t i = next++; i < paths.size(); i = next++) {
                auto outcome = statAndRead(request.mountPoint / paths[i]);
                std::lock_guard lock(mutex);
                outcomes[paths[i]] = std::move(outcome);
            }
        });
    }
    struct JoinAll {
        std::vector<std::thread>& threads;
        ~JoinAll() {
            for (auto& thread : threads) {
                if (thread.joinable()) {
                    thread.join();
                }
            }
        }
    } joinAll{readers};

    // In the middle: an eighth of the blob bytes have passed, the rest is still on its way.
    const uint64_t strikeAt = mountedBytes + files * kBytesPerFile / 8;
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (proxy.bytesDown() < strikeAt && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(proxy.bytesDown(), strikeAt) << "the batch never got going";
    const pid_t serverPid = std::stoi(readWholeFile((dir / "served/git-daemon/git-daemon.pid")));
    // `git daemon` runs git-daemon as a child; both and every upload-pack share one group.
    ASSERT_EQ(::kill(-::getpgid(serverPid), SIGKILL), 0) << errnoText(errno);
    const uint64_t bytesAtKill = proxy.bytesDown();
    server.stop();  // reaps it; the port refuses from now on
    for (auto& reader : readers) {
        reader.join();
    }

    size_t failed = 0;
    for (const auto& path : paths) {
        const auto& outcome = outcomes.at(path);
        if (outcome.bytes) {
            EXPECT_EQ(*outcome.bytes, originBytes(origin, path)) << path << ": wrong bytes";
        } else {
            ++failed;
            EXPECT_EQ(outcome.error, EIO) << path << ": " << errnoText(outcome.error);
        }
    }
    std::cout << "killed the server after " << (bytesAtKill - mountedBytes) << " of ~"
              << files * kBytesPerFile << " blob bytes; " << failed << " of " << files
              << " reads failed with EIO, the rest returned Git's bytes\n";
    EXPECT_GT(failed, 0U) << "the kill did not reach any reader";
    EXPECT_TRUE(daemon.alive()) << "the daemon died with the server";
    EXPECT_TRUE(daemon.mounted());

    server.start();
    for (const auto& path : paths) {
        const auto outcome = statAndRead(request.mountPoint / path);
        ASSERT_TRUE(outcome.bytes)
            << path << " after the server came back: " << errnoText(outcome.error);
        ASSERT_EQ(*outcome.bytes, originBytes(origin, path)) << path;
    }
    EXPECT_EQ(daemon.stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
