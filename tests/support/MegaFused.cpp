// MegaFused: spawn, wait for /proc/self/mountinfo to list the mount, stop in layers. The log is
// dumped into the test output whenever the test has failed, so a red test shows the daemon's side.
#include "support/MegaFused.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

constexpr auto kMountWait = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(20);

}  // namespace

std::vector<std::string> MountRequest::commandLine() const {
    std::vector<std::string> argv{MegaFused::binary().string(), "mount", source,
                                  mountPoint.string()};
    if (revision) {
        argv.insert(argv.end(), {"--rev", *revision});
    }
    if (subPath) {
        argv.insert(argv.end(), {"--path", *subPath});
    }
    if (!cacheDir.empty()) {
        argv.insert(argv.end(), {"--cache-dir", cacheDir.string()});
    }
    if (fetchTimeoutSeconds) {
        argv.insert(argv.end(), {"--fetch-timeout", std::to_string(*fetchTimeoutSeconds)});
    }
    if (!logLevel.empty()) {
        argv.insert(argv.end(), {"--log-level", logLevel});
    }
    if (writable) {
        argv.emplace_back("--writable");
        if (!overlayDir.empty()) {
            argv.insert(argv.end(), {"--overlay-dir", overlayDir.string()});
        }
    }
    if (allowOther) {
        argv.emplace_back("--allow-other");
    }
    argv.insert(argv.end(), extraArguments.begin(), extraArguments.end());
    return argv;
}

std::filesystem::path MegaFused::binary() {
    // Read-only use of the environment; nothing in the tests calls setenv.
    if (const char* fromEnvironment =
            std::getenv("MEGAFUSED_BIN");  // NOLINT(concurrency-mt-unsafe)
        fromEnvironment != nullptr && *fromEnvironment != '\0') {
        return fromEnvironment;
    }
#ifdef MEGAFUSED_BIN
    return MEGAFUSED_BIN;
#else
    return {};
#endif
}

bool MegaFused::available() {
    const auto path = binary();
    return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

MegaFused::MegaFused(MountRequest request, std::filesystem::path logFile,
                     std::chrono::seconds watchdogAfter)
    : request_(std::move(request)), logFile_(std::move(logFile)) {
    if (!available()) {
        throw HarnessError("mega-fused is not built (MEGAFUSED_BIN: \"" + binary().string() +
                           "\")");
    }
    // Not an error when it fails: a stale mount there (ENOTCONN) is the daemon's to clear.
    std::error_code ignored;
    std::filesystem::create_directories(request_.mountPoint, ignored);
    // A stale mount of a crashed daemon may sit there already: wait for a different one. The
    // daemon replaces it, and the new mount may get the same id and device number: compare lines.
    const auto before = findMount(request_.mountPoint);
    ChildOptions options;
    options.argv = request_.commandLine();
    options.logFile = logFile_;
    process_ = std::make_unique<ChildProcess>(options);

    const auto isNewMount = [&before](const std::optional<MountEntry>& now) {
        return now && now->isFuse() && (!before || !before->isFuse() || now->line != before->line);
    };
    const auto deadline = std::chrono::steady_clock::now() + kMountWait;
    for (;;) {
        if (auto now = findMount(request_.mountPoint); isNewMount(now)) {
            mount_ = std::move(now);
            break;
        }
        std::string problem;
        if (!process_->running()) {
            problem =
                "mega-fused exited (" + describeStatus(*process_->status()) + ") before mounting";
        } else if (std::chrono::steady_clock::now() >= deadline) {
            problem =
                "mega-fused did not mount within " + std::to_string(kMountWait.count()) + " s";
        }
        if (!problem.empty()) {
            process_->stop(std::chrono::seconds(5));
            unmountFuse(request_.mountPoint);
            throw HarnessError(problem + " at " + request_.mountPoint.string() + "; its log:\n" +
                               tailOfFile(logFile_.string()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    watchdog_ = std::thread([this, watchdogAfter] { watch(watchdogAfter); });
}

MegaFused::~MegaFused() {
    stop();
    if (::testing::Test::HasFailure()) {
        std::cerr << "---- mega-fused log (" << logFile_.string() << ") ----\n"
                  << tailOfFile(logFile_.string()) << "---- end of mega-fused log ----\n";
    }
}

std::string MegaFused::log() const {
    try {
        return readWholeFile(logFile_.string());
    } catch (const HarnessError&) {
        return {};
    }
}

bool MegaFused::alive() {
    return process_->running();
}

bool MegaFused::mounted() const {
    return isFuseMount(request_.mountPoint);
}

bool MegaFused::waitForLog(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (log().find(text) == std::string::npos) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

void MegaFused::watch(std::chrono::seconds after) {
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, after, [this] { return done_; })) {
        return;
    }
    // The test is stuck, most likely inside a FUSE call the daemon never answers. Aborting the
    // connection (fusectl) or killing the daemon's group (closes /dev/fuse) unblocks the caller.
    // Nothing here may touch the mount point: that would block this thread too.
    ADD_FAILURE() << "watchdog: the test still runs " << after.count()
                  << " s after mounting; killing mega-fused to free " << request_.mountPoint;
    abortFuseConnection(*mount_);
    process_->killGroup();
}

void MegaFused::stopWatchdog() {
    {
        std::lock_guard lock(mutex_);
        done_ = true;
    }
    wake_.notify_all();
    if (watchdog_.joinable()) {
        watchdog_.join();
    }
}

MegaFused::StopResult MegaFused::stop() {
    if (stopped_) {
        return *stopped_;
    }
    stopWatchdog();
    StopResult result;
    if (process_->running()) {
        process_->signal(SIGTERM);
        process_->waitFor(kStopGrace);
    }
    result.status = process_->stop(std::chrono::seconds(1));
    result.unmountedByDaemon = !mounted();
    if (!result.unmountedByDaemon) {
        unmountFuse(request_.mountPoint);
    }
    stopped_ = result;
    return result;
}

SubprocessResult MegaFused::runUntilExit(const MountRequest& request,
                                         std::chrono::milliseconds timeout) {
    if (!available()) {
        throw HarnessError("mega-fused is not built");
    }
    std::error_code ignored;
    std::filesystem::create_directories(request.mountPoint, ignored);
    SubprocessOptions options;
    options.timeout = timeout;
    auto result = runSubprocess(request.commandLine(), options);
    if (isFuseMount(request.mountPoint)) {
        result.err += "\n(harness: the daemon left a mount behind; unmounted it)";
        unmountFuse(request.mountPoint);
    }
    return result;
}

}  // namespace megafuse::test
