// LifecycleTest: the daemon's process contract — it announces the mount, SIGTERM unmounts and
// exits 0 (even with a file held open), and a SIGKILLed daemon does not leave a dead mount.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <thread>

#include "MountFixture.hpp"
#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"
#include "support/Mounts.hpp"

namespace megafuse::test {
namespace {

bool waitUntilUnmounted(const std::filesystem::path& mountPoint, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (isFuseMount(mountPoint)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

// What a crashed daemon leaves when nothing cleans up after it (its auto-unmount helper died
// too): a FUSE mount whose connection is dead, every access ENOTCONN. Made with mount(2) on a
// /dev/fuse fd closed before INIT. (tests/integration/ctl has the same as a class.)
void makeStaleFuseMount(const std::filesystem::path& mountPoint) {
    std::filesystem::create_directories(mountPoint);
    UniqueFd fuse(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fuse) << "open /dev/fuse: " << errnoText(errno);
    const std::string options =
        "fd=" + std::to_string(fuse.get()) + ",rootmode=40000,user_id=0,group_id=0";
    ASSERT_EQ(::mount("mega-fuse:stale", mountPoint.c_str(), "fuse.mega-fuse", MS_NOSUID | MS_NODEV,
                      options.c_str()),
              0)
        << "mount: " << errnoText(errno);
}  // `fuse` closes here: the connection dies, the mount stays (TempDir removes it at the end)

class LifecycleTest : public MountFixture, public ::testing::WithParamInterface<SourceKind> {};

TEST_P(LifecycleTest, LogsTheMountAndExitsZeroOnSigterm) {
    ServedSource served(GetParam(), repo_.dir, dir_ / "served");
    auto daemon = mount(request(served.source(), "main"));
    const std::string line = "mounted " + served.source() + " main (" + repo_.mainCommit + ") at " +
                             mountPoint().string();
    EXPECT_TRUE(daemon->waitForLog(line, std::chrono::seconds(10)))
        << "no line \"" << line << "\" in the log:\n"
        << daemon->log();
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
    EXPECT_TRUE(stopped.unmountedByDaemon) << "the daemon exited and left its mount";
}

INSTANTIATE_TEST_SUITE_P(LocalAndRemote, LifecycleTest,
                         ::testing::Values(SourceKind::LocalPath, SourceKind::GitDaemon),
                         [](const auto& param) { return std::string(toString(param.param)); });

class ProcessLifecycleTest : public MountFixture {};

TEST_F(ProcessLifecycleTest, SigtermWithAFileHeldOpenStillUnmountsAndExits) {
    auto daemon = mount(request(repo_.dir.string(), "main"));
    UniqueFd held(::open((mountPoint() / "README.md").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(held) << errnoText(errno);
    ASSERT_EQ(::kill(daemon->pid(), SIGTERM), 0);
    // A busy mount cannot be unmounted eagerly; the daemon has to detach it.
    EXPECT_TRUE(waitUntilUnmounted(mountPoint(), std::chrono::seconds(20)))
        << "still mounted 20 s after SIGTERM with one file open";
    held.reset();
    auto stopped = daemon->stop();
    EXPECT_EQ(stopped.status, 0) << describeStatus(stopped.status);
}

TEST_F(ProcessLifecycleTest, SigkillOfTheDaemonDropsTheMount) {
    auto daemon = mount(request(repo_.dir.string(), "main"));
    // A mount that has been used: the kernel holds the root's attributes (long TTL).
    struct stat st {};
    ASSERT_EQ(::stat(mountPoint().c_str(), &st), 0) << errnoText(errno);
    int error = 0;
    ASSERT_TRUE(readFileOrErrno(mountPoint() / "README.md", error)) << errnoText(error);
    ASSERT_EQ(::kill(daemon->pid(), SIGKILL), 0);
    EXPECT_TRUE(waitUntilUnmounted(mountPoint(), std::chrono::seconds(20)))
        << "a dead mount (ENOTCONN) stays after the daemon was killed";
    EXPECT_EQ(daemon->stop().status, -SIGKILL);
}

TEST_F(ProcessLifecycleTest, MountingOverAStaleMountWorks) {
    makeStaleFuseMount(mountPoint());
    struct stat st {};
    ASSERT_NE(::stat(mountPoint().c_str(), &st), 0);
    ASSERT_EQ(errno, ENOTCONN) << "expected a stale mount: " << errnoText(errno);

    auto daemon = mount(request(repo_.dir.string(), "v1.0"));
    int error = 0;
    auto bytes = readFileOrErrno(mountPoint() / "gone.txt", error);
    ASSERT_TRUE(bytes.has_value()) << errnoText(error);
    EXPECT_EQ(*bytes, gitBytes("v1.0", "gone.txt"));
    EXPECT_EQ(daemon->stop().status, 0);
}

}  // namespace
}  // namespace megafuse::test
