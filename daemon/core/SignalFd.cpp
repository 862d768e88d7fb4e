// SignalFd: block the signals, then read them from a signalfd.
#include "core/SignalFd.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace megafuse::core {

SignalFd::SignalFd(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int signal : signals) {
        sigaddset(&set, signal);
    }
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
        throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
    }
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) {
        throw std::system_error(errno, std::generic_category(), "signalfd");
    }
}

std::optional<int> SignalFd::takePending() {
    signalfd_siginfo info{};
    for (;;) {
        const ssize_t got = ::read(fd_.get(), &info, sizeof info);
        if (got == static_cast<ssize_t>(sizeof info)) {
            return static_cast<int>(info.ssi_signo);
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        return std::nullopt;  // EAGAIN: nothing pending
    }
}

}  // namespace megafuse::core
