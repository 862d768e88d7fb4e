// UnmountWatcher: posix_spawn of the watching shell; see the header for why it exists.
//
// Measured here (libfuse/fusermount3 3.14.0, squashfuse -f -o auto_unmount, then kill -9 of the
// FUSE server, in tests/unprivileged/run-as-user.sh's namespace): as root the mount is gone; as
// an ordinary user it is gone only with allow_other too; without it (the default) it stays,
// statfs failing with ENOTCONN, and fusermount3's watcher is gone. So one mechanism for every
// user: this one. Under systemd the unit's ExecStopPost covers watchers killed with the cgroup.
#include "fs/UnmountWatcher.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace megafuse::fs {
namespace {

// read returns only at end of file: when every writer (this process) is gone. `stat -f`
// (statfs) fails on a stale FUSE mount (ENOTCONN) and succeeds on a healthy one or a plain
// directory. Not `test -e`: stat may be answered from the kernel's attribute cache (attr
// timeouts are long) even after the connection died, and the dead mount would then stay.
constexpr const char* kScript =
    R"(read -r _; stat -f -- "$1" >/dev/null 2>&1 || exec fusermount3 -u -z -- "$1")";

}  // namespace

UnmountWatcher::UnmountWatcher(const std::filesystem::path& mountpoint) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    UniqueFd readEnd(fds[0]);
    pipe_.reset(fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, readEnd.get(), STDIN_FILENO);
    // Not the daemon's stdout/stderr: whoever waits for the end of the daemon's output (a test
    // harness, a pipe) must not wait for the helper too. Its one job has no one left to report to.
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> args{"sh", "-c", kScript, "mega-fused-unmount-watcher",
                                  mountpoint.string()};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, "/bin/sh", &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        pid_ = -1;
        throw std::system_error(rc, std::generic_category(), "spawn the unmount watcher");
    }
}

UnmountWatcher::~UnmountWatcher() {
    pipe_.reset();
    if (pid_ > 0) {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

}  // namespace megafuse::fs
