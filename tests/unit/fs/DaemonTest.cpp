// DaemonTest: `mega-fused mount` as a real process — errors before mounting, the log line,
// SIGTERM unmounting, SIGKILL leaving nothing mounted (auto_unmount), a stale mount point cleared.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "FsTestSupport.hpp"
#include "common/Subprocess.hpp"

namespace megafuse::test {
namespace {

namespace stdfs = std::filesystem;
using std::chrono::seconds;

class DaemonTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        repoHome_ = std::make_unique<TempDir>();
        repo_ = std::make_unique<TestRepo>(makeTestRepo(repoHome_->path() / "repo"));
    }
    static void TearDownTestSuite() {
        repo_.reset();
        repoHome_.reset();
    }

    void SetUp() override {
        if (::geteuid() != 0 && ::access("/dev/fuse", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "mounting needs root or a writable /dev/fuse";
        }
        stdfs::create_directories(mountpoint_);
    }

    [[nodiscard]] std::vector<std::string> mountArgs(std::vector<std::string> extra = {}) const {
        std::vector<std::string> args{"mount",
                                      repo_->dir.string(),
                                      mountpoint_.string(),
                                      "--cache-dir",
                                      (work_.path() / "cache").string(),
                                      "--log-level",
                                      "debug"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    // Runs a mount expected to fail before mounting.
    [[nodiscard]] SubprocessResult runFailing(std::vector<std::string> extra) const {
        std::vector<std::string> argv{DaemonProcess::binary().string()};
        auto args = mountArgs(std::move(extra));
        argv.insert(argv.end(), args.begin(), args.end());
        SubprocessOptions options;
        options.timeout = seconds(60);
        return runSubprocess(argv, options);
    }

    static std::unique_ptr<TempDir> repoHome_;
    static std::unique_ptr<TestRepo> repo_;

    TempDir work_;
    stdfs::path mountpoint_ = work_.path() / "mnt";
    MountCleanup cleanup_{work_.path() / "mnt"};
    stdfs::path log_ = work_.path() / "daemon.log";
};

std::unique_ptr<TempDir> DaemonTest::repoHome_;
std::unique_ptr<TestRepo> DaemonTest::repo_;

std::string readWhole(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST_F(DaemonTest, PrintsItsVersion) {
    SubprocessResult result = runSubprocess({DaemonProcess::binary().string(), "--version"});
    EXPECT_EQ(result.exitCode, 0);
    EXPECT_EQ(result.out.rfind("mega-fused ", 0), 0U) << result.out;
}

TEST_F(DaemonTest, UnknownRevisionFailsBeforeMounting) {
    SubprocessResult result = runFailing({"--rev", "nope"});
    EXPECT_EQ(result.exitCode, 2);
    EXPECT_NE(result.err.find("mega-fused: unknown revision 'nope' in " + repo_->dir.string()),
              std::string::npos)
        << result.err;
    EXPECT_FALSE(isFuseMounted(mountpoint_));
}

TEST_F(DaemonTest, UnknownPathFailsBeforeMounting) {
    SubprocessResult result = runFailing({"--path", "no/such/dir"});
    EXPECT_EQ(result.exitCode, 2);
    EXPECT_NE(result.err.find("mega-fused: "), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("no"), std::string::npos) << result.err;
    EXPECT_FALSE(isFuseMounted(mountpoint_));
}

TEST_F(DaemonTest, BadArgumentsExitWithTwo) {
    SubprocessResult result = runSubprocess({DaemonProcess::binary().string(), "mount"});
    EXPECT_EQ(result.exitCode, 2);
}

TEST_F(DaemonTest, SigtermUnmountsAndExitsZero) {
    DaemonProcess daemon(mountArgs({"--rev", "main"}), log_);
    ASSERT_TRUE(daemon.waitForLog("mounted ")) << daemon.log();
    EXPECT_EQ(readWhole(mountpoint_ / "README.md"), "hello mega-fuse\n");
    EXPECT_NE(daemon.log().find("mounted " + repo_->dir.string() + " main (" + repo_->head +
                                ") at " + mountpoint_.string()),
              std::string::npos)
        << daemon.log();

    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.waitExit(seconds(30)), 0) << daemon.log();
    EXPECT_FALSE(isFuseMounted(mountpoint_)) << "the daemon unmounts before it exits";
}

TEST_F(DaemonTest, SigintUnmountsToo) {
    DaemonProcess daemon(mountArgs(), log_);
    ASSERT_TRUE(daemon.waitForLog("mounted ")) << daemon.log();
    daemon.signal(SIGINT);
    EXPECT_EQ(daemon.waitExit(seconds(30)), 0) << daemon.log();
    EXPECT_FALSE(isFuseMounted(mountpoint_));
}

TEST_F(DaemonTest, ExternalUnmountEndsTheDaemon) {
    DaemonProcess daemon(mountArgs(), log_);
    ASSERT_TRUE(daemon.waitForLog("mounted ")) << daemon.log();
    ASSERT_TRUE(runSubprocess({"fusermount3", "-u", "--", mountpoint_.string()}).ok());
    EXPECT_EQ(daemon.waitExit(seconds(30)), 0) << daemon.log();
}

TEST_F(DaemonTest, SigkillLeavesNothingMounted) {
    DaemonProcess daemon(mountArgs(), log_);
    ASSERT_TRUE(daemon.waitForLog("mounted ")) << daemon.log();
    daemon.signal(SIGKILL);
    EXPECT_EQ(daemon.waitExit(seconds(30)), 128 + SIGKILL);
    EXPECT_TRUE(waitMountState(mountpoint_, false)) << "auto_unmount drops the mount";
}

TEST_F(DaemonTest, StaleMountPointIsClearedFirst) {
    {
        DaemonProcess crashed(mountArgs(), log_);
        ASSERT_TRUE(crashed.waitForLog("mounted ")) << crashed.log();
        // Kill the unmount watcher first, then the daemon: what a crash without the watcher
        // leaves is a mount whose daemon is gone.
        for (pid_t helper : childrenNamed(crashed.pid(), "sh")) {
            ::kill(helper, SIGKILL);
        }
        crashed.signal(SIGKILL);
        crashed.waitExit(seconds(30));
    }
    struct stat st {};
    if (::stat(mountpoint_.c_str(), &st) == 0) {
        GTEST_SKIP() << "could not produce a stale mount here (no unmount watcher found)";
    }
    ASSERT_EQ(errno, ENOTCONN);

    DaemonProcess daemon(mountArgs(), log_);
    ASSERT_TRUE(daemon.waitForLog("mounted ")) << daemon.log();
    EXPECT_EQ(readWhole(mountpoint_ / "README.md"), "hello mega-fuse\n") << daemon.log();
    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.waitExit(seconds(30)), 0) << daemon.log();
}

}  // namespace
}  // namespace megafuse::test
