// SignalFd: termination signals as a readable fd, so the main thread waits for them in poll()
// beside other events. libfuse's own handlers serve one session per process; this serves any.
#pragma once

#include <csignal>
#include <initializer_list>
#include <optional>

#include "common/UniqueFd.hpp"

namespace megafuse::core {

// Blocks the given signals in the calling thread and opens a signalfd for them. Construct it in
// main before any other thread starts: threads inherit the mask, so a blocked signal can reach
// the process only through this fd. The signals stay blocked after destruction: a second SIGTERM
// during shutdown must not kill the process halfway through an unmount.
class SignalFd {
public:
    explicit SignalFd(std::initializer_list<int> signals);
    ~SignalFd() = default;
    SignalFd(const SignalFd&) = delete;
    SignalFd& operator=(const SignalFd&) = delete;

    [[nodiscard]] int fd() const { return fd_.get(); }
    // The next pending signal's number, or nullopt when none is pending (never blocks).
    std::optional<int> takePending();

private:
    UniqueFd fd_;
};

}  // namespace megafuse::core
