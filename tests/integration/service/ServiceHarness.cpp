// ServiceHarness: private bus, notify socket, proxies and CLI clients (see the header).
#include "ServiceHarness.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "support/HarnessError.hpp"

namespace megafuse::test {

PrivateBus::PrivateBus(const std::filesystem::path& dir)
    : PrivateBus("unix:path=" + (dir / "bus").string(), "") {}

PrivateBus::PrivateBus(std::string address, const std::filesystem::path& configFile)
    : address_(std::move(address)) {
    const std::string config =
        configFile.empty() ? std::string("--session") : "--config-file=" + configFile.string();
    SubprocessResult result = runSubprocess(
        {"dbus-daemon", config, "--address=" + address_, "--fork", "--print-pid", "--nopidfile"});
    if (!result.ok()) {
        throw HarnessError("dbus-daemon did not start: " + result.describe());
    }
    pid_ = static_cast<pid_t>(std::atoi(result.out.c_str()));
    if (pid_ <= 0) {
        throw HarnessError("dbus-daemon printed no pid: '" + result.out + "'");
    }
}

PrivateBus::~PrivateBus() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        // Not our child (it forked away): wait until the pid is gone, bounded.
        for (int i = 0; i < 500 && ::kill(pid_, 0) == 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (::kill(pid_, 0) == 0) {
            ::kill(pid_, SIGKILL);
        }
    }
}

NotifySocket::NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd_) {
        throw HarnessError(std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string text = path_.string();
    if (text.size() >= sizeof addr.sun_path) {
        throw HarnessError("notify socket path too long: " + text);
    }
    std::memcpy(addr.sun_path, text.c_str(), text.size() + 1);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw HarnessError("bind " + text + ": " + std::strerror(errno));
    }
}

bool NotifySocket::waitFor(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        size_t at = received_.find(text, consumed_);
        if (at != std::string::npos) {
            consumed_ = at + text.size();
            return true;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd pfd{fd_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) > 0) {
            char buffer[4096];
            ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
            if (n > 0) {
                received_.append(buffer, static_cast<size_t>(n));
                received_ += "\n";
            }
        }
    }
}

ManagerClient::ManagerClient(sdbus::IConnection& connection)
    : ProxyInterfaces(connection, "com.gitmega.MegaFuse1", "/com/gitmega/MegaFuse1") {
    registerProxy();
}

ManagerClient::~ManagerClient() {
    unregisterProxy();
}

MountClient::MountClient(sdbus::IConnection& connection, const std::string& objectPath)
    : ProxyInterfaces(connection, "com.gitmega.MegaFuse1", objectPath) {
    registerProxy();
}

MountClient::~MountClient() {
    unregisterProxy();
}

SubprocessResult busctl(const std::string& address, const std::vector<std::string>& args) {
    std::vector<std::string> argv{"busctl", "--address=" + address, "--no-pager"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runSubprocess(argv);
}

SubprocessResult gdbusCall(const std::string& address, const std::string& objectPath,
                           const std::string& method, const std::vector<std::string>& args) {
    std::vector<std::string> argv{
        "gdbus",         "call",     "--address", address, "--dest", "com.gitmega.MegaFuse1",
        "--object-path", objectPath, "--method",  method};
    argv.insert(argv.end(), args.begin(), args.end());
    return runSubprocess(argv);
}

std::string mountPath(const std::string& name) {
    char* raw = nullptr;
    if (sd_bus_path_encode("/com/gitmega/MegaFuse1/mounts", name.c_str(), &raw) < 0) {
        throw HarnessError("sd_bus_path_encode failed for " + name);
    }
    std::string path(raw);
    std::free(raw);
    return path;
}

}  // namespace megafuse::test
