// StressSupport: what the stress suite needs beyond tests/support — the scale knob (short form in
// CI, long form for bench runs), a daemon's resource figures from /proc, a progress watchdog that
// dumps stacks with gdb instead of hanging, a throttling TCP proxy (to be in the middle of a
// fetch when a fault strikes) and generated repositories of many files.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/UniqueFd.hpp"

namespace megafuse::test {

// MEGAFUSE_STRESS_SCALE (a whole number ≥ 1, default 1): every stress test multiplies its short
// (CI) counts by it, up to the long form the issue names (e.g. 10: 1,000 mount cycles, 20 kills).
// Throws HarnessError naming the variable when it is not a whole number ≥ 1.
int stressScale();

// A process's resources as the kernel counts them.
struct ProcessUsage {
    size_t fds = 0;                              // entries of /proc/PID/fd
    size_t threads = 0;                          // entries of /proc/PID/task
    uint64_t rssKiB = 0;                         // VmRSS of /proc/PID/status
    [[nodiscard]] std::string describe() const;  // "fds 23, threads 9, RSS 14.2 MiB"
};
// Throws HarnessError when the process is gone.
ProcessUsage usageOf(pid_t pid);

// Watches a progress counter that the load bumps; when it stands still for stallAfter, dumps the
// stacks of every thread of pid (gdb -batch, bounded) into the report and calls onStall (e.g. to
// abort the FUSE connection, so blocked readers return and the test can fail instead of hang).
class ProgressWatchdog {
public:
    ProgressWatchdog(pid_t pid, const std::atomic<uint64_t>& progress,
                     std::chrono::seconds stallAfter, std::function<void()> onStall);
    ~ProgressWatchdog();
    ProgressWatchdog(const ProgressWatchdog&) = delete;
    ProgressWatchdog& operator=(const ProgressWatchdog&) = delete;

    // True once a stall was seen; report() then holds the stacks.
    [[nodiscard]] bool stalled() const { return stalled_; }
    [[nodiscard]] std::string report() const;

private:
    void run(std::chrono::seconds stallAfter);

    pid_t pid_;
    const std::atomic<uint64_t>& progress_;
    std::function<void()> onStall_;
    std::atomic<bool> stalled_{false};
    mutable std::mutex mutex_;  // guards done_ and report_; a leaf
    std::condition_variable wake_;
    bool done_ = false;
    std::string report_;
    std::thread thread_;
};

// A TCP proxy on 127.0.0.1 in front of upstreamPort that passes server→client bytes at most at
// bytesPerSecond (client→server unthrottled), so a fetch through it lasts long enough to strike
// in its middle. Counts the bytes passed down. Closes every connection when upstream closes.
class ThrottlingProxy {
public:
    ThrottlingProxy(uint16_t upstreamPort, uint64_t bytesPerSecond);
    ~ThrottlingProxy();
    ThrottlingProxy(const ThrottlingProxy&) = delete;
    ThrottlingProxy& operator=(const ThrottlingProxy&) = delete;

    [[nodiscard]] uint16_t port() const { return port_; }
    [[nodiscard]] uint64_t bytesDown() const { return bytesDown_; }

private:
    void acceptLoop();
    void pump(UniqueFd client);

    uint16_t upstreamPort_;
    uint64_t bytesPerSecond_;
    uint16_t port_ = 0;
    UniqueFd listener_;
    UniqueFd stopRead_;  // readable once the destructor runs: every loop's poll wakes
    UniqueFd stopWrite_;
    std::atomic<uint64_t> bytesDown_{0};
    std::mutex mutex_;  // guards connections_; a leaf
    std::vector<std::thread> connections_;
    std::thread acceptor_;
};

// A repository at dir (branch main, one commit) of files spread over directories: file i is
// "d<i % directories>/f<i>.bin" holding bytesPerFile pseudo-random bytes (a fixed seed, so every
// build is the same and git cannot compress them away). Built with git add, not per-file
// plumbing: thousands of files take seconds.
void buildGeneratedRepo(const std::filesystem::path& dir, size_t files, size_t bytesPerFile,
                        size_t directories);
// The relative paths buildGeneratedRepo wrote, in order.
std::vector<std::string> generatedPaths(size_t files, size_t directories);

}  // namespace megafuse::test
