// SessionBus: --fork makes dbus-daemon a grandchild we cannot waitpid, hence the PID printed on
// stdout and a bounded wait for /proc/<pid> to go (or to turn zombie under a lazy init).
#include "SessionBus.hpp"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/Subprocess.hpp"
#include "support/HarnessError.hpp"

namespace megafuse::test {
namespace {

bool processGone(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!stat || !std::getline(stat, line)) {
        return true;
    }
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool waitGone(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!processGone(pid)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace

SessionBus::SessionBus(const std::filesystem::path& dir)
    : address_("unix:path=" + (dir / "bus").string()) {
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(20);
    // No service directories of this machine: an installed activation file must not start a
    // real mega-fused on the test's bus.
    options.extraEnvironment = {{"XDG_DATA_HOME", (dir / "no-data").string()},
                                {"XDG_DATA_DIRS", (dir / "no-data").string()}};
    const auto result = runSubprocess(
        {"dbus-daemon", "--session", "--address=" + address_, "--fork", "--print-pid"}, options);
    if (!result.ok()) {
        throw HarnessError("dbus-daemon did not start: " + result.describe());
    }
    try {
        pid_ = static_cast<pid_t>(std::stol(result.out));
    } catch (const std::exception&) {
        throw HarnessError("dbus-daemon printed no pid: \"" + printable(result.out) + "\"");
    }
}

SessionBus::~SessionBus() {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGTERM);
    if (!waitGone(pid_, std::chrono::seconds(5))) {
        ::kill(pid_, SIGKILL);
        waitGone(pid_, std::chrono::seconds(5));
    }
}

bool SessionBus::nameHasOwner(const std::string& name) const {
    SubprocessOptions options;
    options.timeout = std::chrono::seconds(10);
    options.extraEnvironment = {{"DBUS_SESSION_BUS_ADDRESS", address_}};
    const auto result = runSubprocess(
        {"dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
         "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:" + name},
        options);
    return result.ok() && result.out.find("boolean true") != std::string::npos;
}

}  // namespace megafuse::test
