// ChildProcess: posix_spawn into a new process group; waits poll waitpid(WNOHANG) because a
// harness waiting a few milliseconds longer costs nothing and needs no signal plumbing.
#include "support/ChildProcess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "common/Subprocess.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {
namespace {

ChildProcess::Status decodeWaitStatus(int raw) {
    if (WIFEXITED(raw)) {
        return WEXITSTATUS(raw);
    }
    if (WIFSIGNALED(raw)) {
        return -WTERMSIG(raw);
    }
    return -1;
}

}  // namespace

std::string describeStatus(ChildProcess::Status status) {
    if (status >= 0) {
        return "exit " + std::to_string(status);
    }
    return "killed by signal " + std::to_string(-status) + " (SIG" + sigabbrev_np(-status) + ")";
}

ChildProcess::ChildProcess(ChildOptions options) : options_(std::move(options)) {
    if (options_.argv.empty()) {
        throw HarnessError("ChildProcess: empty argv");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options_.logFile.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t allSignals;
    sigfillset(&allSignals);
    sigset_t noSignals;
    sigemptyset(&noSignals);
    posix_spawnattr_setsigmask(&attr, &noSignals);
    posix_spawnattr_setsigdefault(&attr, &allSignals);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> args = options_.argv;
    if (options_.terminateWithTest) {
        // setpriv sets PR_SET_PDEATHSIG and execs: the pid stays the program's own.
        args.insert(args.begin(), {"setpriv", "--pdeathsig", "TERM", "--"});
    }
    std::vector<char*> cargs = cStringArray(args);
    std::vector<std::string> env = environmentWith(options_.extraEnvironment);
    std::vector<char*> cenv = cStringArray(env);
    int rc = ::posix_spawnp(&pid_, cargs[0], &actions, &attr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        pid_ = -1;
        throw HarnessError("cannot start " + options_.argv[0] + ": " + errnoText(rc));
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        stop();
    }
}

bool ChildProcess::running() {
    if (status_ || pid_ <= 0) {
        return false;
    }
    int raw = 0;
    pid_t got = ::waitpid(pid_, &raw, WNOHANG);
    if (got == pid_) {
        status_ = decodeWaitStatus(raw);
        return false;
    }
    return got == 0 || errno == EINTR;
}

std::optional<ChildProcess::Status> ChildProcess::waitFor(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

ChildProcess::Status ChildProcess::stop(std::chrono::milliseconds grace) {
    if (running()) {
        signal(SIGTERM);
        if (!waitFor(grace)) {
            killGroup();
            int raw = 0;
            while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
            }
            status_ = decodeWaitStatus(raw);
        }
    }
    // Whatever the process left behind in its group (a git fetch, a connection handler).
    killGroup();
    return status_.value_or(-1);
}

void ChildProcess::signal(int signo) const {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, signo);
    }
}

void ChildProcess::killGroup() const {
    if (pid_ > 0) {
        ::kill(-pid_, SIGKILL);
    }
}

}  // namespace megafuse::test
