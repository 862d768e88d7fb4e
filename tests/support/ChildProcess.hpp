// ChildProcess: a long-running program a test starts (git daemon, lighttpd, mega-fused), with its
// output in a log file. It leads its own process group, so stopping it also reaps what it forked
// (git daemon's per-connection children, the daemon's git fetches); the destructor always stops it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace megafuse::test {

struct ChildOptions {
    std::vector<std::string> argv;                        // argv[0] looked up in PATH
    std::filesystem::path logFile;                        // stdout + stderr, appended
    std::map<std::string, std::string> extraEnvironment;  // added to (or overriding) ours
    // SIGTERM to the child when the test process dies without its destructors (a ctest timeout,
    // SIGKILL): servers then exit and mega-fused unmounts instead of outliving the test.
    bool terminateWithTest = true;
};

class ChildProcess {
public:
    // Exit status as one number: the exit code, or -signal when killed by a signal.
    using Status = int;

    // Spawns the program; throws HarnessError when it cannot be started at all.
    explicit ChildProcess(ChildOptions options);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ChildProcess(ChildProcess&&) = delete;
    ChildProcess& operator=(ChildProcess&&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] const std::filesystem::path& logFile() const { return options_.logFile; }

    // True while the process runs; reaps it (and records its status) once it has exited.
    bool running();
    // The status once exited (running() or waitFor() saw it go).
    [[nodiscard]] std::optional<Status> status() const { return status_; }

    // Waits up to timeout for the process to exit by itself.
    std::optional<Status> waitFor(std::chrono::milliseconds timeout);

    // SIGTERM, up to grace for an orderly exit, then SIGKILL of the whole group. Any leftovers of
    // the group are killed either way. Returns the status of the process itself.
    Status stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

    // Sends a signal to the process only (not its group).
    void signal(int signo) const;
    // SIGKILL to every process of the group (e.g. a watchdog freeing a hung mount).
    void killGroup() const;

private:
    ChildOptions options_;
    pid_t pid_ = -1;
    std::optional<Status> status_;
};

// One line for messages: "exit 2", "killed by signal 9".
std::string describeStatus(ChildProcess::Status status);

}  // namespace megafuse::test
