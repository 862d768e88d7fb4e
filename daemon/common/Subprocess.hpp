// Subprocess: runs a helper program (git) with a bounded time, feeding stdin and capturing
// stdout/stderr. The daemon shells out to git only for network work (clone, batched fetch); a
// timeout kills the whole process group so a hung server never hangs a reader.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace megafuse {

struct SubprocessResult {
    int exitCode = -1;      // exit status, or -1 when killed by a signal / timed out
    bool timedOut = false;  // true when the deadline passed and the process group was killed
    std::chrono::milliseconds timeout{0};  // the deadline it ran under (for messages)
    std::string out;  // captured stdout (bounded by SubprocessOptions::maxOutputBytes)
    std::string err;  // captured stderr (same bound)

    [[nodiscard]] bool ok() const { return exitCode == 0 && !timedOut; }
    // One line for logs and error messages: "exit 128: fatal: ..." / "timed out after 5s".
    [[nodiscard]] std::string describe() const;
};

struct SubprocessOptions {
    std::optional<std::string> workingDirectory;
    std::map<std::string, std::string> extraEnvironment;  // added to (or overriding) ours
    std::string stdinData;                                // written, then stdin is closed
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    size_t maxOutputBytes = 16U << 20U;  // per stream; the rest is read and dropped
    // When set, the child writes its stdout straight to this fd (out stays empty): large output
    // such as a blob goes to a file without passing through this process's memory.
    int stdoutFd = -1;
    // When set, called with each chunk of stderr as it arrives (on the calling thread), before
    // it is added to err: git's progress lines ("Receiving objects:  45% (x/y)\r").
    std::function<void(std::string_view chunk)> onStderr;
    // Descriptors the child keeps under the same numbers (their close-on-exec flag is cleared in
    // the child only): a socket fusermount3 sends the /dev/fuse fd back over.
    std::vector<int> inheritedFds;
};

// Our environment with extra added (or overriding): what every spawned program gets.
std::vector<std::string> environmentWith(const std::map<std::string, std::string>& extra);

// A NULL-terminated char* array over strings, for exec/posix_spawn; valid while strings lives.
std::vector<char*> cStringArray(std::vector<std::string>& strings);

// Runs argv[0] (looked up in PATH) to completion or timeout. Throws std::system_error only when
// the process cannot be started at all (fork/pipe failure); a failing program is a result.
SubprocessResult runSubprocess(const std::vector<std::string>& argv,
                               const SubprocessOptions& options = {});

}  // namespace megafuse
