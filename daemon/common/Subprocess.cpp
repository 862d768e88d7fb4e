// Subprocess: posix_spawn + poll loop. The child leads its own process group so a timeout can
// kill git and everything it started (remote helpers, index-pack) in one signal.
#include "common/Subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/UniqueFd.hpp"

extern char** environ;

namespace megafuse {
namespace {

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

Pipe makePipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

std::vector<std::string> environmentWith(const std::map<std::string, std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry(*e);
        auto eq = entry.find('=');
        if (eq != std::string::npos && extra.count(entry.substr(0, eq)) != 0) {
            continue;
        }
        env.push_back(std::move(entry));
    }
    for (const auto& [key, value] : extra) {
        env.push_back(std::string(key).append("=").append(value));
    }
    return env;
}

std::vector<char*> cStringArray(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

std::string SubprocessResult::describe() const {
    std::string text = timedOut ? "timed out after " + std::to_string(timeout.count()) + " ms"
                                : "exit " + std::to_string(exitCode);
    std::string detail = err.empty() ? out : err;
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) {
        detail.pop_back();
    }
    if (!detail.empty()) {
        text += ": " + detail;
    }
    return text;
}

SubprocessResult runSubprocess(const std::vector<std::string>& argv,
                               const SubprocessOptions& options) {
    // A child that exits before reading all of stdin must give EPIPE, not kill us with SIGPIPE.
    static const bool sigpipeIgnored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)sigpipeIgnored;
    Pipe in = makePipe();
    Pipe out = makePipe();
    Pipe err = makePipe();

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.read.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(
        &actions, options.stdoutFd >= 0 ? options.stdoutFd : out.write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write.get(), STDERR_FILENO);
    for (int fd : options.inheritedFds) {
        // dup2 onto itself: POSIX has posix_spawn clear FD_CLOEXEC then (glibc ≥ 2.29 does).
        posix_spawn_file_actions_adddup2(&actions, fd, fd);
    }
    if (options.workingDirectory) {
        posix_spawn_file_actions_addchdir_np(&actions, options.workingDirectory->c_str());
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaultSignals;
    sigfillset(&defaultSignals);
    sigset_t noSignals;
    sigemptyset(&noSignals);
    // The daemon blocks signals for its signalfd; the child must start with none blocked.
    posix_spawnattr_setsigmask(&attr, &noSignals);
    posix_spawnattr_setsigdefault(&attr, &defaultSignals);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> args = argv;
    std::vector<char*> cargs = cStringArray(args);
    std::vector<std::string> env = environmentWith(options.extraEnvironment);
    std::vector<char*> cenv = cStringArray(env);

    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, cargs[0], &actions, &attr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        throw std::system_error(rc, std::generic_category(), "spawn " + argv.at(0));
    }
    in.read.reset();
    out.write.reset();
    err.write.reset();
    if (options.stdoutFd >= 0) {
        out.read.reset();  // nothing will ever arrive: the child's stdout is the caller's fd
    }

    SubprocessResult result;
    result.timeout = options.timeout;
    size_t written = 0;
    if (options.stdinData.empty()) {
        in.write.reset();
    } else {
        ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
    }
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    char buffer[65536];
    while (out.read || err.read || in.write) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timedOut = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        pollfd fds[3] = {
            {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}, {in.write.get(), POLLOUT, 0}};
        int n = ::poll(fds, 3, static_cast<int>(left.count()));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ::kill(-pid, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            UniqueFd& fd = i == 0 ? out.read : err.read;
            std::string& sink = i == 0 ? result.out : result.err;
            ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
            if (got > 0) {
                if (i == 1 && options.onStderr) {
                    options.onStderr(std::string_view(buffer, static_cast<size_t>(got)));
                }
                size_t room =
                    options.maxOutputBytes - std::min(options.maxOutputBytes, sink.size());
                sink.append(buffer, std::min(room, static_cast<size_t>(got)));
            } else if (got == 0 || errno != EINTR) {
                fd.reset();
            }
        }
        if ((fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
            ssize_t put = ::write(in.write.get(), options.stdinData.data() + written,
                                  options.stdinData.size() - written);
            if (put > 0) {
                written += static_cast<size_t>(put);
            }
            if (put < 0 && errno != EAGAIN && errno != EINTR) {
                in.write.reset();  // the child stopped reading (EPIPE): its exit code tells why
            }
            if (written == options.stdinData.size()) {
                in.write.reset();
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!result.timedOut && WIFEXITED(status)) {
        result.exitCode = WEXITSTATUS(status);
    }
    return result;
}

}  // namespace megafuse
