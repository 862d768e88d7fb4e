// BlockedReaderTest: a reader is blocked inside the mount — in a read waiting on a fetch from a
// server that accepts and never answers — while `megactl unmount` runs. Without --lazy the answer
// is Busy (exit 5) and the mount stays; with --lazy it leaves the namespace at once, the blocked
// reader still gets its answer (EIO at the fetch timeout, not a hang), the daemon lives on, and
// the mount comes back once the server does.
#include <gtest/gtest.h>
#include <sys/vfs.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "ServiceFixture.hpp"
#include "common/Subprocess.hpp"
#include "support/ChildProcess.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"
#include "support/Network.hpp"

namespace megafuse::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kFetchTimeoutSeconds = 15;

class BlockedReaderTest : public ServiceFixture {
protected:
    SubprocessResult megactl(const std::vector<std::string>& args) {
        std::vector<std::string> argv{MEGACTL_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        SubprocessOptions options;
        options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", address()}};
        options.timeout = 90s;
        return runSubprocess(argv, options);
    }
};

// The kernel function a process sleeps in ("request_wait_answer" inside a FUSE call).
std::string waitChannel(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/wchan");
    std::string text;
    std::getline(in, text);
    return text;
}

TEST_F(BlockedReaderTest, BusyWithoutLazyCleanWithLazyWhileAReaderIsBlockedInAFetch) {
    const std::string source = gitUrl();
    std::ostringstream config;
    fs::create_directories(mountpointOf("hung"));
    config << "cache_dir: \"" << (*temp_ / "cache").string() << "\"\n"
           << "state_dir: \"" << (*temp_ / "state").string() << "\"\n"
           << "log_level: debug\n"
           << "mounts:\n"
           << "  - name: hung\n"
           << "    source: \"" << source << "\"\n"
           << "    revision: main\n"
           << "    mountpoint: \"" << mountpointOf("hung").string() << "\"\n"
           << "    fetch_timeout: " << kFetchTimeoutSeconds << "s\n";
    writeRawConfig(config.str());
    startDaemon();
    ASSERT_EQ(stateOf("hung"), "mounted") << daemonLog();

    const uint16_t port = gitDaemon_->port();
    gitDaemon_->stop();
    auto hole = std::make_unique<SilentListener>(port);
    ChildProcess reader(ChildOptions{
        {"cat", (mountpointOf("hung") / "dir" / "a.txt").string()}, *temp_ / "reader.log", {}});
    // Blocked: still running, asleep in a FUSE request (bounded wait for it to get there).
    std::string channel;
    for (int i = 0; i < 500 && channel.find("request_wait_answer") == std::string::npos; ++i) {
        std::this_thread::sleep_for(10ms);
        channel = waitChannel(reader.pid());
    }
    ASSERT_TRUE(reader.running()) << "the read did not block: " << readWholeFile(reader.logFile());
    EXPECT_NE(channel.find("request_wait_answer"), std::string::npos) << channel;

    const auto busy = megactl({"unmount", "hung"});
    EXPECT_EQ(busy.exitCode, 5) << busy.describe() << "\n" << busy.err;
    EXPECT_NE(busy.err.find("lazy"), std::string::npos) << busy.err;
    EXPECT_TRUE(isFuseMount(mountpointOf("hung")));
    EXPECT_EQ(stateOf("hung"), "mounted");

    const auto lazy = megactl({"unmount", "--lazy", "hung"});
    EXPECT_EQ(lazy.exitCode, 0) << lazy.describe() << "\n" << lazy.err;
    EXPECT_FALSE(isFuseMount(mountpointOf("hung")));
    EXPECT_EQ(stateOf("hung"), "unmounted");
    struct statfs sfs {};
    EXPECT_EQ(::statfs(mountpointOf("hung").c_str(), &sfs), 0) << "the folder is not usable";

    // The detached session still answers its last reader: EIO at the fetch timeout.
    const auto status = reader.waitFor(std::chrono::seconds(kFetchTimeoutSeconds + 60));
    ASSERT_TRUE(status) << "the blocked reader never got an answer";
    EXPECT_NE(*status, 0) << "cat read bytes from a server that never answered";
    EXPECT_NE(readWholeFile(reader.logFile()).find("Input/output error"), std::string::npos)
        << readWholeFile(reader.logFile());
    ASSERT_TRUE(daemon_->running()) << daemonLog();

    hole.reset();
    gitDaemon_->start();
    const auto mounted = megactl({"mount", "hung"});
    EXPECT_EQ(mounted.exitCode, 0) << mounted.describe() << "\n" << mounted.err;
    EXPECT_EQ(readFile(mountpointOf("hung") / "dir" / "a.txt"), "file a\n") << daemonLog();
    EXPECT_EQ(stopDaemon(), 0) << daemonLog();
}

}  // namespace
}  // namespace megafuse::test
