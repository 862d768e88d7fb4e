// CrashLoopTest: the service is killed with SIGKILL (its whole group, helpers included, as systemd
// would) while readers read two read-only mounts and a writer appends and fsyncs records in a
// writable one — again and again (5 rounds; MEGAFUSE_STRESS_SCALE=4 gives the 20). After
// each kill the overlay passes its own consistency check (overlay::checkOverlay); after each
// restart every mount is back from the state file, each mountpoint holds one live mount (the
// stale one cleared), and every record whose fsync returned, in every round so far, is there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <sstream>
#include <thread>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "common/UniqueFd.hpp"
#include "overlay/OverlayCheck.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kRecordsPerRound = 40;

std::string record(int round, int i) {
    return "round " + std::to_string(round) + " record " + std::to_string(i) + "\n";
}

// The bytes a journal must start with once `acked` appends of round returned from fsync.
std::string acknowledgedPrefix(int round, int acked) {
    std::string bytes;
    for (int i = 0; i < acked; ++i) {
        bytes += record(round, i);
    }
    return bytes;
}

class CrashLoopTest : public ServiceFixture {
protected:
    void writeServiceConfig() {
        std::ostringstream text;
        text << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n"
             << "state_dir: \"" << (*temp_ / "state").string() << "\"\n"
             << "log_level: debug\n"
             << "mounts:\n";
        const std::pair<std::string, std::string> mounts[] = {
            {"ro-local", repoDir().string()}, {"ro-file", fileUrl()}, {"rw", repoDir().string()}};
        for (const auto& [name, source] : mounts) {
            fs::create_directories(mountpointOf(name));
            text << "  - name: " << name << "\n"
                 << "    source: \"" << source << "\"\n"
                 << "    mountpoint: \"" << mountpointOf(name).string() << "\"\n"
                 << "    revision: main\n"
                 << "    writable: " << (name == "rw" ? "true" : "false") << "\n";
        }
        writeRawConfig(text.str());
    }

    [[nodiscard]] fs::path journal(int round) const {
        return mountpointOf("rw") / ("journal-" + std::to_string(round) + ".log");
    }
};

TEST_F(CrashLoopTest, KilledUnderLoadAgainAndAgainLosesNothingFsynced) {
    const int rounds = 5 * stressScale();
    writeServiceConfig();
    startDaemon();
    std::vector<int> acked(static_cast<size_t>(rounds), 0);
    uint64_t readsTotal = 0;

    for (int round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        std::atomic<bool> stop{false};
        std::atomic<int> acknowledged{0};
        std::atomic<uint64_t> reads{0};
        std::atomic<int> wrongBytes{0};
        std::vector<std::thread> threads;
        struct JoinAll {
            std::atomic<bool>& stop;
            std::vector<std::thread>& threads;
            ~JoinAll() {
                stop = true;
                for (auto& thread : threads) {
                    thread.join();
                }
            }
        } joinAll{stop, threads};
        threads.emplace_back([&] {
            UniqueFd fd(
                ::open(journal(round).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            for (int i = 0; fd && !stop; ++i) {
                const std::string line = record(round, i);
                if (::write(fd.get(), line.data(), line.size()) !=
                        static_cast<ssize_t>(line.size()) ||
                    ::fsync(fd.get()) != 0) {
                    return;  // the daemon is gone
                }
                acknowledged = i + 1;
            }
        });
        const std::pair<fs::path, std::string> reading[] = {
            {mountpointOf("ro-local") / "hello.txt", "hello from main\n"},
            {mountpointOf("ro-file") / "dir" / "a.txt", "file a\n"}};
        for (const auto& [path, expected] : reading) {
            threads.emplace_back([&, path = path, expected = expected] {
                while (!stop) {
                    int error = 0;
                    auto bytes = readFile(path, &error);
                    if (!bytes) {
                        return;  // ENOTCONN once the daemon is killed
                    }
                    if (*bytes != expected) {
                        ++wrongBytes;
                    }
                    ++reads;
                }
            });
        }
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while ((acknowledged < kRecordsPerRound || reads < 10) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
        ASSERT_GE(acknowledged.load(), 1) << daemonLog();
        killDaemonHard();
        stop = true;
        for (auto& thread : threads) {
            thread.join();
        }
        threads.clear();
        acked[static_cast<size_t>(round)] = acknowledged;
        readsTotal += reads;
        EXPECT_EQ(wrongBytes.load(), 0);

        const auto check = overlay::checkOverlay(*temp_ / "state" / "overlays" / "rw");
        std::string problems;
        for (const auto& line : check.problems) {
            problems += line + "\n";
        }
        ASSERT_TRUE(check.ok()) << problems;

        startDaemon();
        for (const char* name : {"ro-local", "ro-file", "rw"}) {
            ASSERT_EQ(stateOf(name), "mounted") << name << "\n" << daemonLog();
            EXPECT_EQ(mountsBelow(mountpointOf(name)).size(), 1U)
                << name << ": the stale mount was not cleared";
            struct statfs sfs {};
            EXPECT_EQ(::statfs(mountpointOf(name).c_str(), &sfs), 0) << name;
        }
        for (int r = 0; r <= round; ++r) {
            const auto bytes = readFile(journal(r));
            ASSERT_TRUE(bytes) << journal(r);
            const std::string prefix = acknowledgedPrefix(r, acked[static_cast<size_t>(r)]);
            ASSERT_EQ(bytes->substr(0, prefix.size()), prefix)
                << journal(r) << ": a record whose fsync returned is missing";
        }
    }
    int totalAcked = 0;
    for (int n : acked) {
        totalAcked += n;
    }
    std::cout << rounds << " kill -9 rounds: " << totalAcked << " fsync'd records all present, "
              << readsTotal << " reads all with the right bytes\n";
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
    const auto check = overlay::checkOverlay(*temp_ / "state" / "overlays" / "rw");
    EXPECT_TRUE(check.ok()) << (check.problems.empty() ? "" : check.problems.front());
    EXPECT_GE(check.fileNodes, static_cast<uint64_t>(rounds));
}

}  // namespace
}  // namespace megafuse::test
