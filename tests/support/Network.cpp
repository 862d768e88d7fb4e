// Network: plain BSD sockets; every fd in a UniqueFd.
#include "support/Network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/UniqueFd.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {
sockaddr_in loopback(uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

uint16_t freeLoopbackPort() {
    UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        throw HarnessError(std::string("socket: ") + errnoText(errno));
    }
    sockaddr_in address = loopback(0);
    if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        throw HarnessError(std::string("bind 127.0.0.1:0: ") + errnoText(errno));
    }
    socklen_t length = sizeof address;
    if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw HarnessError(std::string("getsockname: ") + errnoText(errno));
    }
    return ntohs(address.sin_port);
}

bool isAccepting(uint16_t port) {
    UniqueFd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        return false;
    }
    sockaddr_in address = loopback(port);
    return ::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

bool waitUntilAccepting(uint16_t port, std::chrono::milliseconds timeout,
                        const std::function<bool()>& stillAlive) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (isAccepting(port)) {
            return true;
        }
        if (!stillAlive()) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

std::unique_ptr<ChildProcess> startLoopbackServer(const ChildOptions& options, uint16_t port,
                                                  const std::string& name,
                                                  const std::vector<std::filesystem::path>& logs) {
    auto process = std::make_unique<ChildProcess>(options);
    ChildProcess& child = *process;
    if (!waitUntilAccepting(port, std::chrono::seconds(15), [&child] { return child.running(); })) {
        process.reset();
        std::string message = name + " did not come up on 127.0.0.1:" + std::to_string(port) +
                              (logs.size() == 1 ? "; its log:\n" : "; its logs:\n");
        for (const auto& log : logs) {
            message += tailOfFile(log.string());
        }
        throw HarnessError(message);
    }
    return process;
}

void stopLoopbackServer(std::unique_ptr<ChildProcess>& process, uint16_t port) {
    if (!process) {
        return;
    }
    process->stop(std::chrono::seconds(5));
    process.reset();
    // The listening socket dies with the process; wait so a test's next step sees the outage.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (isAccepting(port) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

SilentListener::SilentListener(uint16_t port)
    : socket_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!socket_) {
        throw HarnessError(std::string("socket: ") + errnoText(errno));
    }
    int one = 1;
    ::setsockopt(socket_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address = loopback(port);
    if (::bind(socket_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(socket_.get(), 64) != 0) {
        throw HarnessError("silent listener on 127.0.0.1:" + std::to_string(port) + ": " +
                           errnoText(errno));
    }
}

}  // namespace megafuse::test
