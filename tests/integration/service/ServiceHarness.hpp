// ServiceHarness: what the service tests need beyond tests/support — a private dbus-daemon per
// test, a NOTIFY_SOCKET that receives the daemon's sd_notify messages, D-Bus proxies of the
// contract, and busctl/gdbus against the private bus (clients we did not write).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "MegaFuse1Proxy.hpp"
#include "common/Subprocess.hpp"
#include "common/UniqueFd.hpp"

namespace megafuse::test {

// `dbus-daemon --session --address=unix:path=<dir>/bus --fork --print-pid`; killed by PID (and
// waited for) in the destructor, whatever the outcome.
class PrivateBus {
public:
    explicit PrivateBus(const std::filesystem::path& dir);
    // The same with a bus configuration of the test's own (its policy, its auth mechanisms)
    // listening on address: `dbus-daemon --config-file=configFile --address=address`.
    PrivateBus(std::string address, const std::filesystem::path& configFile);
    ~PrivateBus();
    PrivateBus(const PrivateBus&) = delete;
    PrivateBus& operator=(const PrivateBus&) = delete;

    [[nodiscard]] const std::string& address() const { return address_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    std::string address_;
    pid_t pid_ = -1;
};

// A datagram socket at path, given to the daemon as NOTIFY_SOCKET.
class NotifySocket {
public:
    explicit NotifySocket(std::filesystem::path path);
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    // Reads messages until one contains text (true) or timeout passes (false).
    bool waitFor(const std::string& text, std::chrono::milliseconds timeout);
    // Everything received so far, one message per line.
    [[nodiscard]] const std::string& received() const { return received_; }

private:
    std::filesystem::path path_;
    UniqueFd fd_;
    std::string received_;
    size_t consumed_ = 0;  // waitFor matches only after what earlier calls matched
};

using ManagedObjects =
    std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>>;
using Options = std::map<std::string, sdbus::Variant>;

class ManagerClient final
    : public sdbus::ProxyInterfaces<com::gitmega::MegaFuse1::Manager_proxy,
                                    sdbus::ObjectManager_proxy, sdbus::Properties_proxy> {
public:
    explicit ManagerClient(sdbus::IConnection& connection);
    ~ManagerClient();

private:
    void onInterfacesAdded(
        const sdbus::ObjectPath&,
        const std::map<std::string, std::map<std::string, sdbus::Variant>>&) override {}
    void onInterfacesRemoved(const sdbus::ObjectPath&, const std::vector<std::string>&) override {}
    void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                             const std::vector<std::string>&) override {}
};

class MountClient final
    : public sdbus::ProxyInterfaces<com::gitmega::MegaFuse1::Mount_proxy, sdbus::Properties_proxy> {
public:
    MountClient(sdbus::IConnection& connection, const std::string& objectPath);
    ~MountClient();

private:
    void onProgress(const std::string&, const uint64_t&, const uint64_t&) override {}
    void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                             const std::vector<std::string>&) override {}
};

// The D-Bus error of a call: name and message; name "" when the call succeeded.
struct CallError {
    std::string name;
    std::string message;
};

template <typename Fn>
CallError callError(Fn&& call) {
    try {
        call();
    } catch (const sdbus::Error& e) {
        return CallError{e.getName(), e.getMessage()};
    }
    return CallError{};
}

// `busctl --address=<bus> args...` / `gdbus call --address <bus> ...` results.
SubprocessResult busctl(const std::string& address, const std::vector<std::string>& args);
SubprocessResult gdbusCall(const std::string& address, const std::string& objectPath,
                           const std::string& method, const std::vector<std::string>& args);

// sd_bus_path_encode as the daemon does it.
std::string mountPath(const std::string& name);

}  // namespace megafuse::test
