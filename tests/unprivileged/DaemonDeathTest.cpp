// DaemonDeathTest: however mega-fused dies — SIGKILL, a segfault, an uncaught exception, exit()
// from under its threads — its mount is released, not left "Transport endpoint is not connected"
// (fs/UnmountWatcher). Runs as root and, through run-as-user.sh, as an ordinary user, where
// libfuse 3.14's own auto_unmount leaves exactly that stale mount (UnmountWatcher.hpp).
#include <gtest/gtest.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "support/ChildProcess.hpp"
#include "support/MegaFused.hpp"
#include "support/Mounts.hpp"
#include "support/RepoBuilder.hpp"
#include "support/TempDir.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Death {
    const char* name;
    const char* cue;  // MEGAFUSE_TEST_DIE for DieOnCue; nullptr: the test sends SIGKILL
    ChildProcess::Status status;
};

// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest's customization point.
void PrintTo(const Death& death, std::ostream* out) {
    *out << death.name;
}

bool isStale(const fs::path& path) {
    struct statfs sfs {};
    return ::statfs(path.c_str(), &sfs) != 0 && errno == ENOTCONN;
}

// Bounded polls, not timing assertions: each ends as soon as the state is reached.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::seconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

class DaemonDeathTest : public ::testing::TestWithParam<Death> {};

TEST_P(DaemonDeathTest, LeavesNoMountBehind) {
    const Death& death = GetParam();
    ASSERT_TRUE(MegaFused::available()) << "mega-fused is not built";
    TempDir dir;
    RepoBuilder repo(dir / "repo");
    repo.writeFile("hello.txt", "hello\n");
    repo.commit("first");
    MountRequest r;
    r.source = repo.dir().string();
    r.mountPoint = dir.makeDir("mnt");
    r.cacheDir = dir / "cache";

    // A bare process, not MegaFused: its teardown would unmount what this test must find gone.
    ChildOptions options;
    options.argv = r.commandLine();
    options.logFile = dir / "daemon.log";
    const fs::path cue = dir / "die-now";
    if (death.cue != nullptr) {
        options.extraEnvironment = {{"LD_PRELOAD", DIE_ON_CUE_LIBRARY},
                                    {"MEGAFUSE_TEST_DIE", death.cue},
                                    {"MEGAFUSE_TEST_DIE_CUE", cue.string()}};
        // In sanitizer builds the preloaded library comes before the ASan runtime, which ASan
        // refuses by default; the order is harmless here (the library only starts a thread).
        // handle_segv=0: the segfault case must end the daemon by SIGSEGV, not by ASan's report.
        const char* asan = std::getenv("ASAN_OPTIONS");
        options.extraEnvironment["ASAN_OPTIONS"] =
            std::string(asan != nullptr ? asan : "") + ":verify_asan_link_order=0:handle_segv=0";
    }
    ChildProcess daemon(options);
    auto log = [&] {
        std::ifstream in(options.logFile);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    };
    ASSERT_TRUE(eventually([&] {
                    std::ifstream in(r.mountPoint / "hello.txt");
                    std::string text;
                    return (std::getline(in, text) && text == "hello") || !daemon.running();
                }) &&
                daemon.running())
        << "not served: " << log();

    if (death.cue != nullptr) {
        std::ofstream(cue) << "now\n";
    } else {
        daemon.signal(SIGKILL);
    }
    const auto status = daemon.waitFor(30s);
    ASSERT_TRUE(status.has_value()) << "mega-fused did not die: " << log();
    EXPECT_EQ(*status, death.status) << describeStatus(*status) << "\n" << log();

    EXPECT_TRUE(eventually([&] { return !isFuseMount(r.mountPoint); }))
        << (isStale(r.mountPoint) ? "a stale mount (ENOTCONN) was left" : "still mounted") << " at "
        << r.mountPoint << "\n"
        << log();
    EXPECT_FALSE(isStale(r.mountPoint));
}

INSTANTIATE_TEST_SUITE_P(EveryWayToDie, DaemonDeathTest,
                         ::testing::Values(Death{"Sigkill", nullptr, -SIGKILL},
                                           Death{"Segfault", "segv", -SIGSEGV},
                                           Death{"UncaughtException", "throw", -SIGABRT},
                                           Death{"ExitFromAnotherThread", "exit", 3}),
                         [](const ::testing::TestParamInfo<Death>& param) {
                             return std::string(param.param.name);
                         });

}  // namespace
}  // namespace megafuse::test
