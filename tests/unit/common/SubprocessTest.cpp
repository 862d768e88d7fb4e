// Subprocess: exit codes, stdin feeding, output capture and the timeout that protects readers.
#include "common/Subprocess.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace megafuse {
namespace {

TEST(Subprocess, CapturesOutputAndExitCode) {
    auto r = runSubprocess({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.exitCode, 3);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.describe(), "exit 3: err");
}

TEST(Subprocess, FeedsStdinLargerThanAPipe) {
    SubprocessOptions options;
    options.stdinData = std::string(1 << 20, 'x');
    auto r = runSubprocess({"wc", "-c"}, options);
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(std::stoul(r.out), 1U << 20U);
}

TEST(Subprocess, ChildThatIgnoresStdinDoesNotKillUs) {
    SubprocessOptions options;
    options.stdinData = std::string(4 << 20, 'x');
    auto r = runSubprocess({"true"}, options);
    EXPECT_EQ(r.exitCode, 0);
}

TEST(Subprocess, TimeoutKillsTheWholeProcessGroup) {
    SubprocessOptions options;
    options.timeout = std::chrono::milliseconds(200);
    // The grandchild keeps stdout open: only a process-group kill lets us return.
    auto r = runSubprocess({"sh", "-c", "sleep 30 & sleep 30"}, options);
    EXPECT_TRUE(r.timedOut);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.describe().find("timed out"), std::string::npos);
}

TEST(Subprocess, MissingProgramThrows) {
    EXPECT_THROW(runSubprocess({"/nonexistent/program"}), std::system_error);
}

}  // namespace
}  // namespace megafuse
