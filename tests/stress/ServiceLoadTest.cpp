// ServiceLoadTest: the service under many mounts and many clients — 100 mounts at once; mount and
// unmount cycles (100; × MEGAFUSE_STRESS_SCALE, 10 gives the 1,000) with the daemon's fds,
// threads and RSS measured before and after and bounded; 20 D-Bus clients calling list, status,
// mount and unmount for a bounded time, every call answered, the state consistent afterwards
// (ListMounts against the kernel's mount table).
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "ServiceFixture.hpp"
#include "StressSupport.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Bounds on what mount/unmount cycles may leave behind (growth from after a warm-up to the end).
// Not timing: counts and sizes. RSS may move with the allocator's arenas, not with the cycles.
constexpr long kMaxFdGrowth = 4;
constexpr long kMaxThreadGrowth = 2;
constexpr long kMaxRssGrowthKiB = 16L * 1024;

// ListMounts fields: 1 Name, 6 MountPoint, 10 State.
std::map<std::string, std::pair<fs::path, std::string>> listMounts(ManagerClient& manager) {
    std::map<std::string, std::pair<fs::path, std::string>> mounts;
    for (const auto& row : manager.ListMounts()) {
        mounts[std::get<1>(row)] = {fs::path(std::get<6>(row)), std::get<10>(row)};
    }
    return mounts;
}

// Every mount ListMounts calls "mounted" is a FUSE mount in /proc/self/mountinfo and every other
// one is not; one line per disagreement.
std::vector<std::string> disagreements(ManagerClient& manager) {
    std::vector<std::string> lines;
    for (const auto& [name, entry] : listMounts(manager)) {
        const auto& [mountPoint, state] = entry;
        const bool listed = isFuseMount(mountPoint);
        if ((state == "mounted") != listed) {
            std::string line = name;
            line += ": ListMounts says ";
            line += state;
            line += listed ? ", mountinfo lists " : ", mountinfo does not list ";
            line += mountPoint.string();
            lines.push_back(std::move(line));
        }
    }
    return lines;
}

using ServiceLoadTest = ServiceFixture;

TEST_F(ServiceLoadTest, HundredMountsAtOnce) {
    constexpr int kMounts = 100;
    std::vector<MountEntrySpec> mounts;
    mounts.reserve(kMounts);
    for (int i = 0; i < kMounts; ++i) {
        mounts.push_back({"m" + std::to_string(i), i % 2 == 0 ? repoDir().string() : fileUrl(),
                          i % 3 == 0 ? "other" : "main"});
    }
    writeConfig(mounts);
    startDaemon();
    const auto usage = usageOf(daemon_->pid());
    for (int i = 0; i < kMounts; ++i) {
        const std::string name = "m" + std::to_string(i);
        ASSERT_TRUE(waitForState(name, "mounted")) << name << "\n" << daemonLog();
        EXPECT_EQ(readFile(mountpointOf(name) / "hello.txt"),
                  i % 3 == 0 ? "hello from other\n" : "hello from main\n")
            << name;
    }
    EXPECT_EQ(listMounts(manager()).size(), static_cast<size_t>(kMounts));
    EXPECT_EQ(mountsBelow(*temp_ / "mnt").size(), static_cast<size_t>(kMounts));
    EXPECT_EQ(disagreements(manager()), std::vector<std::string>{});
    std::cout << kMounts << " mounts: daemon " << usage.describe() << "\n";
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
    EXPECT_TRUE(mountsBelow(*temp_ / "mnt").empty());
}

TEST_F(ServiceLoadTest, MountUnmountCyclesLeakNoFdsThreadsOrMemory) {
    const int cycles = 100 * stressScale();
    writeConfig({{"cycled", repoDir().string(), "main", false}, {"steady", fileUrl()}});
    startDaemon();
    auto cycled = mountClient("cycled");
    const auto cycle = [&] {
        cycled->Mount({});
        ASSERT_EQ(readFile(mountpointOf("cycled") / "dir" / "a.txt"), "file a\n");
        cycled->Unmount({});
    };
    // Warm-up: first-use allocations (stores, caches, thread pools) are not leaks.
    for (int i = 0; i < 10; ++i) {
        ASSERT_NO_FATAL_FAILURE(cycle());
    }
    const auto before = usageOf(daemon_->pid());
    for (int i = 0; i < cycles; ++i) {
        ASSERT_NO_FATAL_FAILURE(cycle()) << "cycle " << i;
    }
    const auto after = usageOf(daemon_->pid());
    std::cout << cycles << " mount/unmount cycles: before " << before.describe() << "; after "
              << after.describe() << "\n";
    EXPECT_LE(static_cast<long>(after.fds) - static_cast<long>(before.fds), kMaxFdGrowth);
    EXPECT_LE(static_cast<long>(after.threads) - static_cast<long>(before.threads),
              kMaxThreadGrowth);
#ifndef __SANITIZE_ADDRESS__
    EXPECT_LE(static_cast<long>(after.rssKiB) - static_cast<long>(before.rssKiB), kMaxRssGrowthKiB);
#else
    // ASan's quarantine holds freed memory (up to 256 MB), so RSS says nothing about leaks in
    // this build; LeakSanitizer checks the daemon for them when stopDaemon() ends it.
#endif
    EXPECT_EQ(stateOf("steady"), "mounted");
    EXPECT_EQ(stateOf("cycled"), "unmounted");
    EXPECT_FALSE(isFuseMount(mountpointOf("cycled")));
    cycled.reset();  // a proxy must go before the connection stopDaemon() closes
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

TEST_F(ServiceLoadTest, TwentyClientsStormTheBusAndEveryCallIsAnswered) {
    constexpr int kClients = 20;
    const auto duration = std::chrono::seconds(10 * stressScale());
    std::vector<MountEntrySpec> mounts;
    mounts.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        mounts.push_back({"s" + std::to_string(i), repoDir().string(), "main", false});
    }
    writeConfig(mounts);
    startDaemon();

    std::atomic<uint64_t> calls{0};
    std::mutex mutex;
    std::vector<std::string> errors;  // the first 20 unexpected errors
    const auto noteError = [&](const std::string& what) {
        std::lock_guard lock(mutex);
        if (errors.size() < 20) {
            errors.push_back(what);
        }
    };
    const auto until = std::chrono::steady_clock::now() + duration;
    std::vector<std::thread> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            // Each client its own connection, as separate megactl processes would be.
            auto connection = sdbus::createSessionBusConnectionWithAddress(address());
            ManagerClient manager(*connection);
            const std::string own = "s" + std::to_string(i);
            MountClient mine(*connection, mountPath(own));
            MountClient neighbour(*connection, mountPath("s" + std::to_string((i + 1) % kClients)));
            bool mounted = false;
            while (std::chrono::steady_clock::now() < until) {
                try {
                    if (manager.ListMounts().size() != kClients) {
                        noteError(own + ": ListMounts lost or invented mounts");
                    }
                    (void)neighbour.State();  // status of a mount another client churns
                    if (mounted) {
                        mine.Unmount({});
                    } else {
                        mine.Mount({});
                    }
                    mounted = !mounted;
                    if (mine.State() != (mounted ? "mounted" : "unmounted")) {
                        noteError(own + ": State disagrees with the call that just returned");
                    }
                    calls += 5;
                } catch (const sdbus::Error& e) {
                    noteError(own + ": " + e.getName() + ": " + e.getMessage());
                }
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    std::string listed;
    for (const auto& line : errors) {
        listed += "  " + line + "\n";
    }
    EXPECT_TRUE(errors.empty()) << listed;
    std::cout << kClients << " clients for " << duration.count() << " s: " << calls.load()
              << " calls answered; daemon " << usageOf(daemon_->pid()).describe() << "\n";
    EXPECT_GT(calls.load(), static_cast<uint64_t>(kClients) * 5);
    EXPECT_EQ(disagreements(manager()), std::vector<std::string>{});
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

}  // namespace
}  // namespace megafuse::test
