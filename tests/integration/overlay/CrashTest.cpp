// CrashTest: a writer appends and fsyncs records while the daemon is killed with SIGKILL; the
// daemon restarted over the same overlay shows every record whose fsync returned.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "WritableFixture.hpp"
#include "common/UniqueFd.hpp"
#include "overlay/OverlayStore.hpp"

namespace megafuse::test {
namespace {

class CrashTest : public WritableFixture {};

std::string record(int i) {
    return "record " + std::to_string(i) + "\n";
}

TEST_F(CrashTest, EveryFsyncedRecordSurvivesAKilledDaemon) {
    auto daemon = mount();
    std::atomic<int> acknowledged{0};
    std::atomic<bool> stop{false};
    const auto logPath = mountPoint() / "src/deep/journal.log";
    std::thread writer([&] {
        UniqueFd fd(::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (!fd) {
            return;
        }
        for (int i = 0; !stop; ++i) {
            const std::string line = record(i);
            if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
                ::fsync(fd.get()) != 0) {
                return;  // the daemon is gone
            }
            // A file per record too: names must survive like bytes.
            const auto name = mountPoint() / "src" / ("r" + std::to_string(i));
            UniqueFd each(::open(name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
            if (!each || ::fsync(each.get()) != 0) {
                return;
            }
            acknowledged = i + 1;
        }
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (acknowledged < 200 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(::kill(daemon->pid(), SIGKILL), 0);
    EXPECT_TRUE(waitUntilUnmounted(mountPoint(), std::chrono::seconds(20)));
    stop = true;
    writer.join();
    daemon->stop();
    const int acked = acknowledged;
    ASSERT_GE(acked, 1);

    auto again = mount();
    const std::string journal = readFile(logPath);
    for (int i = 0; i < acked; ++i) {
        ASSERT_NE(journal.find(record(i)), std::string::npos) << "record " << i << " of " << acked;
        ASSERT_TRUE(std::filesystem::exists(mountPoint() / "src" / ("r" + std::to_string(i))))
            << "r" << i;
    }
    again->stop();
    auto overlay = overlay::OverlayStore::open(overlayDir());
    EXPECT_FALSE(overlay->empty());
}

}  // namespace
}  // namespace megafuse::test
