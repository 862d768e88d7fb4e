// FsTestSupport: the small fixture the fs tests need — a temp folder, a repository built with the
// git CLI, the mount table, and mega-fused as a child process. Every resource is RAII: a failing
// test still leaves no mount, process or folder behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace megafuse::test {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it — unless something is
// still mounted below it, which is then left alone rather than walked into.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Runs git in dir with a fixed identity and dates; throws std::runtime_error on failure.
std::string git(const std::filesystem::path& dir, const std::vector<std::string>& args);

// The repository every fs test mounts (see makeTestRepo for its files).
struct TestRepo {
    std::filesystem::path dir;
    std::string head;  // commit id
    static constexpr int64_t kCommitTime = 1600000000;
    static constexpr size_t kDataBytes = 3U << 20U;  // src/lib/data.bin
    static constexpr int kManyFiles = 40;            // many/f00 … many/f39
    static std::string dataBytes();                  // content of src/lib/data.bin
};

// README.md, bin/run.sh (executable), src/lib/deep.txt, src/lib/data.bin, link -> README.md,
// dirlink -> src/lib, "name with spaces.txt", vendor/sub (a gitlink), many/f00…f39.
TestRepo makeTestRepo(const std::filesystem::path& dir);

// True when path is exactly the mount point of a FUSE mount (/proc/self/mountinfo).
bool isFuseMounted(const std::filesystem::path& path);

// Polls until isFuseMounted(path) == want or the deadline passes; returns the final state == want.
bool waitMountState(const std::filesystem::path& path, bool want,
                    std::chrono::milliseconds deadline = std::chrono::seconds(30));

// Unmounts whatever FUSE mount is at path when it goes out of scope (fusermount3 -u, then -uz).
class MountCleanup {
public:
    explicit MountCleanup(std::filesystem::path path) : path_(std::move(path)) {}
    ~MountCleanup();
    MountCleanup(const MountCleanup&) = delete;
    MountCleanup& operator=(const MountCleanup&) = delete;

private:
    std::filesystem::path path_;
};

// mega-fused as a child process, stderr and stdout into logFile. The destructor kills (SIGKILL)
// and reaps it if it still runs.
class DaemonProcess {
public:
    DaemonProcess(const std::vector<std::string>& args, std::filesystem::path logFile);
    ~DaemonProcess();
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }  // -1 once reaped
    void signal(int signal) const;
    // The exit status (WEXITSTATUS, or 128 + signal) once it exits within timeout.
    std::optional<int> waitExit(std::chrono::milliseconds timeout);
    [[nodiscard]] std::string log() const;
    // Polls the log until it contains text; false when the deadline passes or the process ends.
    bool waitForLog(const std::string& text,
                    std::chrono::milliseconds deadline = std::chrono::seconds(30));

    static std::filesystem::path binary();

private:
    // Reaps the process if it has exited; true once it has (pid_ is then -1).
    bool reaped();

    pid_t pid_ = -1;
    std::optional<int> exitStatus_;
    std::filesystem::path logFile_;
};

// Pids of processes whose parent is parent and whose command name is name (/proc).
std::vector<pid_t> childrenNamed(pid_t parent, const std::string& name);

}  // namespace megafuse::test
