// MegaFused: the daemon under test as a real process on a real FUSE mount; every outcome ends with
// it gone and nothing mounted, and a watchdog turns a hung mount into a failed test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/Subprocess.hpp"
#include "support/ChildProcess.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {

// `mega-fused mount SOURCE MOUNTPOINT [--rev REV] [--path SUBPATH] [--cache-dir DIR]
//  [--fetch-timeout SECONDS] [--log-level LEVEL] [--writable [--overlay-dir DIR]]`
struct MountRequest {
    std::string source;  // local path, file://, git://, http(s)://
    std::filesystem::path mountPoint;
    std::filesystem::path cacheDir;  // empty: the daemon's default (tests always set one)
    std::optional<std::string> revision;
    std::optional<std::string> subPath;
    std::optional<int> fetchTimeoutSeconds;
    std::string logLevel = "debug";
    // `--writable [--overlay-dir DIR]`: a copy-on-write mount (overlayDir empty: the default).
    bool writable = false;
    std::filesystem::path overlayDir;
    bool allowOther = false;  // `--allow-other`
    // Appended as they are (options one suite needs, such as `--refresh-interval 1`).
    std::vector<std::string> extraArguments;

    // The command line, binary first.
    [[nodiscard]] std::vector<std::string> commandLine() const;
};

class MegaFused {
public:
    struct StopResult {
        ChildProcess::Status status = -1;  // 0 for an orderly SIGTERM exit
        bool unmountedByDaemon = false;    // the mount was gone before any harness cleanup
    };

    // $MEGAFUSED_BIN if set, else the build's mega-fused (compile-time MEGAFUSED_BIN), else empty.
    static std::filesystem::path binary();
    // True when binary() names an executable file (mount tests fail without it).
    static bool available();

    // Starts the daemon and waits (bounded) until the mount point is a FUSE mount. Throws
    // HarnessError with the daemon's log when it exits first or does not mount in time.
    // watchdogAfter bounds the whole life of the mount (keep it below the ctest timeout).
    MegaFused(MountRequest request, std::filesystem::path logFile,
              std::chrono::seconds watchdogAfter = std::chrono::seconds(100));
    ~MegaFused();
    MegaFused(const MegaFused&) = delete;
    MegaFused& operator=(const MegaFused&) = delete;

    [[nodiscard]] pid_t pid() const { return process_->pid(); }
    [[nodiscard]] const MountRequest& request() const { return request_; }
    [[nodiscard]] const std::filesystem::path& logFile() const { return logFile_; }
    [[nodiscard]] std::string log() const;
    // True while the daemon process runs.
    bool alive();
    [[nodiscard]] bool mounted() const;
    // Waits (bounded) until the log contains text; for lines written right after mounting.
    bool waitForLog(const std::string& text, std::chrono::milliseconds timeout);

    // SIGTERM and a bounded wait for the daemon's own unmount and exit; then the harness makes
    // sure (SIGKILL, fusermount3). Idempotent: a second call returns the first result.
    StopResult stop();

    // Runs the daemon for a request expected to fail before mounting (unknown revision or path):
    // waits up to timeout for it to exit; cleans up a mount if it made one anyway.
    static SubprocessResult runUntilExit(const MountRequest& request,
                                         std::chrono::milliseconds timeout);

private:
    void watch(std::chrono::seconds after);
    void stopWatchdog();

    MountRequest request_;
    std::filesystem::path logFile_;
    std::unique_ptr<ChildProcess> process_;
    std::optional<StopResult> stopped_;
    std::optional<MountEntry> mount_;  // as listed once mounted: the watchdog's fusectl handle

    std::mutex mutex_;  // guards done_; the watchdog thread waits on wake_
    std::condition_variable wake_;
    bool done_ = false;
    std::thread watchdog_;
};

}  // namespace megafuse::test
